"""Factories for the core models, writing through the same sessions the application uses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tsunagu.core.runtime import Runtime
from tsunagu.core.session import transaction
from tsunagu.identity.models import Membership, User
from tsunagu.identity.tokens import create_token
from tsunagu.tenancy.models import OrgUnit, Tenant


def make_tenant(runtime: Runtime, slug: str | None = None, **fields: object) -> Tenant:
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
    with transaction(runtime.sessions, None) as session:
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


def make_user(
    runtime: Runtime,
    tenant: Tenant,
    email: str | None = None,
    roles: list[str] | None = None,
    org_unit: OrgUnit | None = None,
) -> UserWithToken:
    roles = roles or ["consultant"]
    with transaction(runtime.sessions, tenant.id) as session:
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
