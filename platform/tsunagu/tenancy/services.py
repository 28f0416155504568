"""Tenant lookups. The tenant registry is not tenant-scoped: resolving a slug needs no tenant bound."""

from __future__ import annotations

import uuid

from sqlalchemy import select

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


def list_active_tenants(runtime: Runtime) -> list[Tenant]:
    with transaction(runtime.sessions, None) as session:
        return list(
            session.execute(select(Tenant).where(Tenant.status == "active").order_by(Tenant.slug)).scalars()
        )


def get_org_unit(session: TenantSession, org_unit_id: uuid.UUID) -> OrgUnit | None:
    """``(tenant, id)`` lookup: another tenant's id is simply not found."""
    return session.get(OrgUnit, (session.require_tenant_id(), org_unit_id))
