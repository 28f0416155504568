"""API tokens: created once, stored as a SHA-256 hash, looked up by ``(tenant, hash)``."""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, select, true

from ..core.db import utcnow
from ..core.session import TenantSession
from .models import ApiToken, User, parse_roles
from .principal import Principal, access_from_rows, covered_units_cte, load_access

LAST_USED_RESOLUTION = timedelta(minutes=1)
TOKEN_PREFIX = "tsu_"  # noqa: S105 - a public marker, not a secret


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    token: str
    record: ApiToken


class TokenRolesExceedMemberships(ValueError):
    """A token may carry only roles its user holds (``token roles ⊆ the user's memberships``)."""

    def __init__(self, extra: list[str]) -> None:
        self.extra = extra
        super().__init__(
            "トークンの役割は利用者の所属で持つ役割に限られます / a token's roles must be held by its user: "
            + ", ".join(extra)
        )


def create_token(session: TenantSession, user: User, roles: list[str], name: str = "") -> IssuedToken:
    """Create a token for ``user`` in the session's tenant. The plain token exists only in the return value.

    Raises :class:`TokenRolesExceedMemberships` for a role the user's memberships do not hold (a token never
    reaches further than its user; the org units always come from the user's memberships).
    """
    tenant_id = session.require_tenant_id()
    if user.tenant_id != tenant_id:
        raise ValueError("the user belongs to another tenant")
    wanted = parse_roles(roles)
    held = load_access(session, user.id).roles
    extra = sorted(set(wanted) - held)
    if extra:
        raise TokenRolesExceedMemberships(extra)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        tenant_id=tenant_id,
        user_id=user.id,
        name=name,
        prefix=token[: len(TOKEN_PREFIX) + 6],
        token_hash=hash_token(token),
        roles=wanted,
    )
    session.add(record)
    session.flush()
    return IssuedToken(token=token, record=record)


@functools.cache
def _token_statement() -> Select[Any]:
    """One statement: the token, its user and the user's memberships with every unit they cover (below them,
    and overseen), one row per membership and unit — the rule of ``principal.load_access``.

    Built once per process with a bound ``digest``: constructing this statement (a recursive CTE) on every
    request cost more CPU than running it.
    """
    digest: BindParameter[str] = bindparam("digest")
    token_user = (
        select(ApiToken.user_id)
        .where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
        .scalar_subquery()
        .correlate(None)
    )
    covered = covered_units_cte(token_user)
    return (
        select(ApiToken, User, covered.c.roles, covered.c.unit_id, covered.c.oversight, covered.c.home)
        .join(User, (User.tenant_id == ApiToken.tenant_id) & (User.id == ApiToken.user_id))
        .outerjoin(covered, true())
        .where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
    )


def authenticate_token(session: TenantSession, token: str) -> Principal | None:
    """The principal of a valid, unrevoked token of the session's tenant and an active user, or ``None``.

    The roles are the token's own (chosen when it was created) as far as the user still holds them; the
    grants are the user's memberships limited to those roles, exactly as for a signed-in user.
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    rows = session.execute(_token_statement(), {"digest": hash_token(token)}).all()
    if not rows:
        return None
    record, user = rows[0][0], rows[0][1]
    if not user.active:
        return None
    now = utcnow()
    # Written at most once a minute: every request of a busy token would otherwise queue on this row's lock.
    if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
        record.last_used_at = now
    access = access_from_rows(
        (r[2], r[3], bool(r[4]), bool(r[5])) for r in rows if r[2] is not None
    ).limited_to(record.roles or [])
    return Principal(
        user_id=user.id,
        tenant_id=user.tenant_id,
        roles=access.roles,
        org_unit_ids=access.org_unit_ids,
        email=user.email,
        display_name=user.display_name,
        via="token",
        session_id=record.id,
        grants=access.grants,
        home_units=access.home_units,
    )
