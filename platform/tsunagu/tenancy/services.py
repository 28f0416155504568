"""Tenant lookups. The tenant registry is not tenant-scoped: resolving a slug needs no tenant bound."""

from __future__ import annotations

import uuid

from sqlalchemy import String, case, cast, func, select

from ..core.context import TenantRef
from ..core.runtime import Runtime
from ..core.session import TenantSession, transaction
from .models import OrgUnit, Tenant


def find_tenant(runtime: Runtime, slug: str) -> Tenant | None:
    with transaction(runtime.sessions, None) as session:
        return session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one_or_none()


def resolve_active_tenant(runtime: Runtime, slug: str) -> TenantRef | None:
    """The tenant for a request, or ``None`` when unknown or suspended (both answer 404)."""
    tenant = find_tenant(runtime, slug)
    if tenant is None or not tenant.is_active:
        return None
    return TenantRef(id=tenant.id, slug=tenant.slug)


def resolve_and_bind(session: TenantSession, slug: str) -> TenantRef | None:
    """The request's tenant, bound to ``session``'s transaction in the same statement; ``None`` (and nothing
    bound) when unknown or suspended.

    On PostgreSQL the statement sets ``app.tenant_id`` (transaction-local) as it reads the row — to the tenant
    only when it is active — so row-level security sees the tenant from the next statement on, without a
    second round trip. The session must not have bound a tenant at its start (``info["bind_pending"]``).
    """
    if session.get_bind().dialect.name == "postgresql":
        bound = func.set_config(
            "app.tenant_id", case((Tenant.status == "active", cast(Tenant.id, String)), else_=""), True
        )
        row = session.execute(
            select(Tenant.id, Tenant.slug, Tenant.status, bound).where(Tenant.slug == slug)
        ).first()
    else:
        row = session.execute(
            select(Tenant.id, Tenant.slug, Tenant.status).where(Tenant.slug == slug)
        ).first()
    if row is None or row.status != "active":
        return None
    return TenantRef(id=row.id, slug=row.slug)


def tenant_name(session: TenantSession, ref: TenantRef) -> str:
    tenant = session.get(Tenant, ref.id)
    return tenant.name if tenant else ref.slug


def list_active_tenants(runtime: Runtime) -> list[Tenant]:
    with transaction(runtime.sessions, None) as session:
        return list(
            session.execute(select(Tenant).where(Tenant.status == "active").order_by(Tenant.slug)).scalars()
        )


def get_org_unit(session: TenantSession, org_unit_id: uuid.UUID) -> OrgUnit | None:
    """``(tenant, id)`` lookup: another tenant's id is simply not found."""
    return session.get(OrgUnit, (session.require_tenant_id(), org_unit_id))
