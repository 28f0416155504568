"""HTML pages: the meeting calendar (FullCalendar, Japanese, holidays marked; a plain list without scripts),
the meeting page (agenda with time boxes, attendance, a decision per item, minutes, who is missing and their
written input, the 事後報告 ratio) and the printable agenda (PDF through WeasyPrint with the CJK font).

Thin views: parse the form, load tenant-scoped rows, call one service, redirect; the request commits once.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from flask import Response, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as WerkzeugResponse

from ..cases import services as cases
from ..core.db import utcnow
from ..core.errors import AppError, Forbidden, NotFound, ValidationFailed
from ..identity import permissions
from ..identity.auth import login_required
from ..web.i18n import current_language
from ..web.pages import current_actor, in_language, parse_id, tenant_pages
from ..web.requests import db
from . import services as meetings
from .models import OUTCOMES, PARTICIPANT_KINDS, PURPOSES, Meeting, MeetingSeries
from .recurrence import JST, holiday_name

bp = tenant_pages("meetings", __name__)
bp.template_folder = "templates"


@bp.context_processor
def _helpers() -> dict[str, Any]:
    labels = {
        "approve": _("Approve"),
        "approve_with_changes": _("Approve with changes"),
        "revise": _("Send back for revision"),
        "reject": _("Reject"),
        "postpone": _("Postpone to the next meeting"),
    }
    kinds = {
        "municipal": _("Municipal staff"),
        "consultant": _("Consultant"),
        "person": _("The person"),
        "provider": _("Provider"),
        "external": _("External professional"),
        "reviewer": _("Objective reviewer"),
        "member": _("Member"),
    }
    return {
        "local_time": lambda moment: moment.astimezone(JST).strftime("%H:%M"),
        "outcome_label": lambda o: labels.get(o, o),
        "kind_label": lambda k: kinds.get(k, k),
    }


def _actor(action: str, obj: Any = None) -> Any:
    actor = current_actor()
    try:
        permissions.authorize(actor, action, obj)
    except Forbidden:
        raise Forbidden(_("Your roles do not allow this page.")) from None
    return actor


def _meeting(meeting_id: str, action: str = "meeting.read") -> tuple[Meeting, Any]:
    meeting = meetings.get_meeting(db(), parse_id(meeting_id))
    actor = current_actor()
    try:
        meetings.authorize_meeting(db(), actor, action, meeting)
    except Forbidden:
        raise Forbidden(_("Your roles do not allow this page.")) from None
    return meeting, actor


def _units(actor: Any) -> set[uuid.UUID] | None:
    return meetings.visible_units(actor)


def _today() -> date:
    return utcnow().astimezone(JST).date()


@bp.get("/meetings")
@login_required
def calendar() -> str:
    actor = _actor("meeting.read")
    session = db()
    meetings.ensure_series(session)
    start = _today()
    upcoming = meetings.calendar(session, start, start + timedelta(days=62), org_unit_ids=_units(actor))
    page = {
        "events": url_for("meetings.events"),
        "locale": "ja" if current_language() == "ja" else "en",
        "labels": {"planned": _("planned"), "cancelled": _("cancelled"), "holiday": _("holiday")},
    }
    return render_template(
        "meetings/calendar.html",
        upcoming=upcoming,
        page_data=page,
        can_manage=permissions.can(actor, "meeting.manage"),
    )


def _parse_day(raw: str | None, default: date) -> date:
    if not raw:
        return default
    try:
        return (
            datetime.fromisoformat(raw.replace("Z", "+00:00")).date()
            if "T" in raw
            else date.fromisoformat(raw)
        )
    except ValueError:
        raise ValidationFailed(_("Dates must be YYYY-MM-DD."), details={"start": ["YYYY-MM-DD"]}) from None


@bp.get("/meetings/events.json")
@login_required
def events() -> Response:
    """FullCalendar's event feed (``start``/``end`` as it sends them): meetings and Japan's holidays."""
    actor = _actor("meeting.read")
    start = _parse_day(request.args.get("start"), _today())
    end = _parse_day(request.args.get("end"), start + timedelta(days=42))
    end = min(end, start + timedelta(days=400))
    session = db()
    meetings.ensure_series(session)
    out: list[dict[str, Any]] = []
    for item in meetings.calendar(session, start, end, org_unit_ids=_units(actor)):
        event: dict[str, Any] = {
            "title": item.title + ("（" + _("planned") + "）" if item.status == "planned" else ""),
            # Japan time without an offset: the calendar runs in "UTC" and shows these wall-clock times as they
            # are, whatever the browser's zone (FullCalendar needs a plugin for named zones)
            "start": item.starts_at.astimezone(JST).replace(tzinfo=None).isoformat(),
            "end": item.ends_at.astimezone(JST).replace(tzinfo=None).isoformat(),
            "classNames": [f"meeting-{item.status}"],
        }
        if item.meeting_id is not None:
            event["url"] = url_for("meetings.show", meeting_id=item.meeting_id)
        out.append(event)
    day = start
    while day <= end:
        name = holiday_name(day)
        if name:
            out.append(
                {
                    "title": name,
                    "start": day.isoformat(),
                    "allDay": True,
                    "display": "background",
                    "classNames": ["holiday"],
                }
            )
        day += timedelta(days=1)
    return jsonify(out)


def _case_labels(actor: Any, case_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The person's name for readers of the case; others see only that a case is there."""
    labels: dict[uuid.UUID, str] = {}
    session = db()
    for case_id in case_ids:
        try:
            case = cases.get_case(session, case_id)
        except NotFound:
            continue
        if permissions.can(actor, "case.read", case):
            detail = cases.case_detail(session, case)
            labels[case_id] = detail["person"]["name"] or str(case_id)[:8]
    return labels


