"""Ad hoc meetings (随時開催): convened for one case, invitations with ``.ics``, replies and written input.

The workflow's ``schedule_meeting`` operation (after the secretariat's 招集 step) convenes the meeting from the
tenant's ad hoc template for the case's org unit (``internal_only`` for ``adhoc_internal``); the secretariat adds
participants — the person, the consultant, municipal staff, providers, external professionals — and each one
who has an account gets an invitation through the notifications service (``invite``: METHOD:REQUEST, one UID
for the meeting's life). Replies are attend / decline, with written input (書面での意見) for those who cannot
come; the meeting page shows who is missing and what they wrote.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from ..cases import services as cases
from ..core.db import utcnow
from ..core.errors import Conflict, NotFound
from ..core.session import TenantSession
from ..identity import permissions
from ..notifications import services as notifications
from ..tenancy.models import Tenant
from .agenda import _units_up
from .errors import invalid
from .models import (
    PARTICIPANT_KINDS,
    AgendaItem,
    Meeting,
    MeetingParticipant,
    MeetingSeries,
    MeetingStatus,
    Purpose,
    Reply,
    SeriesMode,
)
from .recurrence import JST
from .series import ensure_series


def event_of(session: TenantSession, meeting: Meeting) -> notifications.CalendarEvent:
    tenant = session.get(Tenant, meeting.tenant_id)
    slug = tenant.slug if tenant else "tenant"
    return notifications.CalendarEvent(
        uid=f"meeting-{meeting.id}@{slug}.tsunagu",
        start=meeting.starts_at,
        end=meeting.ends_at,
        summary=meeting.title[:200],
        location=meeting.venue[:200],
    )


def adhoc_series_for(session: TenantSession, org_unit_id: uuid.UUID | None, scope: str) -> MeetingSeries:
    want = "internal_only" if scope == "adhoc_internal" else "internal_and_external"
    rows = [
        s
        for s in session.execute(
            select(MeetingSeries).where(
                MeetingSeries.active.is_(True), MeetingSeries.mode == SeriesMode.ADHOC
            )
        ).scalars()
    ]
    chain = _units_up(session, org_unit_id)
    fitting = [s for s in rows if s.org_unit_id is None or s.org_unit_id in chain]
    fitting.sort(
        key=lambda s: (
            (s.participants or "internal_and_external") != want,
            chain.index(s.org_unit_id) if s.org_unit_id in chain else len(chain),
        )
    )
    if not fitting:
        raise Conflict("随時会議の設定がありません / no ad hoc meeting is configured", code="no_adhoc_series")
    return fitting[0]


def _parse_when(meeting_date: Any, meeting_time: Any) -> datetime:
    try:
        day = date.fromisoformat(str(meeting_date)[:10])
    except ValueError:
        raise invalid("meeting_date", "YYYY-MM-DD") from None
    text = str(meeting_time or "10:00")
    try:
        hour, minute = (int(x) for x in text.split(":"))
        at = time(hour, minute)
    except ValueError:
        raise invalid("meeting_time", "HH:MM") from None
    return datetime.combine(day, at, tzinfo=JST)


def convene_for_case(
    session: TenantSession,
    case_id: uuid.UUID,
    *,
    scope: str = "adhoc",
    meeting_date: Any = None,
    meeting_time: Any = None,
) -> Meeting:
    """The case's ad hoc meeting at the given date and time (idempotent per case while it is open)."""
    case = cases.get_case(session, case_id)
    existing = session.execute(
        select(Meeting).where(
            Meeting.case_id == case.id, Meeting.adhoc.is_(True), Meeting.status == MeetingStatus.SCHEDULED
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    ensure_series(session)
    series = adhoc_series_for(session, case.org_unit_id, scope)
    starts = (
        _parse_when(meeting_date, meeting_time)
        if meeting_date
        else (utcnow() + timedelta(days=3))
        .astimezone(JST)
        .replace(hour=10, minute=0, second=0, microsecond=0)
    )
    minutes = series.minutes_per_case or 30
    meeting = Meeting(
        tenant_id=case.tenant_id,
        series_id=series.id,
        org_unit_id=case.org_unit_id or series.org_unit_id,
        occurrence_date=None,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=max(minutes, 15)),
        title=series.name,
        venue=series.venue,
        status=MeetingStatus.SCHEDULED,
        adhoc=True,
        case_id=case.id,
    )
    session.add(meeting)
    session.flush()
    session.add(
        AgendaItem(
            tenant_id=case.tenant_id,
            meeting_id=meeting.id,
            case_id=case.id,
            purpose=Purpose.NEW_PLAN.value,
            urgency=1,
            position=1,
            minutes=minutes,
            # the ad hoc processes record the result in their own step (会議結果の記録), not by message
            awaits_message=False,
        )
    )
    if case.created_by is not None:
        add_participant(session, meeting, name="担当相談支援員", kind="consultant", user_id=case.created_by)
    session.flush()
    return meeting


def add_participant(
    session: TenantSession,
    meeting: Meeting,
    *,
    name: str,
    kind: str,
    user_id: uuid.UUID | None = None,
    organisation: str = "",
    invite: bool = True,
) -> MeetingParticipant:
    if kind not in PARTICIPANT_KINDS:
        raise invalid("kind", f"one of {', '.join(PARTICIPANT_KINDS)}")
    name = (name or "").strip()
    if not name or len(name) > 200 or len(organisation) > 200:
        raise invalid("name", "氏名（200文字以内）/ a name of at most 200 characters")
    row = MeetingParticipant(
        tenant_id=meeting.tenant_id,
        meeting_id=meeting.id,
        user_id=user_id,
        name=name,
        organisation=organisation,
        kind=kind,
        required=kind in ("municipal", "consultant"),
    )
    session.add(row)
    session.flush()
    if invite and user_id is not None:
        notifications.invite(session, [user_id], event_of(session, meeting), f"meetings/{meeting.id}")
    return row


def participants(session: TenantSession, meeting: Meeting) -> list[MeetingParticipant]:
    return list(
        session.execute(
            select(MeetingParticipant)
            .where(MeetingParticipant.meeting_id == meeting.id)
            .order_by(MeetingParticipant.created_at, MeetingParticipant.name)
        ).scalars()
    )


def visible_units(actor: Any) -> set[uuid.UUID] | None:
    """The org units whose meetings the calendar shows ``actor`` (``None``: all, for the tenant-wide roles).
    No unit means only the municipality-wide meetings (fail closed), never every unit's."""
    return None if permissions.is_tenant_wide(actor) else set(actor.org_unit_ids)


def authorize_meeting(session: TenantSession, actor: Any, action: str, meeting: Meeting) -> None:
    """Access to one meeting: the permission module's rule (its org unit), and besides, for reading it and
    replying, the people invited to it — an external professional or another unit's provider is not in the
    meeting's org unit, yet must see the invitation they answer. What the agenda shows of each case is still
    decided case by case."""
    if (
        action in ("meeting.read", "meeting.reply")
        and permissions.can(actor, action)
        and any(p.user_id == actor.user_id for p in participants(session, meeting))
    ):
        return
    permissions.authorize(actor, action, meeting)


def reply(
    session: TenantSession,
    meeting: Meeting,
    participant_id: uuid.UUID,
    answer: str,
    written_input: Any = "",
) -> MeetingParticipant:
    """Attend or decline; a decline may carry written input for the meeting."""
    row = session.get(MeetingParticipant, (meeting.tenant_id, participant_id))
    if row is None or row.meeting_id != meeting.id:
        raise NotFound("参加者が見つかりません / participant not found")
    if answer not in (Reply.ATTEND, Reply.DECLINE):
        raise invalid("reply", "attend / decline")
    if written_input is not None and not isinstance(written_input, str):
        raise invalid("written_input", "文字列 / text")
    if written_input and len(written_input) > 10_000:
        raise invalid("written_input", "10000文字以内 / at most 10,000 characters")
    row.reply = answer
    row.written_input = written_input or ""
    row.replied_at = utcnow()
    session.flush()
    return row


def missing(rows: list[MeetingParticipant]) -> list[MeetingParticipant]:
    """Who will not be (or was not) there: declined, or marked absent."""
    return [p for p in rows if p.reply == Reply.DECLINE or p.attended is False]


def cancel_meeting(session: TenantSession, meeting: Meeting, reason: str = "") -> Meeting:
    """Cancel one meeting: everyone invited is told (METHOD:CANCEL); its waiting items move to the next one."""
    if meeting.status != MeetingStatus.SCHEDULED:
        raise Conflict("開催予定の会議ではありません / the meeting is not scheduled", code="not_scheduled")
    if len(reason) > 500:
        raise invalid("reason", "500文字以内 / at most 500 characters")
    meeting.status = MeetingStatus.CANCELLED
    meeting.cancel_reason = reason
    session.flush()
    users = _concerned(session, meeting)
    if users:
        notifications.cancel_invitation(session, users, event_of(session, meeting), f"meetings/{meeting.id}")
    if not meeting.adhoc:
        from .agenda import rebalance

        series = session.get(MeetingSeries, (meeting.tenant_id, meeting.series_id))
        items = session.execute(
            select(AgendaItem).where(AgendaItem.meeting_id == meeting.id, AgendaItem.outcome.is_(None))
        ).scalars()
        nxt = session.execute(
            select(Meeting)
            .where(
                Meeting.series_id == meeting.series_id,
                Meeting.status == MeetingStatus.SCHEDULED,
                Meeting.starts_at > meeting.starts_at,
            )
            .order_by(Meeting.starts_at)
            .limit(1)
        ).scalar_one_or_none()
        if nxt is not None and series is not None:
            for item in items:
                item.meeting_id = nxt.id
                item.moved += 1
            session.flush()
            rebalance(session, series, now=meeting.starts_at)
    return meeting


def move_meeting(
    session: TenantSession, meeting: Meeting, starts_at: datetime, venue: str | None = None
) -> Meeting:
    """Move one meeting (same length); the people concerned get the updated invitation (SEQUENCE bumped)."""
    if meeting.status != MeetingStatus.SCHEDULED:
        raise Conflict("開催予定の会議ではありません / the meeting is not scheduled", code="not_scheduled")
    if starts_at.tzinfo is None:
        raise invalid("starts_at", "タイムゾーン付きの日時 / a date-time with a time zone")
    length = meeting.ends_at - meeting.starts_at
    meeting.starts_at, meeting.ends_at = starts_at, starts_at + length
    if venue is not None:
        meeting.venue = venue[:200]
    session.flush()
    users = _concerned(session, meeting)
    if users:
        notifications.invite(session, users, event_of(session, meeting), f"meetings/{meeting.id}")
    return meeting


def _concerned(session: TenantSession, meeting: Meeting) -> list[Any]:
    """The participants with accounts, the consultants of the cases on its agenda, and the secretariat."""
    ids: set[uuid.UUID] = {p.user_id for p in participants(session, meeting) if p.user_id is not None}
    for case_id in session.execute(
        select(AgendaItem.case_id).where(AgendaItem.meeting_id == meeting.id)
    ).scalars():
        case = cases.get_case(session, case_id)
        if case.created_by is not None:
            ids.add(case.created_by)
    recipients: list[Any] = sorted(ids)
    recipients.append(notifications.RoleIn("meeting_secretariat", meeting.org_unit_id))
    return recipients
