"""Master-key backends: wrap and unwrap the tenants' keys. The master key itself never reaches the database.

* :class:`EnvKms` — ``TSUNAGU_MASTER_KEY`` (base64 of 32 random bytes), AES-256-GCM. Earlier master keys stay
  readable from ``TSUNAGU_MASTER_KEY_PREVIOUS`` (comma-separated) until ``tsunagu keys rewrap`` has re-wrapped
  every tenant key with the current one.
* :class:`Pkcs11Kms` — an AES key inside a PKCS#11 token (an HSM; SoftHSM2 in tests), through ``python-pkcs11``;
  the key never leaves the token: wrapping is the token's own AES-GCM (``CKM_AES_GCM``). Earlier key labels from
  ``TSUNAGU_PKCS11_PREVIOUS_KEY_LABELS``.

Every wrapped key is bound (GCM additional data) to its tenant, purpose and version, so a wrapped key copied to
another row or tenant does not unwrap.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..config import ConfigError

#: The master key used outside production when ``TSUNAGU_MASTER_KEY`` is unset: public, so data sealed with it
#: is protected from nothing; production refuses to start without a real key.
DEV_MASTER_KEY = base64.b64encode(
    hashlib.sha256(b"tsunagu-master-key-development-NOT-FOR-PRODUCTION").digest()
)


class KmsError(RuntimeError):
    """A key could not be wrapped or unwrapped (unknown master key, wrong token PIN, tampered wrapped key)."""


class Kms(Protocol):
    @property
    def current_kek_id(self) -> str: ...

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        """(kek id, wrapped) with the current master key."""
        ...

    def unwrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> bytes: ...


def _fingerprint(key: bytes) -> str:
    return "env:" + hashlib.sha256(b"tsunagu-kek-id" + key).hexdigest()[:16]


def _decode_key(name: str, value: str) -> bytes:
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except ValueError as exc:
        raise ConfigError(f"{name} must be base64 of 32 random bytes") from exc
    if len(key) != 32:
        raise ConfigError(f"{name} must be base64 of 32 random bytes (it decodes to {len(key)})")
    return key


class EnvKms:
    def __init__(self, current: bytes, previous: tuple[bytes, ...] = ()) -> None:
        self._current_id = _fingerprint(current)
        self._keys = {_fingerprint(k): AESGCM(k) for k in (current, *previous)}

    @property
    def current_kek_id(self) -> str:
        return self._current_id

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(12)
        return self._current_id, nonce + self._keys[self._current_id].encrypt(nonce, plaintext, aad)

    def unwrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> bytes:
        key = self._keys.get(kek_id)
        if key is None:
            raise KmsError(f"master key {kek_id} is not configured (TSUNAGU_MASTER_KEY / _PREVIOUS)")
        try:
            return key.decrypt(wrapped[:12], wrapped[12:], aad)
        except Exception as exc:
            raise KmsError(f"a key wrapped by {kek_id} does not unwrap (tampered or misplaced)") from exc


@dataclass(frozen=True)
class Pkcs11Config:
    module: str
    token_label: str
    pin: str
    key_label: str
    previous_labels: tuple[str, ...] = ()


#: loaded PKCS#11 modules: a module is initialised once per process (C_Initialize)
_LIBS: dict[str, Any] = {}


class Pkcs11Kms:
    """The master key is an AES key object in a PKCS#11 token, found by its label."""

    _lock = threading.Lock()

    def __init__(self, config: Pkcs11Config) -> None:
        import pkcs11  # the HSM backend's library, loaded only when configured

        self._pkcs11 = pkcs11
        self._config = config
        try:
            self._lib = _LIBS.get(config.module) or _LIBS.setdefault(config.module, pkcs11.lib(config.module))
        except Exception as exc:
            raise ConfigError(f"TSUNAGU_PKCS11_MODULE {config.module!r} does not load: {exc}") from exc

    @property
    def current_kek_id(self) -> str:
        return "pkcs11:" + self._config.key_label

    def _run(self, label: str, fn: Any) -> Any:
        pkcs11 = self._pkcs11
        with self._lock:
            try:
                token = self._lib.get_token(token_label=self._config.token_label)
                with token.open(user_pin=self._config.pin) as session:
                    key = session.get_key(label=label, key_type=pkcs11.KeyType.AES)
                    return fn(key)
            except pkcs11.exceptions.PKCS11Error as exc:
                raise KmsError(f"PKCS#11 token {self._config.token_label!r}, key {label!r}: {exc!r}") from exc

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        from pkcs11.mechanisms import GCMParams

        nonce = os.urandom(12)
        mech = self._pkcs11.Mechanism.AES_GCM
        ct = self._run(
            self._config.key_label,
            lambda key: key.encrypt(plaintext, mechanism=mech, mechanism_param=GCMParams(nonce, aad, 128)),
        )
        return self.current_kek_id, nonce + bytes(ct)

    def unwrap(self, kek_id: str, wrapped: bytes, aad: bytes) -> bytes:
        from pkcs11.mechanisms import GCMParams

        label = kek_id.removeprefix("pkcs11:")
        if not kek_id.startswith("pkcs11:") or label not in (
            self._config.key_label,
            *self._config.previous_labels,
        ):
            raise KmsError(
                f"master key {kek_id} is not configured (TSUNAGU_PKCS11_KEY_LABEL / _PREVIOUS_KEY_LABELS)"
            )
        mech = self._pkcs11.Mechanism.AES_GCM
        nonce, body = wrapped[:12], wrapped[12:]
        return bytes(
            self._run(
                label,
                lambda key: key.decrypt(body, mechanism=mech, mechanism_param=GCMParams(nonce, aad, 128)),
            )
        )


