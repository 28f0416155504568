"""Agenda building (議題の編成): cases waiting for a scheduled meeting go onto the next meeting with room.

The right series is the case's org unit's (or a unit above it, or the tenant-wide one) recurring case meeting;
evaluations at plan end (③) go only to a series whose preset says ``evaluation_in_meeting``. The waiting items
of a series are ordered **urgency first, then waiting time** and poured into its upcoming meetings, each taking
``cases_per_meeting``; what does not fit goes to the next meeting, whose rows are generated further ahead when
needed. An item that moves to a later meeting than it had notifies the case's consultant (its creator).
Meetings already started and decided items never move.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from ..cases import services as cases
from ..core.db import utcnow
from ..core.errors import Conflict, NotFound
from ..core.session import TenantSession
from ..notifications import services as notifications
from ..tenancy.models import OrgUnit
from .models import AgendaItem, Meeting, MeetingSeries, MeetingStatus, Purpose, SeriesMode
from .recurrence import JST
from .series import ensure_series, generate_until

URGENCY = {"high": 0, "normal": 1, "low": 2}

AGENDA_MOVED = notifications.register_kind(
    notifications.Kind(
        "meeting.agenda_moved",
        "付議が次回の会議に移りました",
        "A case moved to a later meeting",
        template="meeting_agenda_moved",
    )
)
notifications.add_template_folder(Path(__file__).resolve().parent / "templates" / "mail")


def _units_up(session: TenantSession, unit_id: uuid.UUID | None) -> list[uuid.UUID]:
    """The unit and every unit above it, nearest first."""
    chain: list[uuid.UUID] = []
    tenant_id = session.require_tenant_id()
    while unit_id is not None and unit_id not in chain:
        chain.append(unit_id)
        unit = session.get(OrgUnit, (tenant_id, unit_id))
        unit_id = unit.parent_id if unit else None
    return chain


def series_for(session: TenantSession, org_unit_id: uuid.UUID | None, purpose: str) -> MeetingSeries:
    """The recurring case meeting a case of ``org_unit_id`` goes to for ``purpose``, or 422 when there is none."""
    candidates = [
        s
        for s in session.execute(
            select(MeetingSeries).where(
                MeetingSeries.active.is_(True), MeetingSeries.mode == SeriesMode.RECURRING
            )
        ).scalars()
        if s.takes_cases and (purpose != Purpose.EVALUATION or s.evaluation_in_meeting)
    ]
    chain = _units_up(session, org_unit_id)
    ranked = sorted(
        (s for s in candidates if s.org_unit_id is None or s.org_unit_id in chain),
        key=lambda s: (chain.index(s.org_unit_id) if s.org_unit_id in chain else len(chain), s.key),
    )
    if not ranked:
        raise Conflict(
            "このケースを付議できる定例の会議がありません / no scheduled case meeting takes this case",
            code="no_meeting_series",
        )
    return ranked[0]


def _upcoming(session: TenantSession, series: MeetingSeries, after: datetime) -> list[Meeting]:
    return list(
        session.execute(
            select(Meeting)
            .where(
                Meeting.series_id == series.id,
                Meeting.status == MeetingStatus.SCHEDULED,
                Meeting.starts_at > after,
            )
            .order_by(Meeting.starts_at)
        ).scalars()
    )


def open_item_of(session: TenantSession, case_id: uuid.UUID) -> AgendaItem | None:
    """The case's undecided item on a meeting still to come (at most one)."""
    return session.execute(
        select(AgendaItem)
        .join(Meeting, (Meeting.tenant_id == AgendaItem.tenant_id) & (Meeting.id == AgendaItem.meeting_id))
        .where(
            AgendaItem.case_id == case_id,
            AgendaItem.outcome.is_(None),
            Meeting.status == MeetingStatus.SCHEDULED,
        )
    ).scalar_one_or_none()


