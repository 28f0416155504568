"""The tenant registry: resolution, listings, registration and status changes.

On PostgreSQL the ``tenant`` table has row-level security (migration 0006): the application role sees and
changes only the bound tenant's own row, and only its ``settings``. What must happen *before* a tenant is
bound goes through narrow ``SECURITY DEFINER`` functions that return public columns only:

* :func:`find_tenant` / :func:`resolve_active_tenant` — ``tsunagu_tenant_by_slug`` (request routing);
* :func:`list_tenants` / :func:`list_active_tenants` — ``tsunagu_tenant_directory`` (index, operators);
* :func:`register_tenant` — ``tsunagu_register_tenant`` (operators create a tenant; no existing row changes).

Suspending and reactivating (:func:`set_tenant_status`) take a session factory on the **owner** URL: only the
owner path (``tsunagu tenants suspend|activate``, ``tsunagu tenants sync``) changes a tenant's status.
On SQLite (the demo) there is no row-level security and the same functions are plain queries.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import sessionmaker

from ..core.context import TenantRef
from ..core.db import new_id, utcnow
from ..core.runtime import Runtime
from ..core.session import TenantSession, transaction
from .models import OrgUnit, Tenant, TenantStatus


@dataclass(frozen=True)
class TenantRecord:
    """What routing needs to know about a tenant."""

    id: uuid.UUID
    slug: str
    status: str

    @property
    def is_active(self) -> bool:
        return self.status == TenantStatus.ACTIVE


@dataclass(frozen=True)
class TenantListing:
    """A tenant's public columns (never its settings)."""

    id: uuid.UUID
    slug: str
    name: str
    name_kana: str
    name_en: str
    prefecture_code: str
    population: int
    status: str
    created_at: datetime

    @property
    def is_active(self) -> bool:
        return self.status == TenantStatus.ACTIVE


_LISTING_COLUMNS = (
    "id",
    "slug",
    "name",
    "name_kana",
    "name_en",
    "prefecture_code",
    "population",
    "status",
    "created_at",
)


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _is_postgres(session: TenantSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def find_tenant(runtime: Runtime, slug: str) -> TenantRecord | None:
    with transaction(runtime.sessions, None) as session:
        if _is_postgres(session):
            row = session.execute(
                text("SELECT id, slug, status FROM tsunagu_tenant_by_slug(:slug)"), {"slug": slug}
            ).first()
        else:
            row = session.execute(
                select(Tenant.id, Tenant.slug, Tenant.status).where(Tenant.slug == slug)
            ).first()
    if row is None:
        return None
    return TenantRecord(id=_uuid(row[0]), slug=str(row[1]), status=str(row[2]))


def resolve_active_tenant(runtime: Runtime, slug: str) -> TenantRef | None:
    """The tenant for a request, or ``None`` when unknown or suspended (both answer 404)."""
    tenant = find_tenant(runtime, slug)
    if tenant is None or not tenant.is_active:
        return None
    return TenantRef(id=tenant.id, slug=tenant.slug)


#: Built once: every request runs it.
_RESOLVE_AND_BIND = text(
    "SELECT t.id, t.slug, t.status, set_config('app.tenant_id', "
    "CASE WHEN t.status = 'active' THEN t.id::text ELSE '' END, true) "
    "FROM tsunagu_tenant_by_slug(:slug) AS t"
)


def resolve_and_bind(session: TenantSession, slug: str) -> TenantRef | None:
    """The request's tenant, bound to ``session``'s transaction in the same statement; ``None`` (and nothing
    bound) when unknown or suspended.

    On PostgreSQL the statement reads the registry through ``tsunagu_tenant_by_slug`` (the app role cannot
    read ``tenant`` rows before a tenant is bound, migration 0006) and sets ``app.tenant_id``
    (transaction-local) as it reads the row — to the tenant only when it is active — so row-level security
    sees the tenant from the next statement on, without a second round trip. The session must not have bound
    a tenant at its start (``info["bind_pending"]``).
    """
    if _is_postgres(session):
        row = session.execute(_RESOLVE_AND_BIND, {"slug": slug}).first()
    else:
        row = session.execute(
            select(Tenant.id, Tenant.slug, Tenant.status).where(Tenant.slug == slug)
        ).first()
    if row is None or row[2] != TenantStatus.ACTIVE:
        return None
    return TenantRef(id=_uuid(row[0]), slug=str(row[1]))


def tenant_name(session: TenantSession, ref: TenantRef) -> str:
    """The bound tenant's name (its own row is visible to it)."""
    tenant = session.get(Tenant, ref.id)
    return tenant.name if tenant else ref.slug


def list_tenants(runtime: Runtime) -> list[TenantListing]:
    """Every tenant's public columns, by slug."""
    with transaction(runtime.sessions, None) as session:
        if _is_postgres(session):
            rows = session.execute(
                text(
                    "SELECT id, slug, name, name_kana, name_en, prefecture_code, population, status, "
                    "created_at FROM tsunagu_tenant_directory()"
                )
            ).all()
        else:
            columns = [getattr(Tenant, c) for c in _LISTING_COLUMNS]
            rows = session.execute(select(*columns).order_by(Tenant.slug)).all()
    return [
        TenantListing(
            id=_uuid(r[0]),
            slug=str(r[1]),
            name=str(r[2]),
            name_kana=str(r[3]),
            name_en=str(r[4]),
            prefecture_code=str(r[5]),
            population=int(r[6]),
            status=str(r[7]),
            created_at=r[8],
        )
        for r in rows
    ]


def list_active_tenants(runtime: Runtime) -> list[TenantListing]:
    return [t for t in list_tenants(runtime) if t.is_active]


def register_tenant(
    runtime: Runtime,
    *,
    slug: str,
    name: str,
    name_kana: str,
    name_en: str,
    prefecture_code: str,
    population: int,
) -> uuid.UUID:
    """Create a new active tenant with empty settings; an existing slug fails on its unique constraint."""
    tenant_id = new_id()
    values = {
        "id": tenant_id,
        "slug": slug,
        "name": name,
        "name_kana": name_kana,
        "name_en": name_en,
        "prefecture_code": prefecture_code,
        "population": population,
    }
    with transaction(runtime.sessions, None) as session:
        if _is_postgres(session):
            session.execute(
                text(
                    "SELECT tsunagu_register_tenant(:id, :slug, :name, :name_kana, :name_en, "
                    ":prefecture_code, :population)"
                ),
                values,
            )
        else:
            session.add(Tenant(**values, status=TenantStatus.ACTIVE, settings={}))
    return tenant_id


def set_tenant_status(owner_sessions: sessionmaker[TenantSession], slug: str, status: str) -> bool:
    """Suspend or reactivate tenant ``slug`` **as the owner role**; ``False`` when there is no such tenant.

    ``owner_sessions`` must be bound to ``TSUNAGU_MIGRATION_DATABASE_URL``: the application role has no
    privilege on ``tenant.status`` at all.
    """
    if status not in {s.value for s in TenantStatus}:
        raise ValueError(f"unknown tenant status {status!r}")
    with transaction(owner_sessions, None, system=True) as session:
        tenant = session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()
        if tenant is None:
            return False
        if tenant.status != status:
            tenant.status = status
            tenant.updated_at = utcnow()
    return True


def get_org_unit(session: TenantSession, org_unit_id: uuid.UUID) -> OrgUnit | None:
    """``(tenant, id)`` lookup: another tenant's id is simply not found."""
    return session.get(OrgUnit, (session.require_tenant_id(), org_unit_id))
