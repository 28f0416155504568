"""The per-tenant keys, unwrapped once per process and cached, and the sealer over them.

A tenant's keys are made on first use, in the transaction that first seals a value for it (so a rolled-back
first write leaves no key behind): they are read and written on that transaction's own connection and become
visible to the rest of the process only once it commits (``after_commit``). Everything else reads committed
key rows, on the writing session's connection when there is one or else on a short connection of its own.
Cached keys are re-read after ``TSUNAGU_KEY_CACHE_SECONDS`` (default 60), which is how a rotation made by
another process (a new current version) or a crypto-shredding (keys gone) reaches this one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Table, event, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ..core import sealed
from ..core.db import utcnow
from ..core.session import TenantSession
from .kms import Kms
from .models import TenantKey

_PENDING = "keys_pending"


class KeyDestroyed(RuntimeError):
    """The tenant's keys were destroyed (offboarding): its sealed data can no longer be read or written."""


class KeyMissing(RuntimeError):
    """A value names a key version that does not exist (a foreign or corrupted value)."""


class OpenFailed(RuntimeError):
    """A sealed value does not open with its key (tampered, or moved to another column or tenant)."""


def wrap_aad(tenant_id: uuid.UUID, purpose: str, version: int) -> bytes:
    return f"tsunagu-key:{tenant_id}:{purpose}:{version}".encode()


def _value_aad(tenant_id: uuid.UUID, version: int, label: str) -> bytes:
    return f"tsunagu:{tenant_id}:{version}:{label}".encode()


