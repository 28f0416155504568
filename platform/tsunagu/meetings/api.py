"""JSON API of meetings under ``/t/<slug>/api/v1/meetings`` (bearer tokens), in one module.

``GET meetings?from=&to=`` (calendar, planned dates beyond the generated horizon included), ``GET meetings/<id>``
(the agenda with time boxes, participants, who is missing), ``POST meetings/<id>/attendance``,
``POST meetings/<id>/decisions``, and for ad hoc meetings ``POST meetings/<id>/participants`` and
``POST meetings/<id>/participants/<pid>/reply``. The agenda names cases by id only: a person's name is shown
on the pages, to readers of the case.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from flask import g, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from ..core.errors import ValidationFailed
from ..identity import permissions
from ..web.api import operation
from ..web.blueprints import api_bp, require_permission
from ..web.requests import db, parse_id
from . import services as meetings
from .models import Meeting, MeetingParticipant, MeetingSeries
from .series import MAX_RANGE_DAYS

# --- the API's models (declared once: validation of the request, the response check and the document) ---

_TAGS = ["meetings"]
Kind = Literal["municipal", "consultant", "person", "provider", "external", "reviewer", "member"]
Outcome = Literal["approve", "approve_with_changes", "revise", "reject", "postpone"]


class MeetingRange(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: date = Field(alias="from", description="first day")
    to: date = Field(description=f"last day (at most {MAX_RANGE_DAYS} days after the first)")


class CalendarEntry(BaseModel):
    """A meeting in a range: stored (``id``), or computed from its series beyond the horizon (``planned``)."""

    model_config = ConfigDict(extra="allow")
    id: str | None = None
    title: str
    status: str
    starts_at: str


class MeetingCalendar(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from")
    to: str
    meetings: list[CalendarEntry]


class AgendaEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    case_id: str
    position: int
    purpose: str
    after_the_fact: bool
    outcome: str | None = None


class ParticipantOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    kind: str
    reply: str | None = None
    written_input: str | None = None
    attended: bool | None = None


class MeetingOut(BaseModel):
    """A meeting with its agenda (cases by id only), participants, who is missing and the 事後報告 ratio."""

    model_config = ConfigDict(extra="allow")
    id: str
    title: str
    status: str
    starts_at: str
    ends_at: str
    adhoc: bool
    agenda: list[AgendaEntry]
    participants: list[ParticipantOut]
    missing: list[str]


class AttendanceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: Kind
    attended: bool
    organisation: str = Field("", max_length=200)
    condition_note: str = Field("", max_length=2000)


class AttendanceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    attendance: list[AttendanceEntry] = Field(max_length=200)


class ProviderRole(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider: str = Field(max_length=200)
    role: str = Field(max_length=500)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_id: uuid.UUID
    outcome: Outcome
    notes: str = Field("", max_length=10000)
    roles: list[ProviderRole] | None = Field(None, max_length=50)
    next_review_date: date | None = None


class DecisionOut(BaseModel):
    case_id: str
    outcome: str
    meeting_id: str
    decided_at: str | None


class ParticipantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    kind: Kind
    organisation: str = Field("", max_length=200)
    user_id: uuid.UUID | None = None


class ReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reply: Literal["attend", "decline"]
    written_input: str = Field("", max_length=10000)


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=2000)


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    starts_at: datetime = Field(description="ISO 8601 with a time zone")
    venue: str | None = Field(None, max_length=500)


class FeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    series_id: uuid.UUID | None = Field(
        None, description="a series' feed (secretariat); default: the caller's own"
    )


class FeedOut(BaseModel):
    id: str
    url: str


class FeedRevoked(BaseModel):
    id: str
    revoked: bool


def _date_arg(name: str, default: date | None = None) -> date:
    raw = request.args.get(name)
    if raw is None and default is not None:
        return default
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise ValidationFailed(
            f"{name} must be a date YYYY-MM-DD", details={name: ["YYYY-MM-DD の日付で指定してください"]}
        ) from None


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed("a JSON object is required", details={"body": ["JSON オブジェクトが必要です"]})
    return body


def _visible_meeting(meeting_id: str) -> Meeting:
    meeting = meetings.get_meeting(db(), parse_id(meeting_id))
    meetings.authorize_meeting(db(), g.principal, "meeting.read", meeting)  # another unit's meeting: 404
    return meeting


def participant_json(p: MeetingParticipant) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "name": p.name,
        "organisation": p.organisation,
        "kind": p.kind,
        "required": p.required,
        "reply": p.reply,
        "written_input": p.written_input,
        "attended": p.attended,
        "condition_note": p.condition_note,
    }


def meeting_json(meeting: Meeting) -> dict[str, Any]:
    session = db()
    series = session.get(MeetingSeries, (meeting.tenant_id, meeting.series_id))
    rows, total = meetings.agenda(session, meeting)
    people = meetings.participants(session, meeting)
    ratio = (
        meetings.after_the_fact_ratio(session, series) if series is not None and not meeting.adhoc else None
    )
    return {
        "id": str(meeting.id),
        "title": meeting.title,
        "series_key": series.key if series else None,
        "kind": series.kind if series else None,
        "adhoc": meeting.adhoc,
        "status": meeting.status,
        "starts_at": meeting.starts_at.isoformat(),
        "ends_at": meeting.ends_at.isoformat(),
        "venue": meeting.venue,
        "moved_for_holiday": meeting.moved_for_holiday,
        "minutes": meeting.minutes,
        "capacity": {"cases": series.cases_per_meeting, "minutes_per_case": series.minutes_per_case}
        if series
        else None,
        "agenda": [
            {
                "case_id": str(r.item.case_id),
                "position": r.item.position,
                "purpose": r.item.purpose,
                "after_the_fact": r.item.after_the_fact,
                "urgency": r.item.urgency,
                "minutes": r.item.minutes,
                "starts_at": r.starts_at.isoformat(),
                "ends_at": r.ends_at.isoformat(),
                "outcome": r.item.outcome,
                "notes": r.item.notes,
                "roles": r.item.roles,
                "next_review_date": r.item.next_review_date.isoformat() if r.item.next_review_date else None,
            }
            for r in rows
        ],
        "total_minutes": total,
        "participants": [participant_json(p) for p in people],
        "missing": [str(p.id) for p in meetings.missing(people)],
        "after_the_fact_ratio": None
        if ratio is None
        else {
            "decided": ratio.decided,
            "after_the_fact": ratio.after_the_fact,
            "ratio": ratio.ratio,
            "threshold": ratio.threshold,
            "warning": ratio.warning,
        },
    }


@api_bp.get("/meetings")
@require_permission("meeting.read")
@operation(query=MeetingRange, resp={200: MeetingCalendar}, errors=(403,), tags=_TAGS)
def list_meetings() -> Any:
    start = _date_arg("from")
    end = _date_arg("to")
    if end < start or (end - start).days > MAX_RANGE_DAYS:
        raise ValidationFailed(
            f"from..to must be a range of at most {MAX_RANGE_DAYS} days",
            details={"to": [f"from 以降、{MAX_RANGE_DAYS}日以内で指定してください"]},
        )
    session = db()
    meetings.ensure_series(session)
    items = meetings.calendar(session, start, end, org_unit_ids=meetings.visible_units(g.principal))
    return jsonify(
        {"from": start.isoformat(), "to": end.isoformat(), "meetings": [i.as_json() for i in items]}
    )


@api_bp.get("/meetings/<meeting_id>")
@require_permission("meeting.read")
@operation(resp={200: MeetingOut}, errors=(403, 404), tags=_TAGS)
def get_meeting(meeting_id: str) -> Any:
    return jsonify(meeting_json(_visible_meeting(meeting_id)))


@api_bp.post("/meetings/<meeting_id>/attendance")
@require_permission("meeting.manage")
@operation(json=AttendanceIn, resp={200: MeetingOut}, errors=(403, 404, 409), tags=_TAGS)
def post_attendance(meeting_id: str) -> Any:
    meeting = _visible_meeting(meeting_id)
    meetings.record_attendance(db(), meeting, _body().get("attendance"))
    return jsonify(meeting_json(meeting))


@api_bp.post("/meetings/<meeting_id>/decisions")
@require_permission("meeting.manage")
@operation(json=DecisionIn, resp={200: DecisionOut}, errors=(403, 404, 409), tags=_TAGS)
def post_decision(meeting_id: str) -> Any:
    meeting = _visible_meeting(meeting_id)
    body = _body()
    try:
        case_id = uuid.UUID(str(body.get("case_id")))
    except ValueError:
        raise ValidationFailed(
            "case_id must be a case id", details={"case_id": ["ケースIDが必要です"]}
        ) from None
    item = meetings.record_decision(
        db(),
        meeting,
        case_id,
        str(body.get("outcome", "")),
        notes=body.get("notes", ""),
        roles=body.get("roles"),
        next_review_date=body.get("next_review_date"),
        actor_id=g.principal.user_id,
    )
    return jsonify(
        {
            "case_id": str(item.case_id),
            "outcome": item.outcome or "postpone",
            "meeting_id": str(item.meeting_id),
            "decided_at": item.decided_at.isoformat() if item.decided_at else None,
        }
    )


@api_bp.post("/meetings/<meeting_id>/participants")
@require_permission("meeting.manage")
@operation(json=ParticipantIn, resp={201: ParticipantOut}, errors=(403, 404, 409), tags=_TAGS)
def post_participant(meeting_id: str) -> Any:
    meeting = _visible_meeting(meeting_id)
    body = _body()
    user_id = None
    if body.get("user_id"):
        try:
            user_id = uuid.UUID(str(body["user_id"]))
        except ValueError:
            raise ValidationFailed(
                "user_id must be a user id", details={"user_id": ["利用者IDが必要です"]}
            ) from None
    row = meetings.add_participant(
        db(),
        meeting,
        name=str(body.get("name") or ""),
        kind=str(body.get("kind") or ""),
        user_id=user_id,
        organisation=str(body.get("organisation") or ""),
    )
    return jsonify(participant_json(row)), 201


@api_bp.post("/meetings/<meeting_id>/participants/<participant_id>/reply")
@require_permission("meeting.reply")
@operation(json=ReplyIn, resp={200: ParticipantOut}, errors=(403, 404, 409), tags=_TAGS)
def post_reply(meeting_id: str, participant_id: str) -> Any:
    meeting = _visible_meeting(meeting_id)
    body = _body()
    session = db()
    pid = parse_id(participant_id)
    target = session.get(MeetingParticipant, (meeting.tenant_id, pid))
    # a participant answers for themself; the secretariat may record a reply it received on paper
    if target is not None and target.user_id != g.principal.user_id:
        permissions.authorize(g.principal, "meeting.manage")
    row = meetings.reply(session, meeting, pid, str(body.get("reply", "")), body.get("written_input", ""))
    return jsonify(participant_json(row))


@api_bp.post("/meetings/<meeting_id>/cancel")
@require_permission("meeting.manage")
@operation(json=CancelIn, resp={200: MeetingOut}, errors=(403, 404, 409), tags=_TAGS)
def post_cancel(meeting_id: str) -> Any:
    meeting = _visible_meeting(meeting_id)
    meetings.cancel_meeting(db(), meeting, str(_body().get("reason") or ""))
    return jsonify(meeting_json(meeting))


@api_bp.post("/meetings/<meeting_id>/move")
@require_permission("meeting.manage")
@operation(json=MoveIn, resp={200: MeetingOut}, errors=(403, 404, 409), tags=_TAGS)
def post_move(meeting_id: str) -> Any:
    meeting = _visible_meeting(meeting_id)
    body = _body()
    try:
        starts = datetime.fromisoformat(str(body.get("starts_at")))
    except ValueError:
        raise ValidationFailed(
            "starts_at must be an ISO date-time with a zone",
            details={"starts_at": ["日時（タイムゾーン付き）"]},
        ) from None
    meetings.move_meeting(db(), meeting, starts, body.get("venue"))
    return jsonify(meeting_json(meeting))


@api_bp.post("/meetings/feeds")
@require_permission("meeting.read")
@operation(json=FeedIn, resp={201: FeedOut}, errors=(403, 404), tags=_TAGS)
def post_feed() -> Any:
    """A secret iCalendar feed URL for the caller (default) or one series (``{"series_id"}``, managers)."""
    from .feeds import create_feed

    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        raise ValidationFailed("a JSON object is required", details={"body": ["JSON オブジェクトが必要です"]})
    if body.get("series_id"):
        permissions.authorize(g.principal, "meeting.manage")
        feed, token = create_feed(db(), series_id=parse_id(str(body["series_id"])))
    else:
        feed, token = create_feed(db(), user_id=g.principal.user_id)
    url = request.host_url.rstrip("/") + f"/t/{g.tenant.slug}/meetings/feed/{token}.ics"
    return jsonify({"id": str(feed.id), "url": url}), 201


@api_bp.post("/meetings/feeds/<feed_id>/revoke")
@require_permission("meeting.read")
@operation(resp={200: FeedRevoked}, errors=(403, 404), tags=_TAGS)
def revoke_feed(feed_id: str) -> Any:
    from .feeds import revoke_feed as revoke

    manager = permissions.can(g.principal, "meeting.manage")
    feed = revoke(db(), parse_id(feed_id), None if manager else g.principal.user_id)
    return jsonify({"id": str(feed.id), "revoked": True})