def kms_from_env(env: Mapping[str, str], *, production: bool) -> Kms:
    """The backend named by ``TSUNAGU_KMS`` (``env``, the default, or ``pkcs11``), validated with clear messages."""
    backend = (env.get("TSUNAGU_KMS") or "env").strip().lower()
    if backend == "pkcs11":
        missing = [
            name
            for name in ("TSUNAGU_PKCS11_MODULE", "TSUNAGU_PKCS11_TOKEN_LABEL", "TSUNAGU_PKCS11_PIN")
            if not (env.get(name) or "").strip()
        ]
        if missing:
            raise ConfigError("TSUNAGU_KMS=pkcs11 needs " + ", ".join(missing))
        previous = tuple(
            x.strip() for x in (env.get("TSUNAGU_PKCS11_PREVIOUS_KEY_LABELS") or "").split(",") if x.strip()
        )
        return Pkcs11Kms(
            Pkcs11Config(
                module=env["TSUNAGU_PKCS11_MODULE"].strip(),
                token_label=env["TSUNAGU_PKCS11_TOKEN_LABEL"].strip(),
                pin=env["TSUNAGU_PKCS11_PIN"],
                key_label=(env.get("TSUNAGU_PKCS11_KEY_LABEL") or "tsunagu-master").strip(),
                previous_labels=previous,
            )
        )
    if backend != "env":
        raise ConfigError(f"TSUNAGU_KMS must be 'env' or 'pkcs11', not {backend!r}")
    raw = env.get("TSUNAGU_MASTER_KEY")
    ref = (env.get("TSUNAGU_MASTER_KEY_REF") or "").strip()
    if not raw and ref:
        # the Helm chart mounts the master key's Secret as a file and names it here (``masterKey``)
        if not ref.startswith("/"):
            raise ConfigError(
                f"TSUNAGU_MASTER_KEY_REF {ref!r}: only a file path is supported (or TSUNAGU_MASTER_KEY, "
                "or TSUNAGU_KMS=pkcs11 for an HSM)"
            )
        try:
            raw = open(ref, encoding="ascii").read().strip()
        except OSError as exc:
            raise ConfigError(f"TSUNAGU_MASTER_KEY_REF {ref!r} cannot be read: {exc.strerror}") from exc
    if not raw:
        if production:
            raise ConfigError(
                "TSUNAGU_MASTER_KEY is missing: base64 of 32 random bytes (or TSUNAGU_KMS=pkcs11)"
            )
        raw = DEV_MASTER_KEY.decode("ascii")
    current: bytes = _decode_key("TSUNAGU_MASTER_KEY", raw)
    if production and raw.encode("ascii") == DEV_MASTER_KEY:
        raise ConfigError("TSUNAGU_MASTER_KEY must not be the development key in production")
    previous_keys: tuple[bytes, ...] = tuple(
        _decode_key("TSUNAGU_MASTER_KEY_PREVIOUS", x)
        for x in (env.get("TSUNAGU_MASTER_KEY_PREVIOUS") or "").split(",")
        if x.strip()
    )
    return EnvKms(current, previous_keys)
