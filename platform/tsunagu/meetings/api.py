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
from typing import Any

from flask import g, jsonify, request

from ..core.errors import ValidationFailed
from ..identity import permissions
from ..web.blueprints import api_bp, require_permission
from ..web.openapi import register_paths, register_schema
from ..web.requests import db, parse_id
from . import services as meetings
from .models import Meeting, MeetingParticipant, MeetingSeries
from .series import MAX_RANGE_DAYS


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
    principal = g.principal
    units = (
        None
        if permissions.is_tenant_wide(principal) or not principal.org_unit_ids
        else set(principal.org_unit_ids)
    )
    items = meetings.calendar(session, start, end, org_unit_ids=units)
    return jsonify(
        {"from": start.isoformat(), "to": end.isoformat(), "meetings": [i.as_json() for i in items]}
    )


@api_bp.get("/meetings/<meeting_id>")
@require_permission("meeting.read")
def get_meeting(meeting_id: str) -> Any:
    return jsonify(meeting_json(_visible_meeting(meeting_id)))


@api_bp.post("/meetings/<meeting_id>/attendance")
@require_permission("meeting.manage")
def post_attendance(meeting_id: str) -> Any:
    meeting = _visible_meeting(meeting_id)
    meetings.record_attendance(db(), meeting, _body().get("attendance"))
    return jsonify(meeting_json(meeting))


@api_bp.post("/meetings/<meeting_id>/decisions")
@require_permission("meeting.manage")
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
def post_cancel(meeting_id: str) -> Any:
    meeting = _visible_meeting(meeting_id)
    meetings.cancel_meeting(db(), meeting, str(_body().get("reason") or ""))
    return jsonify(meeting_json(meeting))


@api_bp.post("/meetings/<meeting_id>/move")
@require_permission("meeting.manage")
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
def revoke_feed(feed_id: str) -> Any:
    from .feeds import revoke_feed as revoke

    manager = permissions.can(g.principal, "meeting.manage")
    feed = revoke(db(), parse_id(feed_id), None if manager else g.principal.user_id)
    return jsonify({"id": str(feed.id), "revoked": True})


_MEETING = {"$ref": "#/components/schemas/Meeting"}
register_schema(
    "Meeting",
    {
        "type": "object",
        "description": "A meeting, or for GET meetings {from, to, meetings: [...]}",
        "properties": {
            "id": {"type": ["string", "null"]},
            "title": {"type": "string"},
            "status": {"enum": ["scheduled", "cancelled", "held", "planned"]},
            "starts_at": {"type": "string", "format": "date-time"},
            "agenda": {"type": "array", "items": {"type": "object"}},
            "participants": {"type": "array", "items": {"type": "object"}},
        },
    },
)
_ERR = {"$ref": "#/components/schemas/Error"}


def _op(
    summary: str, body: dict[str, Any] | None = None, params: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": _MEETING}}},
            **{
                str(c): {"description": d, "content": {"application/json": {"schema": _ERR}}}
                for c, d in (
                    (401, "No or invalid token"),
                    (403, "Role not allowed"),
                    (404, "Not found"),
                    (409, "Conflict"),
                    (422, "Data does not fit"),
                )
            },
        },
    }
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


_ID = [{"name": "meeting_id", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}}]
_DATE = {"type": "string", "format": "date"}

register_paths(
    {
        "/meetings": {
            "get": _op(
                "会議の一覧: meetings from..to (dates past the generated horizon come as planned)",
                params=[
                    {"name": "from", "in": "query", "required": True, "schema": _DATE},
                    {"name": "to", "in": "query", "required": True, "schema": _DATE},
                ],
            )
        },
        "/meetings/{meeting_id}": {"get": _op("会議と議題: a meeting with its agenda", params=_ID)},
        "/meetings/{meeting_id}/attendance": {
            "post": _op(
                "出席の記録",
                {
                    "type": "object",
                    "required": ["attendance"],
                    "properties": {
                        "attendance": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "kind", "attended"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "kind": {
                                        "enum": [
                                            "municipal",
                                            "consultant",
                                            "person",
                                            "provider",
                                            "external",
                                            "reviewer",
                                            "member",
                                        ]
                                    },
                                    "attended": {"type": "boolean"},
                                    "organisation": {"type": "string"},
                                    "condition_note": {"type": "string"},
                                },
                            },
                        }
                    },
                },
                _ID,
            )
        },
        "/meetings/{meeting_id}/decisions": {
            "post": _op(
                "議題ごとの決定: moves the case on (meeting_decided)",
                {
                    "type": "object",
                    "required": ["case_id", "outcome"],
                    "properties": {
                        "case_id": {"type": "string", "format": "uuid"},
                        "outcome": {
                            "enum": ["approve", "approve_with_changes", "revise", "reject", "postpone"]
                        },
                        "notes": {"type": "string"},
                        "roles": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"provider": {"type": "string"}, "role": {"type": "string"}},
                            },
                        },
                        "next_review_date": _DATE,
                    },
                },
                _ID,
            )
        },
    }
)
