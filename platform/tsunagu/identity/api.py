"""JSON API for tenant administrators: users, their memberships (roles × org units) and API tokens.

The same services as the admin pages (``admin_views``), permission-checked by the same actions
(``admin.users``, ``admin.tokens``). A token's plain value is in the creating response only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from flask import g
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from ..core.errors import ValidationFailed
from ..tenancy.models import OrgUnit
from ..web.api import operation
from ..web.blueprints import api_bp, require_permission
from ..web.etag import check_if_match, respond
from ..web.requests import db, parse_id
from . import events, services
from .models import ALL_ROLES, Role, User
from .sessions import end_user_sessions
from .tokens import create_token

_TAGS = ["administration"]
RoleName = Literal[
    "tenant_admin",
    "consultant",
    "municipal_staff",
    "meeting_secretariat",
    "provider",
    "external_participant",
    "auditor",
]


class Membership(BaseModel):
    """These roles in this org unit (``null``: tenant-wide, only for tenant_admin and auditor)."""

    org_unit: str | None = Field(description="org unit code; null: tenant-wide")
    org_unit_id: str | None
    roles: list[str]


class UserOut(BaseModel):
    id: str
    email: str
    display_name: str
    active: bool
    memberships: list[Membership] = Field(description="pairs of org unit and roles, never a cross product")


class UserQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    q: str = Field("", max_length=100, description="part of the e-mail address or name")
    limit: int = Field(100, ge=1, le=500)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: bool = Field(description="false deactivates the user and ends all their sessions at once")


class MembershipItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    org_unit: str | None = Field(max_length=100, description="org unit code; null: tenant-wide")
    roles: list[RoleName] = Field(max_length=7)


class MembershipIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    memberships: list[MembershipItem] = Field(max_length=500)


class TokenOut(BaseModel):
    id: str
    name: str
    prefix: str = Field(description="the token's first characters, to recognise it")
    user_id: str
    user_email: str
    roles: list[str]
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    roles: list[RoleName] = Field(min_length=1, max_length=7)


class IssuedTokenOut(TokenOut):
    token: str = Field(description="the token itself: shown in this response only, store it now")


def _changed(change: str, **details: Any) -> None:
    """Report an administrator's change (the audit trail records it with the request's transaction)."""
    events.emit(events.principal_event("admin.change", g.principal, change=change, **details))


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _user_json(user: User) -> dict[str, Any]:
    held = services.memberships(db(), user.id)
    codes: dict[Any, str] = dict(db().execute(select(OrgUnit.id, OrgUnit.code)).all()) if held else {}
    items = [
        Membership(
            org_unit=codes.get(unit) if unit else None, org_unit_id=str(unit) if unit else None, roles=roles
        )
        for unit, roles in sorted(held.items(), key=lambda kv: (kv[0] is not None, codes.get(kv[0], "")))
    ]
    return UserOut(
        id=str(user.id),
        email=user.email,
        display_name=user.display_name,
        active=user.active,
        memberships=items,
    ).model_dump(mode="json")


def _token_json(token: Any, user: User) -> dict[str, Any]:
    return TokenOut(
        id=str(token.id),
        name=token.name,
        prefix=token.prefix,
        user_id=str(user.id),
        user_email=user.email,
        roles=list(token.roles),
        created_at=token.created_at.isoformat(),
        last_used_at=_iso(token.last_used_at),
        revoked_at=_iso(token.revoked_at),
    ).model_dump(mode="json")


@api_bp.get("/users")
@require_permission("admin.users")
@operation(query=UserQuery, resp={200: list[UserOut]}, errors=(403,), tags=_TAGS)
def list_users(query: UserQuery) -> Any:
    """The tenant's users (active first), with their roles and org units."""
    return [_user_json(u) for u in services.search_users(db(), query.q, query.limit)]


@api_bp.get("/users/<user_id>")
@require_permission("admin.users")
@operation(resp={200: UserOut}, errors=(403, 404), tags=_TAGS)
def show_user(user_id: str) -> Any:
    return respond(_user_json(services.get_user(db(), parse_id(user_id))))