def add_to_agenda(
    session: TenantSession,
    case_id: uuid.UUID,
    purpose: str,
    *,
    after_the_fact: bool = False,
    urgency: int = 1,
    now: datetime | None = None,
    awaits_message: bool = True,
) -> AgendaItem:
    """Put the case on the next meeting of its series with room (idempotent: a case already waiting on an
    agenda keeps its item), then rebalance the series."""
    if purpose not in {p.value for p in Purpose}:
        raise ValueError(f"unknown agenda purpose {purpose!r}")
    now = now or utcnow()
    case = cases.get_case(session, case_id)
    existing = open_item_of(session, case.id)
    if existing is not None:
        return existing
    today = now.astimezone(JST).date()
    ensure_series(session, today=today)
    series = series_for(session, case.org_unit_id, purpose)
    upcoming = _upcoming(session, series, now) or _extend(session, series, now)
    item = AgendaItem(
        tenant_id=case.tenant_id,
        meeting_id=upcoming[0].id,
        case_id=case.id,
        purpose=Purpose.AFTER_THE_FACT.value if after_the_fact else purpose,
        after_the_fact=after_the_fact,
        urgency=min(2, max(0, urgency)),
        waiting_since=now,
        minutes=series.minutes_per_case or 15,
        # ③ an evaluation is reviewed in the meeting, but the case's own 評価 step decides its outcome
        awaits_message=awaits_message and purpose != Purpose.EVALUATION,
    )
    session.add(item)
    session.flush()
    rebalance(session, series, now=now, new_item=item.id)
    return item


def _extend(session: TenantSession, series: MeetingSeries, now: datetime) -> list[Meeting]:
    """Generate the series further ahead (one more horizon) until it has a meeting after ``now``."""
    until = max(series.generated_until or now.astimezone(JST).date(), now.astimezone(JST).date())
    for _ in range(4):
        until += timedelta(days=series.horizon_days)
        generate_until(session, series, until)
        upcoming = _upcoming(session, series, now)
        if upcoming:
            return upcoming
    raise Conflict(
        "この会議系列には今後の開催日がありません / the series has no meeting ahead", code="no_meeting"
    )


@dataclass(frozen=True)
class Moved:
    item_id: uuid.UUID
    case_id: uuid.UUID
    from_meeting: uuid.UUID
    to_meeting: uuid.UUID


def rebalance(
    session: TenantSession,
    series: MeetingSeries,
    *,
    now: datetime | None = None,
    new_item: uuid.UUID | None = None,
) -> list[Moved]:
    """Re-pour the series' waiting items into its upcoming meetings: urgency, then waiting time; each meeting
    takes ``cases_per_meeting``. Returns the items that moved to a later meeting (their consultants are told)."""
    now = now or utcnow()
    capacity = series.cases_per_meeting or 0
    if capacity <= 0:
        return []
    meetings = _upcoming(session, series, now)
    if not meetings:
        return []
    ids = [m.id for m in meetings]
    order = {m.id: i for i, m in enumerate(meetings)}
    items = list(
        session.execute(
            select(AgendaItem).where(AgendaItem.meeting_id.in_(ids), AgendaItem.outcome.is_(None))
        ).scalars()
    )
    decided = {
        mid: n
        for mid, n in _decided_counts(session, ids).items()  # decided items keep their seats
    }
    items.sort(key=lambda i: (i.urgency, i.waiting_since, i.created_at, str(i.id)))
    moved: list[Moved] = []
    slot = 0
    used = {m.id: decided.get(m.id, 0) for m in meetings}
    for item in items:
        while slot < len(meetings) and used[meetings[slot].id] >= capacity:
            slot += 1
        if slot >= len(meetings):
            meetings.extend(_more(session, series, meetings[-1]))
            for m in meetings:
                used.setdefault(m.id, 0)
                order.setdefault(m.id, len(order))
            if slot >= len(meetings):  # pragma: no cover - a series with no further dates
                break
        target = meetings[slot]
        used[target.id] += 1
        if item.meeting_id != target.id:
            later = order.get(target.id, 0) > order.get(item.meeting_id, -1)
            if later:  # a new item placed past the first meeting is overflow too
                moved.append(Moved(item.id, item.case_id, item.meeting_id, target.id))
                item.moved += 1
            item.meeting_id = target.id
        item.minutes = series.minutes_per_case or item.minutes
    _renumber(session, [m.id for m in meetings])
    session.flush()
    for change in moved:
        _notify_moved(session, change)
    return moved


def _more(session: TenantSession, series: MeetingSeries, last: Meeting) -> list[Meeting]:
    return [m for m in _extend(session, series, last.starts_at)]


