"""Factories for the core models, writing through the same sessions the application uses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from tsunagu.core.db import make_engine
from tsunagu.core.runtime import Runtime
from tsunagu.core.session import TenantSession, make_sessionmaker, transaction
from tsunagu.identity.models import Membership, User
from tsunagu.identity.tokens import create_token
from tsunagu.tenancy.models import OrgUnit, Tenant

_owner_sessions: dict[str, sessionmaker[TenantSession]] = {}


def owner_sessions(runtime: Runtime) -> sessionmaker[TenantSession]:
    """Sessions as the owner role (``migration_database_url``), the only role that may insert tenants or
    change their status; one engine per database, kept for the test process."""
    url = runtime.settings.migration_database_url
    if url not in _owner_sessions:
        _owner_sessions[url] = make_sessionmaker(make_engine(url, pool_size=2))
    return _owner_sessions[url]


def make_tenant(runtime: Runtime, slug: str | None = None, **fields: object) -> Tenant:
    """A tenant row, inserted as the owner (as ``tenants sync`` does): the application role cannot."""
    slug = slug or f"t{uuid.uuid4().hex[:8]}"
    values: dict[str, object] = {
        "slug": slug,
        "name": f"{slug}市",
        "name_kana": "テストシ",
        "name_en": slug.title(),
        "prefecture_code": "01",
        "population": 80000,
        "settings": {},
    }
    values.update(fields)
    with transaction(owner_sessions(runtime), None, system=True) as session:
        tenant = Tenant(**values)
        session.add(tenant)
    return tenant


def make_org_unit(
    runtime: Runtime, tenant: Tenant, code: str, name: str | None = None, kind: str = "ward"
) -> OrgUnit:
    with transaction(runtime.sessions, tenant.id) as session:
        unit = OrgUnit(tenant_id=tenant.id, code=code, name=name or code, kind=kind)
        session.add(unit)
    return unit


@dataclass
class UserWithToken:
    user: User
    token: str


#: The org unit ``make_user`` puts a user in when the test names none (本庁, created on first use): access
#: fails closed (issue #15), so a user without a unit would see no case at all.
DEFAULT_UNIT_CODE = "honcho"


def default_unit(session: TenantSession, tenant: Tenant) -> OrgUnit:
    unit = session.execute(select(OrgUnit).where(OrgUnit.code == DEFAULT_UNIT_CODE)).scalar_one_or_none()
    if unit is None:
        unit = OrgUnit(tenant_id=tenant.id, code=DEFAULT_UNIT_CODE, name="本庁", kind="department")
        session.add(unit)
        session.flush()
    return unit


def make_user(
    runtime: Runtime,
    tenant: Tenant,
    email: str | None = None,
    roles: list[str] | None = None,
    org_unit: OrgUnit | None = None,
    *,
    tenant_wide: bool = False,
    all_units: bool = False,
) -> UserWithToken:
    """A user holding ``roles`` in ``org_unit`` (default: the tenant's 本庁 unit), with an API token.

    ``tenant_wide=True``: a membership without org unit (only tenant administrators and auditors get
    anything from one). ``all_units=True``: the roles in every top-level unit (so every unit) — for tests
    about something other than the org-unit boundary.
    """
    roles = roles or ["consultant"]
    with transaction(runtime.sessions, tenant.id) as session:
        if all_units and org_unit is None:
            tops = list(session.execute(select(OrgUnit).where(OrgUnit.parent_id.is_(None))).scalars())
            if tops:
                return _user_in_units(session, tenant, email, roles, tops)
        if org_unit is None and not tenant_wide:
            org_unit = default_unit(session, tenant)
        user = User(
            tenant_id=tenant.id, email=email or f"{uuid.uuid4().hex[:8]}@example.jp", display_name="テスト"
        )
        session.add(user)
        session.flush()
        session.add(
            Membership(
                tenant_id=tenant.id,
                user_id=user.id,
                org_unit_id=org_unit.id if org_unit else None,
                roles=roles,
            )
        )
        issued = create_token(session, user, roles)
    return UserWithToken(user=user, token=issued.token)


def _user_in_units(
    session: TenantSession, tenant: Tenant, email: str | None, roles: list[str], units: list[OrgUnit]
) -> UserWithToken:
    user = User(
        tenant_id=tenant.id, email=email or f"{uuid.uuid4().hex[:8]}@example.jp", display_name="テスト"
    )
    session.add(user)
    session.flush()
    for unit in units:
        session.add(Membership(tenant_id=tenant.id, user_id=user.id, org_unit_id=unit.id, roles=roles))
    session.flush()
    issued = create_token(session, user, roles)
    return UserWithToken(user=user, token=issued.token)


def tenant_row(runtime: Runtime, slug: str) -> Tenant:
    """The whole ``tenant`` row of ``slug``, read as the owner (the application role sees only the bound
    tenant's own row, and no row at all without one)."""
    with transaction(owner_sessions(runtime), None, system=True) as session:
        return session.execute(select(Tenant).where(Tenant.slug == slug)).scalar_one()
