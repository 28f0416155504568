"""Sealed columns: values encrypted at rest with their tenant's data key (issue #16).

Core knows no key handling: it defines the column types (:class:`SealedText`, :class:`SealedJSON`,
:class:`SealedDate`) and the :class:`Sealer` interface, and the entry points install the real sealer
(``tsunagu.keys``) through :func:`set_sealer_factory`, which :class:`~.runtime.Runtime` calls with its settings
and engine. A model (or the engine's instance row) only declares a column sealed; it never sees a key.

A stored value is a token ``tsg1.<tenant hex>.<key version>.<base64url(nonce + ciphertext)>``. Which tenant's key
seals a value comes from the row being flushed (a mapper hook on every :class:`~.db.TenantScoped` model) or else
from the session's bound tenant; reading needs no context: the token names its tenant and key version, so rows
sealed under an older key version stay readable while the background re-encryption runs. A value that is not a
token is a row written before encryption (or before the migration): it is read as it is, and re-encrypted by
``tsunagu keys reencrypt``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from sqlalchemy import Text, event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from .db import TenantScoped
from .session import TenantSession

SEALED_PREFIX = "tsg1."


class Sealer(Protocol):
    """Seals and opens values with a tenant's data key. ``label`` names the column (bound into the AAD)."""

    def seal(self, tenant_id: uuid.UUID, label: str, plaintext: bytes) -> str: ...

    def open(self, token: str, label: str) -> bytes: ...


class SealingUnavailable(RuntimeError):
    """A sealed column was written with no sealer installed or no tenant to seal for: never stored in clear."""


@dataclass(frozen=True)
class SealContext:
    """Who is writing: the tenant whose key seals, and the session whose connection may load that key."""

    tenant_id: uuid.UUID | None
    session: Session | None


_context: ContextVar[SealContext | None] = ContextVar("tsunagu_seal_context", default=None)
_sealer: Sealer | None = None
_factory: Callable[[Any, Engine], Sealer] | None = None


def set_sealer_factory(factory: Callable[[Any, Engine], Sealer]) -> None:
    """Called once by the model registry (``tsunagu.models``): how a runtime builds its sealer."""
    global _factory
    _factory = factory


def configure(settings: Any, engine: Engine) -> Sealer | None:
    """Build and install the sealer for a runtime (``Runtime.from_settings``); None if none is registered."""
    global _sealer
    if _factory is not None:
        _sealer = _factory(settings, engine)
    return _sealer


def install(sealer: Sealer | None) -> None:
    global _sealer
    _sealer = sealer


def current_sealer() -> Sealer | None:
    return _sealer


def current_context() -> SealContext | None:
    return _context.get()


@contextmanager
def sealing_for(tenant_id: uuid.UUID, session: Session | None = None) -> Iterator[None]:
    """Seal for ``tenant_id`` inside the block (Core statements that bypass the ORM's flush)."""
    token = _context.set(SealContext(tenant_id, session))
    try:
        yield
    finally:
        _context.reset(token)


def is_token(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def token_version(value: str) -> tuple[uuid.UUID, int] | None:
    """The tenant and key version a token was sealed with, or None for a value stored in clear."""
    if not is_token(value):
        return None
    parts = value.split(".", 3)
    return uuid.UUID(hex=parts[1]), int(parts[2])


class _Sealed(TypeDecorator[Any]):
    """Stored as text: a token. Subclasses say how the Python value becomes bytes and back.

    A sealed column cannot be compared in SQL (every sealing draws a fresh nonce): search goes through a blind
    index (``cases.people``), never ``WHERE column = value``.
    """

    impl = Text
    cache_ok = True

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError

    def decode(self, raw: bytes) -> Any:
        raise NotImplementedError

    def decode_clear(self, stored: str) -> Any:
        """A value stored before encryption (read as it is)."""
        return self.decode(stored.encode("utf-8"))

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        sealer = _sealer
        ctx = _context.get()
        if sealer is None or ctx is None or ctx.tenant_id is None:
            raise SealingUnavailable(
                f"{self.label}: no sealer installed or no tenant bound; a sealed value is never stored in clear"
            )
        return sealer.seal(ctx.tenant_id, self.label, self.encode(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not is_token(value):
            return self.decode_clear(value)
        sealer = _sealer
        if sealer is None:
            raise SealingUnavailable(f"{self.label}: a sealed value was read with no sealer installed")
        return self.decode(sealer.open(value, self.label))


class SealedText(_Sealed):
    cache_ok = True

    def encode(self, value: Any) -> bytes:
        return str(value).encode("utf-8")

    def decode(self, raw: bytes) -> Any:
        return raw.decode("utf-8")


class SealedJSON(_Sealed):
    cache_ok = True

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def decode(self, raw: bytes) -> Any:
        return json.loads(raw)


class SealedDate(_Sealed):
    cache_ok = True

    def encode(self, value: Any) -> bytes:
        return value.isoformat().encode("ascii")

    def decode(self, raw: bytes) -> Any:
        return date.fromisoformat(raw.decode("ascii")[:10])


# -- which tenant seals: the flushed row's, else the session's --------------------------------------------------


def _enter_session(session: Session) -> None:
    _context.set(SealContext(session.info.get("tenant_id"), session))


@event.listens_for(TenantSession, "before_flush")
def _before_flush(session: Session, _flush_context: Any, _instances: Any) -> None:
    _enter_session(session)


@event.listens_for(TenantSession, "do_orm_execute")
def _on_execute(state: Any) -> None:
    _enter_session(state.session)


@event.listens_for(TenantSession, "after_commit")
@event.listens_for(TenantSession, "after_soft_rollback")
def _leave_session(session: Session, *_args: Any) -> None:
    ctx = _context.get()
    if ctx is not None and ctx.session is session:
        _context.set(None)


def _row_tenant(_mapper: Any, _connection: Any, target: Any) -> None:
    tid = getattr(target, "tenant_id", None)
    ctx = _context.get()
    if tid is not None and (ctx is None or ctx.tenant_id != tid):
        _context.set(SealContext(tid, ctx.session if ctx else None))


event.listen(TenantScoped, "before_insert", _row_tenant, propagate=True)
event.listen(TenantScoped, "before_update", _row_tenant, propagate=True)