@dataclass
class TenantKeys:
    tenant_id: uuid.UUID
    data: dict[int, AESGCM] = field(default_factory=dict)
    current: int = 0
    index_key: bytes = b""
    destroyed: bool = False
    loaded_at: float = field(default_factory=time.monotonic)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class Keyring:
    """The :class:`~tsunagu.core.sealed.Sealer` of a process: seals with the current data key version."""

    def __init__(self, kms: Kms, engine: Engine | None, cache_seconds: float = 60.0) -> None:
        self.kms = kms
        self.engine = engine
        self.cache_seconds = cache_seconds
        self._cache: dict[uuid.UUID, TenantKeys] = {}
        self._lock = threading.Lock()

    # -- the sealer ---------------------------------------------------------------------------------------------

    def seal(self, tenant_id: uuid.UUID, label: str, plaintext: bytes) -> str:
        keys = self.keys_for(tenant_id, create=True)
        if keys.destroyed:
            raise KeyDestroyed(f"tenant {tenant_id}: keys destroyed (offboarded); nothing more is stored")
        nonce = os.urandom(12)
        body = keys.data[keys.current].encrypt(nonce, plaintext, _value_aad(tenant_id, keys.current, label))
        return f"{sealed.SEALED_PREFIX}{tenant_id.hex}.{keys.current}.{_b64(nonce + body)}"

    def open(self, token: str, label: str) -> bytes:
        parsed = sealed.token_version(token)
        if parsed is None:
            raise ValueError("not a sealed value")
        tenant_id, version = parsed
        keys = self.keys_for(tenant_id, create=False)
        if version not in keys.data and not keys.destroyed:
            keys = self.keys_for(tenant_id, create=False, fresh=True)  # rotated in another process just now
        if keys.destroyed:
            raise KeyDestroyed(f"tenant {tenant_id}: keys destroyed (offboarded); this value cannot be read")
        aead = keys.data.get(version)
        if aead is None:
            raise KeyMissing(f"tenant {tenant_id} has no data key version {version}")
        raw = _unb64(token.split(".", 3)[3])
        try:
            return aead.decrypt(raw[:12], raw[12:], _value_aad(tenant_id, version, label))
        except Exception as exc:
            raise OpenFailed(f"{label}: a sealed value does not open (tampered or moved)") from exc

    def blind_digest(self, tenant_id: uuid.UUID, kind: str, value: str) -> str:
        """The keyed blind-index digest of ``value`` (already normalised): 128 bits, hex."""
        keys = self.keys_for(tenant_id, create=True)
        if keys.destroyed:
            raise KeyDestroyed(f"tenant {tenant_id}: keys destroyed (offboarded)")
        mac = hmac.new(keys.index_key, f"{kind}\x00{value}".encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    # -- loading ------------------------------------------------------------------------------------------------

    def keys_for(self, tenant_id: uuid.UUID, *, create: bool, fresh: bool = False) -> TenantKeys:
        ctx = sealed.current_context()
        session = ctx.session if ctx is not None else None
        if session is not None:
            pending = session.info.get(_PENDING, {}).get(tenant_id)
            if pending is not None:
                return pending
        cached = self._cache.get(tenant_id)
        if cached is not None and not fresh and time.monotonic() - cached.loaded_at < self.cache_seconds:
            return cached
        if session is not None and session.info.get("tenant_id") == tenant_id:
            conn = session.connection()
            keys, created = self._load(conn, tenant_id, create=create)
            if created:
                session.info.setdefault(_PENDING, {})[tenant_id] = keys
                return keys
        else:
            if self.engine is None:
                raise KeyMissing(f"tenant {tenant_id}: no key is cached and no database to read it from")
            with self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id)})
                keys, _created = self._load(conn, tenant_id, create=create)
        with self._lock:
            self._cache[tenant_id] = keys
        return keys

    def _rows(self, conn: Connection, tenant_id: uuid.UUID) -> list[Any]:
        table = cast(Table, TenantKey.__table__)
        return list(conn.execute(select(table).where(table.c.tenant_id == tenant_id)).mappings())

    def _load(self, conn: Connection, tenant_id: uuid.UUID, *, create: bool) -> tuple[TenantKeys, bool]:
        rows = self._rows(conn, tenant_id)
        created = False
        if not rows and create:
            self._insert(conn, tenant_id, "data", 1)
            self._insert(conn, tenant_id, "index", 1)
            rows = self._rows(conn, tenant_id)
            created = True
        keys = TenantKeys(tenant_id)
        if rows and all(r["state"] == "destroyed" for r in rows):
            keys.destroyed = True
            return keys, created
        for r in rows:
            if r["state"] != "active" or r["wrapped"] is None:
                continue
            raw = self.kms.unwrap(
                r["kek_id"], bytes(r["wrapped"]), wrap_aad(tenant_id, r["purpose"], r["version"])
            )
            if r["purpose"] == "data":
                keys.data[r["version"]] = AESGCM(raw)
                keys.current = max(keys.current, r["version"])
            elif r["purpose"] == "index":
                keys.index_key = raw
        if not keys.data and not create:
            raise KeyMissing(f"tenant {tenant_id} has no data key yet")
        return keys, created

    def _insert(self, conn: Connection, tenant_id: uuid.UUID, purpose: str, version: int) -> None:
        kek_id, wrapped = self.kms.wrap(os.urandom(32), wrap_aad(tenant_id, purpose, version))
        dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        conn.execute(
            dialect_insert(cast(Table, TenantKey.__table__))
            .values(
                tenant_id=tenant_id,
                purpose=purpose,
                version=version,
                state="active",
                kek_id=kek_id,
                wrapped=wrapped,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing()
        )

    # -- changes made in a session (rotation, destruction): visible to the process after commit ------------------

    def stage(self, session: Session, keys: TenantKeys) -> None:
        session.info.setdefault(_PENDING, {})[keys.tenant_id] = keys

    def reload_in(self, session: Session, tenant_id: uuid.UUID) -> TenantKeys:
        keys, _created = self._load(session.connection(), tenant_id, create=False)
        self.stage(session, keys)
        return keys

    def promote(self, session: Session) -> None:
        pending = session.info.pop(_PENDING, None)
        if pending:
            with self._lock:
                self._cache.update(pending)

    def discard(self, session: Session) -> None:
        session.info.pop(_PENDING, None)

    def forget(self, tenant_id: uuid.UUID | None = None) -> None:
        with self._lock:
            if tenant_id is None:
                self._cache.clear()
            else:
                self._cache.pop(tenant_id, None)


def current_keyring() -> Keyring:
    sealer = sealed.current_sealer()
    if not isinstance(sealer, Keyring):
        raise RuntimeError("no keyring installed: build the runtime (Runtime.from_settings) first")
    return sealer


def _promote(session: Session) -> None:
    sealer = sealed.current_sealer()
    if isinstance(sealer, Keyring):
        sealer.promote(session)
    else:
        session.info.pop(_PENDING, None)


def _discard(session: Session, *_args: Any) -> None:
    session.info.pop(_PENDING, None)


event.listen(TenantSession, "after_commit", _promote)
event.listen(TenantSession, "after_rollback", _discard)
