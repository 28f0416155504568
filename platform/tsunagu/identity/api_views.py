"""JSON API for memberships (``/t/<slug>/api/v1/users/...``): who works where, as which role.

Tenant administrators only (``admin.users``). The same service as the admin page and ``tsunagu memberships``
(``services.set_memberships``): pairs of org unit and roles, tenant-wide only for administrators and auditors.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import g, jsonify, request
from sqlalchemy import select

from ..core.errors import ValidationFailed
from ..tenancy.models import OrgUnit
from ..web.blueprints import api_bp, require_permission
from ..web.requests import db, parse_id
from . import events, services
from .models import User

_MAX_MEMBERSHIPS = 500


def _membership_json(held: dict[uuid.UUID | None, list[str]]) -> list[dict[str, Any]]:
    codes: dict[uuid.UUID | None, str] = dict(db().execute(select(OrgUnit.id, OrgUnit.code)).all())
    return [
        {
            "org_unit": codes.get(unit) if unit else None,
            "org_unit_id": str(unit) if unit else None,
            "roles": roles,
        }
        for unit, roles in sorted(held.items(), key=lambda kv: (kv[0] is not None, codes.get(kv[0], "")))
    ]


def _user_json(user: User) -> dict[str, Any]:
    return {
        "id": str(user.id),
        "email": user.email,
        "display_name": user.display_name,
        "active": user.active,
        "memberships": _membership_json(services.memberships(db(), user.id)),
    }


@api_bp.get("/users")
@require_permission("admin.users")
def list_users() -> Any:
    users = services.search_users(db(), request.args.get("q", "")[:200])
    return jsonify([_user_json(u) for u in users])


@api_bp.get("/users/<user_id>")
@require_permission("admin.users")
def show_user(user_id: str) -> Any:
    return jsonify(_user_json(services.get_user(db(), parse_id(user_id))))


def parse_memberships(body: Any) -> dict[uuid.UUID | None, list[str]]:
    """``{"memberships": [{"org_unit": "kohoku" | null, "roles": [...]}, ...]}`` → ``{unit id: roles}``."""
    items = body.get("memberships") if isinstance(body, dict) else None
    if not isinstance(items, list) or len(items) > _MAX_MEMBERSHIPS:
        raise ValidationFailed(
            "a list of memberships is required",
            details={"memberships": [f"[{{org_unit, roles}}, …] の配列（{_MAX_MEMBERSHIPS}件まで）"]},
        )
    codes = dict(db().execute(select(OrgUnit.code, OrgUnit.id)).all())
    wanted: dict[uuid.UUID | None, list[str]] = {}
    errors: dict[str, list[str]] = {}
    for i, item in enumerate(items):
        where = f"memberships[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("roles"), list):
            errors[where] = ["{org_unit: コード または null, roles: [...]} が必要です"]
            continue
        code = item.get("org_unit")
        if code is not None and (not isinstance(code, str) or code not in codes):
            errors[f"{where}.org_unit"] = [f"存在しない組織です / unknown org unit {code!r}"]
            continue
        unit = codes[code] if code is not None else None
        if unit in wanted:
            errors[f"{where}.org_unit"] = ["同じ組織が2回あります / the same org unit twice"]
            continue
        wanted[unit] = [str(r) for r in item["roles"]]
    if errors:
        raise ValidationFailed("invalid memberships", details=errors)
    return wanted


@api_bp.put("/users/<user_id>/memberships")
@require_permission("admin.users")
def replace_memberships(user_id: str) -> Any:
    session = db()
    user = services.get_user(session, parse_id(user_id))
    wanted = parse_memberships(request.get_json(silent=True))
    services.set_memberships(session, user, wanted)
    memberships = {str(k or ""): sorted(v) for k, v in wanted.items()}
    events.emit(
        events.principal_event(
            "admin.change", g.principal, change="memberships", user=str(user.id), memberships=memberships
        )
    )
    return jsonify(_user_json(user))
