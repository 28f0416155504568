"""JSON API for 支援会議 membership (``/t/<slug>/api/v1/support-meetings/<key>/members``): tenant
administrators register members with their confidentiality undertaking."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from ..identity.services import get_user
from ..web.api import operation
from ..web.blueprints import api_bp, require_permission
from ..web.requests import db, parse_id
from . import services
from .models import SupportMeetingMember

_TAGS = ["sharing"]


class SupportMeetingMemberOut(BaseModel):
    meeting_key: str
    user_id: str
    undertaking_on: str
    undertaking_version: str


class SupportMeetingMemberIn(BaseModel):
    """守秘義務の誓約: the date and the version of the undertaking's text."""

    model_config = ConfigDict(extra="forbid")
    undertaking_on: date
    undertaking_version: str = Field("", max_length=200)


def _member_json(member: SupportMeetingMember) -> dict[str, Any]:
    return {
        "meeting_key": member.meeting_key,
        "user_id": str(member.user_id),
        "undertaking_on": member.undertaking_on.isoformat(),
        "undertaking_version": member.undertaking_version,
    }


@api_bp.get("/support-meetings/<meeting_key>/members")
@require_permission("admin.users")
@operation(resp={200: list[SupportMeetingMemberOut]}, errors=(403,), tags=_TAGS)
def list_support_meeting_members(meeting_key: str) -> Any:
    rows = (
        db()
        .execute(select(SupportMeetingMember).where(SupportMeetingMember.meeting_key == meeting_key[:64]))
        .scalars()
    )
    return [_member_json(m) for m in rows]


@api_bp.put("/support-meetings/<meeting_key>/members/<user_id>")
@require_permission("admin.users")
@operation(json=SupportMeetingMemberIn, resp={200: SupportMeetingMemberOut}, errors=(403, 404), tags=_TAGS)
def register_support_meeting_member(meeting_key: str, user_id: str, json: SupportMeetingMemberIn) -> Any:
    """Register a 支援会議 member with their confidentiality undertaking (date, text version)."""
    user = get_user(db(), parse_id(user_id))
    member = services.register_member(
        db(), meeting_key[:64], uuid.UUID(str(user.id)), json.undertaking_on, json.undertaking_version
    )
    return _member_json(member)
