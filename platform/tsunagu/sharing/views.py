"""JSON API for 支援会議 membership (``/t/<slug>/api/v1/support-meetings/<key>/members``): tenant
administrators register members with their confidentiality undertaking."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from flask import jsonify, request
from sqlalchemy import select

from ..core.errors import ValidationFailed
from ..identity.services import get_user
from ..web.blueprints import api_bp, require_permission
from ..web.requests import db, parse_id
from . import services
from .models import SupportMeetingMember


def _member_json(member: SupportMeetingMember) -> dict[str, Any]:
    return {
        "meeting_key": member.meeting_key,
        "user_id": str(member.user_id),
        "undertaking_on": member.undertaking_on.isoformat(),
        "undertaking_version": member.undertaking_version,
    }


@api_bp.get("/support-meetings/<meeting_key>/members")
@require_permission("admin.users")
def list_support_meeting_members(meeting_key: str) -> Any:
    rows = (
        db()
        .execute(select(SupportMeetingMember).where(SupportMeetingMember.meeting_key == meeting_key[:64]))
        .scalars()
    )
    return jsonify([_member_json(m) for m in rows])


@api_bp.put("/support-meetings/<meeting_key>/members/<user_id>")
@require_permission("admin.users")
def register_support_meeting_member(meeting_key: str, user_id: str) -> Any:
    """``{"undertaking_on": "YYYY-MM-DD", "undertaking_version": "..."}`` — 守秘義務の誓約 (date, text version)."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed("a JSON object is required", details={"body": ["JSON オブジェクトが必要です"]})
    try:
        undertaking_on = date.fromisoformat(str(body.get("undertaking_on") or ""))
    except ValueError:
        raise ValidationFailed(
            "the undertaking's date is required", details={"undertaking_on": ["誓約日 YYYY-MM-DD が必要です"]}
        ) from None
    user = get_user(db(), parse_id(user_id))
    member = services.register_member(
        db(), meeting_key, uuid.UUID(str(user.id)), undertaking_on, str(body.get("undertaking_version") or "")
    )
    return jsonify(_member_json(member))