@api_bp.patch("/users/<user_id>")
@require_permission("admin.users")
@operation(json=UserPatch, resp={200: UserOut}, errors=(403, 404, 412), tags=_TAGS, headers=["If-Match"])
def update_user(user_id: str, json: UserPatch) -> Any:
    """Deactivate (``active: false``: every session of the user ends) or reactivate a user."""
    session = db()
    user = services.get_user(session, parse_id(user_id))
    check_if_match(_user_json(user))
    if not json.active and user.id == g.principal.user_id:
        raise ValidationFailed(
            "自分自身は無効化できません / you cannot deactivate yourself",
            details={"active": ["自分自身は無効化できません"]},
        )
    services.set_active(session, user, json.active)
    _changed("activate" if json.active else "deactivate", user=str(user.id))
    body = _user_json(user)
    if not json.active:
        session.commit()  # deactivated first, then every session ends: no window where a session outlives it
        end_user_sessions(g.tenant.id, user.id)
    return respond(body)


@api_bp.put("/users/<user_id>/memberships")
@require_permission("admin.users")
@operation(json=MembershipIn, resp={200: UserOut}, errors=(403, 404, 412), tags=_TAGS, headers=["If-Match"])
def set_memberships(user_id: str, json: MembershipIn) -> Any:
    """Replace the user's memberships with exactly these pairs of org unit and roles (the same service as the
    admin page and ``tsunagu memberships``)."""
    session = db()
    user = services.get_user(session, parse_id(user_id))
    check_if_match(_user_json(user))
    if user.id == g.principal.user_id and not any(
        Role.TENANT_ADMIN.value in item.roles for item in json.memberships
    ):
        raise ValidationFailed(
            "自分の管理者権限は外せません / you cannot remove your own admin role",
            details={"memberships": ["自分の管理者権限は外せません"]},
        )
    codes = sorted({item.org_unit for item in json.memberships if item.org_unit is not None})
    units = dict(session.execute(select(OrgUnit.code, OrgUnit.id).where(OrgUnit.code.in_(codes))).all())
    missing = [c for c in codes if c not in units]
    if missing:
        raise ValidationFailed(
            "存在しない組織です / unknown org unit",
            details={"memberships.org_unit": [f"{c}: 組織が見つかりません" for c in missing]},
        )
    wanted: dict[Any, list[str]] = {}
    for item in json.memberships:
        unit = units[item.org_unit] if item.org_unit is not None else None
        if unit in wanted:
            raise ValidationFailed(
                "同じ組織が2回あります / the same org unit twice",
                details={"memberships.org_unit": [f"{item.org_unit}: 2回あります"]},
            )
        wanted[unit] = list(item.roles)
    services.set_memberships(session, user, wanted)
    _changed(
        "memberships",
        user=str(user.id),
        memberships={str(k or ""): sorted(v) for k, v in wanted.items()},
    )
    return respond(_user_json(user))


@api_bp.get("/tokens")
@require_permission("admin.tokens")
@operation(resp={200: list[TokenOut]}, errors=(403,), tags=_TAGS)
def list_tokens() -> Any:
    """Every API token of the tenant (active first); never the token itself."""
    return [_token_json(t, u) for t, u in services.list_tokens(db())]


@api_bp.post("/users/<user_id>/tokens")
@require_permission("admin.tokens")
@operation(json=TokenIn, resp={201: IssuedTokenOut}, errors=(403, 404, 409), tags=_TAGS)
def create_user_token(user_id: str, json: TokenIn) -> Any:
    """Issue an API token for the user with these roles; the token is in this response only."""
    session = db()
    user = services.get_user(session, parse_id(user_id))
    if not user.active:
        raise ValidationFailed(
            "無効化されたユーザーです / the user is deactivated",
            details={"user": ["無効化されたユーザーです"]},
        )
    issued = create_token(session, user, [r for r in json.roles if r in ALL_ROLES], name=json.name.strip())
    _changed("token_create", user=str(user.id), roles=sorted(issued.record.roles), name=json.name.strip())
    body = {**_token_json(issued.record, user), "token": issued.token}
    return IssuedTokenOut.model_validate(body).model_dump(mode="json"), 201, {"Cache-Control": "no-store"}


@api_bp.delete("/tokens/<token_id>")
@require_permission("admin.tokens")
@operation(resp={204: None}, errors=(403, 404), tags=_TAGS)
def revoke_token(token_id: str) -> Any:
    """Revoke a token: it stops working at once."""
    token = services.revoke_token(db(), parse_id(token_id))
    _changed("token_revoke", token=str(token.id))
    return "", 204
