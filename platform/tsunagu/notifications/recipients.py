"""Who a notification goes to: users by id, or the holders of a role in an org unit.

"A role in an org unit" means what it means for tasks (``identity.permissions``): a membership in that unit,
in a unit above it (a membership covers its sub-units), in a unit overseeing one of those (for the oversight
roles: the municipality's staff over its contracted agency), or tenant-wide (a membership without unit, which
only administrators and auditors hold — fail closed, issue #15). When no one
holds the role there, the notification falls back to the tenant's administrators, so an escalation never
goes nowhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from ..core.session import TenantSession
from ..identity.models import Membership, Role, User
from ..identity.principal import OVERSIGHT_ROLES, TENANT_WIDE_ROLES
from ..tenancy.models import OrgUnit, OrgUnitOversight


@dataclass(frozen=True)
class RoleIn:
    """Every active holder of ``role`` in ``org_unit_id`` (``None``: anywhere in the tenant)."""

    role: str
    org_unit_id: uuid.UUID | None = None
    #: who gets it when nobody holds the role there (``None``: nobody)
    fallback_role: str | None = Role.TENANT_ADMIN.value


Recipient = uuid.UUID | RoleIn


def _units_above(session: TenantSession, unit_id: uuid.UUID) -> set[uuid.UUID]:
    """``unit_id`` and the units above it (its parent, the parent's parent, ...)."""
    parents = dict(session.execute(select(OrgUnit.id, OrgUnit.parent_id)).all())
    found: set[uuid.UUID] = set()
    current: uuid.UUID | None = unit_id
    while current is not None and current not in found:
        found.add(current)
        current = parents.get(current)
    return found


def holders(session: TenantSession, role: str, org_unit_id: uuid.UUID | None) -> set[uuid.UUID]:
    """Active users holding ``role`` in ``org_unit_id`` (``None``: anywhere in the tenant)."""
    covering = _units_above(session, org_unit_id) if org_unit_id is not None else None
    if covering is not None and role in OVERSIGHT_ROLES:
        overseers = session.execute(
            select(OrgUnitOversight.overseer_id).where(OrgUnitOversight.overseen_id.in_(sorted(covering)))
        ).scalars()
        for overseer in list(overseers):
            covering |= _units_above(session, overseer)
    rows = session.execute(
        select(Membership.user_id, Membership.org_unit_id, Membership.roles)
        .join(User, (User.tenant_id == Membership.tenant_id) & (User.id == Membership.user_id))
        .where(User.active.is_(True))
    ).all()
    found: set[uuid.UUID] = set()
    for user_id, unit_id, roles in rows:
        if role not in (roles or []):
            continue
        if covering is None:
            found.add(user_id)
        elif unit_id is None:
            if role in TENANT_WIDE_ROLES:
                found.add(user_id)
        elif unit_id in covering:
            found.add(user_id)
    return found


def resolve(session: TenantSession, recipients: Iterable[Recipient]) -> set[uuid.UUID]:
    """The active users ``recipients`` name."""
    users: set[uuid.UUID] = set()
    direct: set[uuid.UUID] = set()
    for recipient in recipients:
        if isinstance(recipient, RoleIn):
            found = holders(session, recipient.role, recipient.org_unit_id)
            if not found and recipient.fallback_role:
                found = holders(session, recipient.fallback_role, None)
            users |= found
        elif isinstance(recipient, uuid.UUID):
            direct.add(recipient)
        else:
            raise TypeError(f"a recipient is a user id or a RoleIn, not {type(recipient).__name__}")
    if direct:
        active = session.execute(select(User.id).where(User.id.in_(direct), User.active.is_(True))).scalars()
        users |= set(active)
    return users
