"""The tenant bound to the current request or background job."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class TenantRef:
    """What the rest of the code needs to know about the bound tenant, without touching the database."""

    id: uuid.UUID
    slug: str


_current: ContextVar[TenantRef | None] = ContextVar("tsunagu_tenant", default=None)


def current_tenant() -> TenantRef | None:
    return _current.get()


def require_tenant() -> TenantRef:
    ref = _current.get()
    if ref is None:
        raise NoTenantBound("no tenant is bound to this request or job")
    return ref


@contextmanager
def bind_tenant(ref: TenantRef) -> Iterator[TenantRef]:
    token = _current.set(ref)
    try:
        yield ref
    finally:
        _current.reset(token)


class NoTenantBound(RuntimeError):
    """Tenant-scoped data was touched with no tenant bound: a programming error, never 'all rows'."""
