"""Sessions and transactions, with the tenant bound to each.

A session carries its tenant in ``session.info["tenant_id"]``. Two hooks enforce it:

* ``after_begin`` runs ``set_config('app.tenant_id', :t, true)`` on PostgreSQL at the start of every
  transaction, so row-level security sees the tenant (transaction-local: a pooled connection forgets it at
  commit or rollback) — except while ``info["bind_pending"]``: a web request resolves its tenant and binds it
  in one statement (``tenancy.services.resolve_and_bind``), and until then no tenant is bound at all;
* ``do_orm_execute`` adds ``tenant_id = :t`` to every ORM query of a :class:`TenantScoped` model, and refuses
  such a query outright when no tenant is bound.

Cross-tenant work (timer polling, outbox relay, tenant sync) opens a *system* session
(``info["system"] = True``): no ORM criteria are added and, on PostgreSQL, it may switch the bound tenant
inside the transaction with :func:`set_transaction_tenant`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria

from .context import NoTenantBound
from .db import TenantScoped


class TenantSession(Session):
    """A session bound to at most one tenant for its whole life."""

    @property
    def tenant_id(self) -> uuid.UUID | None:
        return self.info.get("tenant_id")

    def require_tenant_id(self) -> uuid.UUID:
        tid = self.info.get("tenant_id")
        if tid is None:
            raise NoTenantBound("this session has no tenant bound")
        return tid


def _is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


@event.listens_for(TenantSession, "after_begin")
def _set_rls_tenant(session: Session, _transaction: Any, connection: Connection) -> None:
    if not _is_postgres(connection) or session.info.get("bind_pending"):
        return  # bind_pending: the transaction's first statement binds the tenant itself (tenant resolution)
    tid = session.info.get("tenant_id")
    connection.execute(text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tid) if tid else ""})


@event.listens_for(TenantSession, "do_orm_execute")
def _add_tenant_criteria(state: ORMExecuteState) -> None:
    session = state.session
    if session.info.get("system"):
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.execution_options.get("skip_tenant_filter"):
        return
    tid = session.info.get("tenant_id")
    mappers = [m for m in state.all_mappers if issubclass(m.class_, TenantScoped)]
    if not mappers and not (state.is_select and _touches_tenant_scoped(state)):
        return
    if tid is None:
        raise NoTenantBound("a query on tenant data ran with no tenant bound")
    state.statement = state.statement.options(
        with_loader_criteria(TenantScoped, lambda cls: cls.tenant_id == tid, include_aliases=True)
    )


def _touches_tenant_scoped(state: ORMExecuteState) -> bool:
    try:
        return any(issubclass(m.class_, TenantScoped) for m in state.all_mappers)
    except Exception:  # pragma: no cover - defensive: unusual statements carry no mappers
        return False


#: ``session.info`` key of the audit chain's HMAC key (``Settings.audit_hmac_key``), put there by the runtime so
#: that whoever records an audit entry in a session has the key without reaching for the settings.
AUDIT_KEY_INFO = "audit_hmac_key"


def make_sessionmaker(engine: Engine, info: dict[str, Any] | None = None) -> sessionmaker[TenantSession]:
    """Sessions on ``engine``; ``info`` is merged into every session's ``info`` (e.g. :data:`AUDIT_KEY_INFO`)."""
    return sessionmaker(bind=engine, class_=TenantSession, expire_on_commit=False, info=info or {})


@contextmanager
def transaction(
    factory: sessionmaker[TenantSession], tenant_id: uuid.UUID | None, *, system: bool = False
) -> Iterator[TenantSession]:
    """One unit of work: commit on success, roll back on any error. The one place that commits."""
    session = factory(info={"tenant_id": tenant_id, "system": system})
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def set_transaction_tenant(session: Session, tenant_id: uuid.UUID | None) -> None:
    """Switch the row-level-security tenant inside a system session's current transaction."""
    if not session.info.get("system"):
        raise RuntimeError("only system sessions may switch tenants inside a transaction")
    session.info["tenant_id"] = tenant_id
    conn = session.connection()
    if _is_postgres(conn):
        conn.execute(
            text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_id) if tenant_id else ""}
        )


@contextmanager
def independent_transaction(session: TenantSession) -> Iterator[TenantSession]:
    """A unit of work of its own beside ``session``'s (same database, same tenant), committed on success.

    For what must outlive the caller's transaction when that one is rolled back: an incident recorded for a
    command whose changes are discarded.
    """
    other = TenantSession(
        bind=session.get_bind(),
        info={
            "tenant_id": session.info.get("tenant_id"),
            "system": session.info.get("system", False),
            AUDIT_KEY_INFO: session.info.get(AUDIT_KEY_INFO),
        },
        expire_on_commit=False,
    )
    try:
        yield other
        other.commit()
    except BaseException:
        other.rollback()
        raise
    finally:
        other.close()