def _page_context(meeting: Meeting, actor: Any) -> dict[str, Any]:
    session = db()
    series = session.get(MeetingSeries, (meeting.tenant_id, meeting.series_id))
    rows, total = meetings.agenda(session, meeting)
    people = meetings.participants(session, meeting)
    ratio = (
        meetings.after_the_fact_ratio(session, series) if series is not None and not meeting.adhoc else None
    )
    return {
        "meeting": meeting,
        "series": series,
        "rows": rows,
        "total": total,
        "people": people,
        "missing": meetings.missing(people),
        "ratio": ratio,
        "labels": _case_labels(actor, [r.item.case_id for r in rows]),
        "can_manage": permissions.can(actor, "meeting.manage", meeting),
        "outcomes": OUTCOMES,
        "purposes": PURPOSES,
        "kinds": PARTICIPANT_KINDS,
        "required": meetings.required_kinds(session),
        "mine": [p for p in people if p.user_id == actor.user_id],
        "holiday": holiday_name(meeting.starts_at.astimezone(JST).date()),
        "panels": meetings.agenda_panels(session, meeting, actor),  # e.g. 支援会議: early-detection flags
    }


@bp.get("/meetings/feed/<token>.ics")
def feed(token: str) -> Response:
    """The secret feed URL: no sign-in (calendar clients cannot); the token is the credential."""
    from .feeds import feed_ics

    response = Response(feed_ics(db(), token), mimetype="text/calendar")
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.post("/meetings/feeds")
@login_required
def create_feed() -> str:
    """A personal feed of the user's meetings: the URL is shown once."""
    from .feeds import create_feed as make

    actor = _actor("meeting.read")
    _feed, token = make(db(), user_id=actor.user_id)
    url = request.host_url.rstrip("/") + url_for("meetings.feed", token=token)
    flash(_("Your calendar feed (keep it secret; shown only now): %(url)s", url=url))
    return redirect(url_for("meetings.calendar"), code=303)  # type: ignore[return-value]


@bp.get("/meetings/<meeting_id>")
@login_required
def show(meeting_id: str) -> str:
    meeting, actor = _meeting(meeting_id)
    return render_template("meetings/show.html", **_page_context(meeting, actor))


def _back(meeting: Meeting, anchor: str = "") -> WerkzeugResponse:
    return redirect(url_for("meetings.show", meeting_id=meeting.id) + anchor, code=303)


def _failed(meeting: Meeting, actor: Any, exc: AppError) -> tuple[str, int]:
    """Re-render the page with the error (the request rolls back; nothing typed elsewhere is lost)."""
    message = in_language(exc.message, current_language())
    return render_template("meetings/show.html", error=message, **_page_context(meeting, actor)), exc.status


@bp.post("/meetings/<meeting_id>/attendance")
@login_required
def attendance(meeting_id: str) -> Any:
    meeting, actor = _meeting(meeting_id, "meeting.manage")
    form = request.form
    entries = []
    for n in range(int(form.get("rows", "0") or 0)):
        name = (form.get(f"name-{n}") or "").strip()
        if not name:
            continue
        entries.append(
            {
                "name": name,
                "kind": form.get(f"kind-{n}", ""),
                "organisation": form.get(f"organisation-{n}", ""),
                "attended": form.get(f"attended-{n}") == "on",
                "condition_note": form.get(f"condition-{n}", ""),
            }
        )
    try:
        meetings.record_attendance(db(), meeting, entries)
    except AppError as exc:
        db().rollback()
        return _failed(meeting, actor, exc)
    flash(_("Attendance recorded."))
    return _back(meeting, "#attendance")


