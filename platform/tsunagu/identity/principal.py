"""The principal: who is acting in this request, however they authenticated.

A browser session (OpenID Connect sign-in) and an API token both produce the same :class:`Principal`, so every
permission check in :mod:`tsunagu.identity.permissions` has one shape to look at.

Access is a set of **grants**, ``(role, org unit)`` pairs taken membership by membership — never the cross
product of every role with every unit (a consultant in 港北区 who is also a provider in 鶴見区 is not a
consultant in 鶴見区). A membership's unit covers the units below it (港北区 → 港北区生活支援課) and, for the
roles in :data:`OVERSIGHT_ROLES`, the units it oversees (the municipality's unit over the contracted agency's,
``tenancy.models.OrgUnitOversight``) and theirs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Integer, and_, false, literal_column, select, true
from sqlalchemy.orm import aliased

from ..core.session import TenantSession
from .models import Membership, Role

#: A membership's role that extends to the units its unit oversees: the municipality's staff decide on the
#: cases of the agency it contracted (支援決定は自治体の責務).
OVERSIGHT_ROLES = frozenset({Role.MUNICIPAL_STAFF.value})

#: Roles that may be held without an org unit: they see the whole tenant, explicitly.
TENANT_WIDE_ROLES = frozenset({Role.TENANT_ADMIN.value, Role.AUDITOR.value})

#: Guards the recursive walk down the org-unit tree (the tree has no cycle; this keeps a bad row harmless).
_MAX_DEPTH = 32

# Literals, not bound parameters: a recursive CTE needs the same column types in both of its terms.
_ZERO = literal_column("0", Integer)

Grant = tuple[str, uuid.UUID | None]


@dataclass(frozen=True)
class Principal:
    """A user acting in one tenant.

    ``grants`` are the ``(role, org unit)`` pairs the user may act as (the unit ``None`` only for tenant-wide
    roles). ``roles`` are the roles of the memberships (for role gates and display) and ``org_unit_ids`` every
    unit some grant covers; neither alone decides access to an object — :mod:`.permissions` looks at grants.
    ``home_units`` are the units of the memberships themselves, per role (where a new case opens by default).
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
    grants: frozenset[Grant] = frozenset()
    home_units: frozenset[Grant] = frozenset()

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


@dataclass(frozen=True)
class Access:
    """What a user's memberships allow: see :class:`Principal`."""

    roles: frozenset[str]
    grants: frozenset[Grant]
    home_units: frozenset[Grant]

    @property
    def org_unit_ids(self) -> frozenset[uuid.UUID]:
        return frozenset(unit for _role, unit in self.grants if unit is not None)

    def limited_to(self, roles: Iterable[str]) -> Access:
        """The part of this access that ``roles`` (an API token's) cover."""
        keep = frozenset(roles) & self.roles
        return Access(
            roles=keep,
            grants=frozenset(g for g in self.grants if g[0] in keep),
            home_units=frozenset(g for g in self.home_units if g[0] in keep),
        )


def covered_units_cte(user_id: Any) -> Any:
    """A recursive CTE ``(roles, unit_id, oversight, home, depth)``: each membership of ``user_id`` (an id or
    a scalar subquery) with its unit, the units that unit oversees, and every unit below either.

    One statement, so an API request authenticates in one round trip (``tokens.authenticate_token``).
    """
    from ..tenancy.models import OrgUnit, OrgUnitOversight

    direct = select(
        Membership.roles.label("roles"),
        Membership.org_unit_id.label("unit_id"),
        false().label("oversight"),
        true().label("home"),
        _ZERO.label("depth"),
    ).where(Membership.user_id == user_id)
    overseen = (
        select(
            Membership.roles,
            OrgUnitOversight.overseen_id,
            true(),
            false(),
            _ZERO,
        )
        .join(
            OrgUnitOversight,
            and_(
                OrgUnitOversight.tenant_id == Membership.tenant_id,
                OrgUnitOversight.overseer_id == Membership.org_unit_id,
            ),
        )
        .where(Membership.user_id == user_id)
    )
    start = direct.union_all(overseen).subquery("start")
    covered = select(start).cte("covered", recursive=True)
    child = aliased(OrgUnit)
    return covered.union_all(
        select(
            covered.c.roles,
            child.id,
            covered.c.oversight,
            false(),
            covered.c.depth + literal_column("1", Integer),
        )
        .join(child, child.parent_id == covered.c.unit_id)
        .where(covered.c.depth < _MAX_DEPTH)
    )


def access_from_rows(rows: Iterable[tuple[Any, uuid.UUID | None, bool, bool]]) -> Access:
    """Fold ``(roles, unit, via oversight, membership's own unit)`` rows into an :class:`Access`.

    Fail closed: a role other than :data:`TENANT_WIDE_ROLES` held without an org unit grants nothing.
    """
    roles: set[str] = set()
    grants: set[Grant] = set()
    home: set[Grant] = set()
    for member_roles, unit_id, oversight, is_home in rows:
        held = [str(r) for r in (member_roles or [])]
        roles.update(held)
        for role in held:
            if unit_id is None:
                if role in TENANT_WIDE_ROLES:
                    grants.add((role, None))
                continue
            if oversight and role not in OVERSIGHT_ROLES:
                continue
            grants.add((role, unit_id))
            if is_home and not oversight:
                home.add((role, unit_id))
    return Access(frozenset(roles), frozenset(grants), frozenset(home))


def load_access(session: TenantSession, user_id: uuid.UUID) -> Access:
    """The :class:`Access` of a user's memberships in the session's tenant, in one statement."""
    covered = covered_units_cte(user_id)
    rows = session.execute(
        select(covered.c.roles, covered.c.unit_id, covered.c.oversight, covered.c.home)
    ).all()
    return access_from_rows(rows)


def membership_units(
    session: TenantSession, user_id: uuid.UUID
) -> tuple[frozenset[str], frozenset[uuid.UUID]]:
    """``(roles, org units the user's grants cover)`` — for display; checks use :func:`load_access`."""
    access = load_access(session, user_id)
    return access.roles, access.org_unit_ids
