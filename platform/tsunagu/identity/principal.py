"""The principal: who is acting in this request, however they authenticated.

A browser session (OpenID Connect sign-in) and an API token both produce the same :class:`Principal`, so every
permission check in :mod:`tsunagu.identity.permissions` has one shape to look at.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select

from ..core.session import TenantSession
from .models import Membership, Role


@dataclass(frozen=True)
class Principal:
    """A user acting in one tenant.

    ``org_unit_ids`` are the org units of the user's memberships *and their descendants* (a membership in
    港北区 covers 港北区生活支援課). Empty means the user is not limited to any org unit: every membership
    is tenant-wide (the model's ``org_unit_id = NULL``).
    """

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    roles: frozenset[str]
    org_unit_ids: frozenset[uuid.UUID]
    email: str = ""
    display_name: str = ""
    via: Literal["session", "token"] = "session"
    #: The server-side session's record id (``via="session"``) or the API token's id (``via="token"``).
    session_id: uuid.UUID | None = None

    @property
    def is_admin(self) -> bool:
        return Role.TENANT_ADMIN in self.roles

    @property
    def is_read_only(self) -> bool:
        """監査担当 only: may read what the tenant holds, never change it."""
        return bool(self.roles) and self.roles <= {Role.AUDITOR.value}

    @property
    def label(self) -> str:
        return self.display_name or self.email


def membership_units(
    session: TenantSession, user_id: uuid.UUID
) -> tuple[frozenset[str], frozenset[uuid.UUID]]:
    """``(roles, org units incl. descendants)`` from the user's memberships in the session's tenant."""
    from ..tenancy.models import OrgUnit

    rows = session.execute(
        select(Membership.roles, Membership.org_unit_id).where(Membership.user_id == user_id)
    ).all()
    roles: set[str] = set()
    direct: set[uuid.UUID] = set()
    for member_roles, unit_id in rows:
        roles.update(member_roles or [])
        if unit_id is not None:
            direct.add(unit_id)
    if not direct:
        return frozenset(roles), frozenset()
    tree = session.execute(select(OrgUnit.id, OrgUnit.parent_id)).all()
    children: dict[uuid.UUID, list[uuid.UUID]] = {}
    for unit_id, parent_id in tree:
        if parent_id is not None:
            children.setdefault(parent_id, []).append(unit_id)
    covered = set(direct)
    stack = list(direct)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in covered:
                covered.add(child)
                stack.append(child)
    return frozenset(roles), frozenset(covered)
