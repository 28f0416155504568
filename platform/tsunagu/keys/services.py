"""What other modules call: the sealer factory for the runtime, blind-index digests, and the rotation verbs."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.engine import Engine

from ..core import sealed
from .keyring import KeyDestroyed, KeyMissing, Keyring, OpenFailed, current_keyring
from .kms import kms_from_env
from .rotation import ReencryptResult, destroy, reencrypt_batch, rewrap, rotate, sealed_columns

__all__ = [
    "KeyDestroyed",
    "KeyMissing",
    "Keyring",
    "OpenFailed",
    "ReencryptResult",
    "blind_digest",
    "build_keyring",
    "current_keyring",
    "destroy",
    "install",
    "reencrypt_batch",
    "rewrap",
    "rotate",
    "sealed_columns",
]


def build_keyring(settings: Any, engine: Engine | None) -> Keyring:
    """The keyring for ``settings``: its KMS backend from ``TSUNAGU_KMS`` and friends (``settings.extra``)."""
    env = dict(getattr(settings, "extra", {}) or {})
    production = getattr(settings, "env", "") == "production"
    raw_ttl = env.get("TSUNAGU_KEY_CACHE_SECONDS") or "60"
    try:
        ttl = float(raw_ttl)
    except ValueError as exc:
        from ..config import ConfigError

        raise ConfigError("TSUNAGU_KEY_CACHE_SECONDS must be a number of seconds") from exc
    return Keyring(kms_from_env(env, production=production), engine, cache_seconds=max(ttl, 0.0))


def install() -> None:
    """Register the keyring as the runtime's sealer (called by the model registry, ``tsunagu.models``)."""
    sealed.set_sealer_factory(build_keyring)


def blind_digest(tenant_id: uuid.UUID, kind: str, value: str) -> str:
    """HMAC of an already-normalised ``value`` with the tenant's blind-index key (see ``cases.people``)."""
    return current_keyring().blind_digest(tenant_id, kind, value)
