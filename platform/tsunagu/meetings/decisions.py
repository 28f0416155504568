"""During and after a meeting: attendance, a decision per agenda item, minutes, and the 事後報告 ratio.

Recording a decision moves the case on through the one advance path: the ``meeting_decided`` BPMN message
(``cases.services.deliver_message``), in the same transaction — a decision the workflow refuses is not stored.
``postpone`` (継続審議) sends nothing: the item goes onto the series' next meeting.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ..cases import services as cases
from ..core.db import utcnow
from ..core.errors import Conflict, NotFound
from ..core.session import TenantSession
from .agenda import rebalance
from .errors import invalid
from .models import (
    OUTCOMES,
    PARTICIPANT_KINDS,
    AgendaItem,
    Meeting,
    MeetingParticipant,
    MeetingSeries,
    MeetingStatus,
    Outcome,
    Purpose,
)
from .series import tenant_row

#: outcome → the ``decision`` the meeting processes understand (``meeting_decision_map``)
MESSAGE_DECISION = {
    Outcome.APPROVE: "approve",
    Outcome.APPROVE_WITH_CHANGES: "approve",
    Outcome.REVISE: "revise",
    Outcome.REJECT: "reject",
}
RATIO_WINDOW_DAYS = 180
PLAN_PURPOSES = (Purpose.NEW_PLAN.value, Purpose.PLAN_CHANGE.value, Purpose.AFTER_THE_FACT.value)


def _text(value: Any, field: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(field, "文字列で入力してください / must be text")
    if len(value) > limit:
        raise invalid(field, f"{limit}文字以内で入力してください / at most {limit} characters")
    return value


def _roles(value: Any) -> list[dict[str, str]]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or len(value) > 50:
        raise invalid("roles", "役割の一覧（50件まで）/ a list of at most 50 roles")
    out: list[dict[str, str]] = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) - {"provider", "role"}:
            raise invalid("roles", '各要素は {"provider", "role"} / each entry is {"provider", "role"}')
        out.append(
            {
                "provider": _text(entry.get("provider"), "roles", 200),
                "role": _text(entry.get("role"), "roles", 500),
            }
        )
    return out


def _review_date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise invalid("next_review_date", "YYYY-MM-DD の日付 / a date YYYY-MM-DD") from None


def record_decision(
    session: TenantSession,
    meeting: Meeting,
    case_id: uuid.UUID,
    outcome: str,
    *,
    notes: Any = "",
    roles: Any = None,
    next_review_date: Any = None,
    actor_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> AgendaItem:
    """Decide the case's item on ``meeting`` and send the decision to the case's workflow."""
    if outcome not in OUTCOMES:
        raise invalid("outcome", f"{', '.join(OUTCOMES)} のいずれか / one of {', '.join(OUTCOMES)}")
    if meeting.status == MeetingStatus.CANCELLED:
        raise Conflict("取り消された会議です / the meeting was cancelled", code="meeting_cancelled")
    item = session.execute(
        select(AgendaItem).where(AgendaItem.meeting_id == meeting.id, AgendaItem.case_id == case_id)
    ).scalar_one_or_none()
    if item is None:
        raise NotFound("このケースはこの会議の議題にありません / the case is not on this meeting's agenda")
    if item.outcome is not None:
        raise Conflict("この議題は決定済みです / this item was already decided", code="already_decided")
    item.notes = _text(notes, "notes", 10_000)
    item.roles = _roles(roles)
    item.next_review_date = _review_date(next_review_date)
    now = now or utcnow()
    if outcome == Outcome.POSTPONE:
        # 継続審議: the item stays waiting and goes onto the next meeting (it keeps its waiting time)
        series = session.get(MeetingSeries, (meeting.tenant_id, meeting.series_id))
        if series is None or meeting.adhoc:
            raise Conflict(
                "随時会議は延期できません / an ad hoc meeting cannot postpone", code="no_next_meeting"
            )
        item.moved += 1
        session.flush()
        _postpone(session, series, item, meeting)
        return item
    item.outcome = outcome
    item.decided_at = now
    item.decided_by = actor_id
    session.flush()
    if item.awaits_message:
        case = cases.get_case(session, case_id)
        cases.deliver_message(
            session,
            case,
            "meeting_decided",
            {"decision": MESSAGE_DECISION[Outcome(outcome)]},
            actor_id=actor_id,
        )
    return item


def _postpone(session: TenantSession, series: MeetingSeries, item: AgendaItem, meeting: Meeting) -> None:
    after = meeting.starts_at
    nxt = session.execute(
        select(Meeting)
        .where(
            Meeting.series_id == series.id,
            Meeting.status == MeetingStatus.SCHEDULED,
            Meeting.starts_at > after,
        )
        .order_by(Meeting.starts_at)
        .limit(1)
    ).scalar_one_or_none()
    if nxt is None:
        from .agenda import _extend

        nxt = _extend(session, series, after)[0]
    item.meeting_id = nxt.id
    session.flush()
    rebalance(session, series, now=after)


# --- attendance and minutes -------------------------------------------------------------------------------


def record_attendance(session: TenantSession, meeting: Meeting, entries: Any) -> list[MeetingParticipant]:
    """Replace the meeting's attendance: ``[{"name", "kind", "attended", "organisation"?, "user_id"?,
    "condition_note"?}]``. Municipal staff and the consultant are required; a reviewer where the tenant asks."""
    if not isinstance(entries, list) or not entries or len(entries) > 200:
        raise invalid("attendance", "出席者の一覧（1〜200件）/ a list of 1 to 200 attendees")
    existing = {
        p.id: p
        for p in session.execute(
            select(MeetingParticipant).where(MeetingParticipant.meeting_id == meeting.id)
        ).scalars()
    }
    by_name = {(p.name, p.kind): p for p in existing.values()}
    out: list[MeetingParticipant] = []
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise invalid(f"attendance[{n}]", "オブジェクト / an object")
        kind = entry.get("kind")
        if kind not in PARTICIPANT_KINDS:
            raise invalid(f"attendance[{n}].kind", f"one of {', '.join(PARTICIPANT_KINDS)}")
        name = _text(entry.get("name"), f"attendance[{n}].name", 200).strip()
        if not name:
            raise invalid(f"attendance[{n}].name", "氏名は必須です / name is required")
        attended = entry.get("attended")
        if not isinstance(attended, bool):
            raise invalid(f"attendance[{n}].attended", "true / false")
        row = by_name.get((name, kind))
        if row is None:
            row = MeetingParticipant(tenant_id=meeting.tenant_id, meeting_id=meeting.id, name=name, kind=kind)
            session.add(row)
        row.organisation = _text(entry.get("organisation"), f"attendance[{n}].organisation", 200)
        row.condition_note = _text(entry.get("condition_note"), f"attendance[{n}].condition_note", 500)
        row.attended = attended
        row.required = kind in ("municipal", "consultant", "reviewer")
        out.append(row)
    present = {p.kind for p in out if p.attended}
    missing = [k for k in required_kinds(session) if k not in present]
    if missing:
        raise invalid("attendance", f"出席が必要です / required to attend: {', '.join(missing)}")
    session.flush()
    return out


def required_kinds(session: TenantSession) -> list[str]:
    """Municipal staff and the consultant attend in principle; an objective reviewer where the tenant asks."""
    settings = tenant_row(session).settings or {}
    kinds = ["municipal", "consultant"]
    if (settings.get("meetings") or {}).get("require_reviewer"):
        kinds.append("reviewer")
    return kinds


def record_minutes(session: TenantSession, meeting: Meeting, text: Any, *, close: bool = False) -> Meeting:
    meeting.minutes = _text(text, "minutes", 50_000)
    if close:
        meeting.status = MeetingStatus.HELD
    session.flush()
    return meeting


# --- the 事後報告 ratio ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AfterTheFactRatio:
    """Plans decided over the window, how many of them after support had begun, and the tenant's threshold."""

    decided: int
    after_the_fact: int
    threshold: float | None
    window_days: int

    @property
    def ratio(self) -> float:
        return self.after_the_fact / self.decided if self.decided else 0.0

    @property
    def warning(self) -> bool:
        return self.threshold is not None and self.decided > 0 and self.ratio > self.threshold


def after_the_fact_ratio(
    session: TenantSession,
    series: MeetingSeries,
    *,
    now: datetime | None = None,
    window_days: int = RATIO_WINDOW_DAYS,
) -> AfterTheFactRatio:
    """形骸化の指標: the share of plans this series approved after support had already begun (rolling window)."""
    now = now or utcnow()
    rows = session.execute(
        select(AgendaItem.after_the_fact)
        .join(Meeting, (Meeting.tenant_id == AgendaItem.tenant_id) & (Meeting.id == AgendaItem.meeting_id))
        .where(
            Meeting.series_id == series.id,
            AgendaItem.outcome.in_((Outcome.APPROVE.value, Outcome.APPROVE_WITH_CHANGES.value)),
            AgendaItem.purpose.in_(PLAN_PURPOSES),
            AgendaItem.decided_at >= now - timedelta(days=window_days),
        )
    ).scalars()
    flags = list(rows)
    workflow = (tenant_row(session).settings or {}).get("workflow") or {}
    threshold = workflow.get("after_the_fact_report_warn_ratio")
    return AfterTheFactRatio(len(flags), sum(1 for f in flags if f), threshold, window_days)
