"""API tokens: created once, stored as a SHA-256 hash, looked up by ``(tenant, hash)``."""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, select, true
from sqlalchemy.orm import aliased

from ..core.db import utcnow
from ..core.session import TenantSession
from .models import ApiToken, Membership, User, parse_roles
from .principal import Principal

LAST_USED_RESOLUTION = timedelta(minutes=1)
TOKEN_PREFIX = "tsu_"  # noqa: S105 - a public marker, not a secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: str
    record: ApiToken


def create_token(session: TenantSession, user: User, roles: list[str], name: str = "") -> IssuedToken:
    """Create a token for ``user`` in the session's tenant. The plain token exists only in the return value."""
    tenant_id = session.require_tenant_id()
    if user.tenant_id != tenant_id:
        raise ValueError("the user belongs to another tenant")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        tenant_id=tenant_id,
        user_id=user.id,
        name=name,
        prefix=token[: len(TOKEN_PREFIX) + 6],
        token_hash=hash_token(token),
        roles=parse_roles(roles),
    )
    session.add(record)
    session.flush()
    return IssuedToken(token=token, record=record)


@functools.cache
def _token_statement() -> Select[ApiToken, User, Any]:
    """One statement: the token, its user and the org units the user works in — their memberships' units and
    every unit below them (the rule of ``principal.membership_units``), one row per unit.

    Built once per process with a bound ``digest``: constructing this statement (a recursive CTE) on every
    request cost more CPU than running it.
    """
    from ..tenancy.models import OrgUnit

    digest: BindParameter[str] = bindparam("digest")
    token_user = (
        select(ApiToken.user_id)
        .where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
        .scalar_subquery()
        .correlate(None)
    )
    covered = (
        select(Membership.org_unit_id.label("id"))
        .where(Membership.user_id == token_user, Membership.org_unit_id.is_not(None))
        .cte("covered", recursive=True)
    )
    child = aliased(OrgUnit)
    covered = covered.union(select(child.id).join(covered, child.parent_id == covered.c.id))
    return (
        select(ApiToken, User, covered.c.id)
        .join(User, (User.tenant_id == ApiToken.tenant_id) & (User.id == ApiToken.user_id))
        .outerjoin(covered, true())
        .where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
    )


def authenticate_token(session: TenantSession, token: str) -> Principal | None:
    """The principal of a valid, unrevoked token of the session's tenant and an active user, or ``None``.

    The roles are the token's own (chosen when it was created); the org units come from the user's
    memberships, exactly as for a signed-in user.
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    rows = session.execute(_token_statement(), {"digest": hash_token(token)}).all()
    if not rows:
        return None
    record, user, _unit = rows[0]
    if not user.active:
        return None
    now = utcnow()
    # Written at most once a minute: every request of a busy token would otherwise queue on this row's lock.
    if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
        record.last_used_at = now
    return Principal(
        user_id=user.id,
        tenant_id=user.tenant_id,
        roles=frozenset(record.roles),
        org_unit_ids=frozenset(unit for _r, _u, unit in rows if unit is not None),
        email=user.email,
        display_name=user.display_name,
        via="token",
        session_id=record.id,
    )