def _decided_counts(session: TenantSession, meeting_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    counts: dict[uuid.UUID, int] = {}
    for mid in session.execute(
        select(AgendaItem.meeting_id).where(
            AgendaItem.meeting_id.in_(meeting_ids), AgendaItem.outcome.is_not(None)
        )
    ).scalars():
        counts[mid] = counts.get(mid, 0) + 1
    return counts


def _renumber(session: TenantSession, meeting_ids: list[uuid.UUID]) -> None:
    items = session.execute(select(AgendaItem).where(AgendaItem.meeting_id.in_(meeting_ids))).scalars()
    by_meeting: dict[uuid.UUID, list[AgendaItem]] = {}
    for item in items:
        by_meeting.setdefault(item.meeting_id, []).append(item)
    for rows in by_meeting.values():
        rows.sort(key=lambda i: (i.outcome is None, i.urgency, i.waiting_since, str(i.id)))
        for n, row in enumerate(rows, start=1):
            row.position = n


def _notify_moved(session: TenantSession, moved: Moved) -> None:
    case = cases.get_case(session, moved.case_id)
    if case.created_by is None:
        return
    notifications.notify(
        session,
        AGENDA_MOVED.key,
        [case.created_by],
        f"meetings/{moved.to_meeting}",
        key=f"meeting.agenda_moved:{moved.item_id}:{moved.to_meeting}",
        subject=("case", case.id),
    )


@dataclass(frozen=True)
class AgendaRow:
    item: AgendaItem
    starts_at: datetime  # the item's time box within the meeting
    ends_at: datetime


def agenda(session: TenantSession, meeting: Meeting) -> tuple[list[AgendaRow], int]:
    """The meeting's items in order with each one's time box, and the total minutes."""
    rows = list(
        session.execute(
            select(AgendaItem).where(AgendaItem.meeting_id == meeting.id).order_by(AgendaItem.position)
        ).scalars()
    )
    at = meeting.starts_at.astimezone(JST)
    out: list[AgendaRow] = []
    for item in rows:
        end = at + timedelta(minutes=item.minutes)
        out.append(AgendaRow(item, at, end))
        at = end
    return out, sum(i.minutes for i in rows)


def get_meeting(session: TenantSession, meeting_id: uuid.UUID) -> Meeting:
    meeting = session.get(Meeting, (session.require_tenant_id(), meeting_id))
    if meeting is None:
        raise NotFound("会議が見つかりません / meeting not found")
    return meeting


def meeting_on(session: TenantSession, series: MeetingSeries, day: date) -> Meeting | None:
    lo = datetime.combine(day, datetime.min.time(), tzinfo=JST)
    return session.execute(
        select(Meeting).where(
            Meeting.series_id == series.id,
            Meeting.starts_at >= lo,
            Meeting.starts_at < lo + timedelta(days=1),
        )
    ).scalar_one_or_none()


def next_meeting_of_kind(
    session: TenantSession, kind: str, org_unit_id: uuid.UUID | None, *, now: datetime | None = None
) -> tuple[MeetingSeries, Meeting]:
    """The next scheduled meeting of a recurring series of ``kind`` (e.g. ``support_meeting``, 支援会議) for
    ``org_unit_id`` (its unit's series, a unit above, or the tenant-wide one), or 409 when none is set up."""
    now = now or utcnow()
    ensure_series(session, today=now.astimezone(JST).date())
    chain = _units_up(session, org_unit_id)
    ranked = sorted(
        (
            s
            for s in session.execute(
                select(MeetingSeries).where(
                    MeetingSeries.active.is_(True),
                    MeetingSeries.mode == SeriesMode.RECURRING,
                    MeetingSeries.kind == kind,
                )
            ).scalars()
            if s.org_unit_id is None or s.org_unit_id in chain
        ),
        key=lambda s: (chain.index(s.org_unit_id) if s.org_unit_id in chain else len(chain), s.key),
    )
    if not ranked:
        raise Conflict(
            "この種類の定例の会議がありません / no scheduled meeting of this kind is set up",
            code="no_meeting_series",
        )
    series = ranked[0]
    upcoming = _upcoming(session, series, now) or _extend(session, series, now)
    return series, upcoming[0]