@bp.post("/meetings/<meeting_id>/decisions")
@login_required
def decide(meeting_id: str) -> Any:
    meeting, actor = _meeting(meeting_id, "meeting.manage")
    form = request.form
    roles = []
    provider, role = (form.get("provider") or "").strip(), (form.get("role") or "").strip()
    if provider or role:
        roles.append({"provider": provider, "role": role})
    try:
        case_id = uuid.UUID(form.get("case_id", ""))
        meetings.record_decision(
            db(),
            meeting,
            case_id,
            form.get("outcome", ""),
            notes=form.get("notes", ""),
            roles=roles,
            next_review_date=form.get("next_review_date") or None,
            actor_id=actor.user_id,
        )
    except ValueError:
        raise NotFound(_("Not found.")) from None
    except AppError as exc:
        db().rollback()
        return _failed(meeting, actor, exc)
    flash(_("Decision recorded; the case moved on."))
    return _back(meeting, "#agenda")


@bp.post("/meetings/<meeting_id>/minutes")
@login_required
def minutes(meeting_id: str) -> Any:
    meeting, actor = _meeting(meeting_id, "meeting.manage")
    try:
        meetings.record_minutes(
            db(), meeting, request.form.get("minutes", ""), close=bool(request.form.get("close"))
        )
    except AppError as exc:
        db().rollback()
        return _failed(meeting, actor, exc)
    flash(_("Minutes saved."))
    return _back(meeting, "#minutes")


@bp.post("/meetings/<meeting_id>/participants")
@login_required
def add_participant(meeting_id: str) -> Any:
    meeting, actor = _meeting(meeting_id, "meeting.manage")
    try:
        meetings.add_participant(
            db(),
            meeting,
            name=request.form.get("name", ""),
            kind=request.form.get("kind", ""),
            organisation=request.form.get("organisation", ""),
        )
    except AppError as exc:
        db().rollback()
        return _failed(meeting, actor, exc)
    flash(_("Participant added."))
    return _back(meeting, "#participants")


@bp.post("/meetings/<meeting_id>/participants/<participant_id>/reply")
@login_required
def reply(meeting_id: str, participant_id: str) -> Any:
    meeting, actor = _meeting(meeting_id, "meeting.reply")
    pid = parse_id(participant_id)
    if not any(p.id == pid for p in meetings.participants(db(), meeting) if p.user_id == actor.user_id):
        permissions.authorize(actor, "meeting.manage", meeting)  # a reply received on paper
    try:
        meetings.reply(
            db(), meeting, pid, request.form.get("reply", ""), request.form.get("written_input", "")
        )
    except AppError as exc:
        db().rollback()
        return _failed(meeting, actor, exc)
    flash(_("Reply recorded."))
    return _back(meeting, "#participants")


@bp.post("/meetings/<meeting_id>/cancel")
@login_required
def cancel(meeting_id: str) -> Any:
    meeting, actor = _meeting(meeting_id, "meeting.manage")
    try:
        meetings.cancel_meeting(db(), meeting, request.form.get("reason", ""))
    except AppError as exc:
        db().rollback()
        return _failed(meeting, actor, exc)
    flash(_("Meeting cancelled; the people concerned are notified."))
    return _back(meeting)


@bp.get("/meetings/<meeting_id>/agenda.pdf")
@login_required
def agenda_pdf(meeting_id: str) -> Response:
    """The printable agenda (and minutes once written): HTML rendered to PDF by WeasyPrint, Noto Sans CJK."""
    meeting, actor = _meeting(meeting_id)
    html = render_template("meetings/print.html", **_page_context(meeting, actor))
    from weasyprint import HTML  # imported here: only this page needs it (and its system libraries)

    pdf = HTML(string=html, base_url=request.host_url).write_pdf()
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="agenda-{meeting.id}.pdf"'
    return response


@bp.get("/meetings/<meeting_id>/agenda.html")
@login_required
def agenda_print(meeting_id: str) -> str:
    meeting, actor = _meeting(meeting_id)
    return render_template("meetings/print.html", **_page_context(meeting, actor))
