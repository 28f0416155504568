"""Meeting series, meetings (occurrences and ad hoc), agenda items with their decisions, participants.

A :class:`MeetingSeries` is one recurring meeting of one org unit (each Yokohama ward has its own), made from
the tenant's preset (``[[meetings.series]]``) or an ad hoc template (``[[meetings.adhoc]]``, no recurrence).
A :class:`Meeting` is one date of a series — generated ahead up to the series' horizon — or one ad hoc meeting
convened for a case. Dates beyond the horizon are not stored: they are computed from the series and shown as
*planned* (``recurrence.py``). An :class:`AgendaItem` is one case on one meeting, with its time box and, once
the meeting decided, its decision. A :class:`MeetingParticipant` is one person invited or attending, with the
reply to an ad hoc invitation and any written input (書面での意見).
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, TenantScoped, UTCDateTime, new_id, utcnow


class SeriesMode(enum.StrEnum):
    RECURRING = "recurring"  # 定例: a calendar (RRULE)
    ADHOC = "adhoc"  # 随時: a template ad hoc meetings are convened from


class MeetingStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    HELD = "held"  # minutes closed


class Purpose(enum.StrEnum):
    """Why a case is on an agenda (付議の目的)."""

    NEW_PLAN = "new_plan"  # ① プラン（新規）
    PLAN_CHANGE = "plan_change"  # プラン変更（再プラン）
    EVALUATION = "evaluation"  # ③ プラン終了時の評価
    AFTER_THE_FACT = "after_the_fact"  # 事後報告・了承 (support already started)


class Outcome(enum.StrEnum):
    APPROVE = "approve"  # 承認
    APPROVE_WITH_CHANGES = "approve_with_changes"  # 修正のうえ承認
    REVISE = "revise"  # 差し戻し（プラン再作成）
    REJECT = "reject"  # 不承認
    POSTPONE = "postpone"  # 継続審議（次回へ）


class Reply(enum.StrEnum):
    PENDING = "pending"
    ATTEND = "attend"
    DECLINE = "decline"


PURPOSES = tuple(p.value for p in Purpose)
OUTCOMES = tuple(o.value for o in Outcome)
PARTICIPANT_KINDS = ("municipal", "consultant", "person", "provider", "external", "reviewer", "member")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class MeetingSeries(TenantScoped, Base):
    """支援調整会議などの開催系列 — one recurring meeting (or ad hoc template) of one org unit."""

    __tablename__ = "meeting_series"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key", "unit_code"),
        CheckConstraint(_in("mode", tuple(m.value for m in SeriesMode)), name="mode"),
        CheckConstraint(
            "holiday_policy IN ('skip', 'next_business_day', 'previous_business_day')", name="holiday_policy"
        ),
        CheckConstraint("duration_minutes > 0 AND duration_minutes <= 1440", name="duration"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64))
    #: the org unit's code ("" for a tenant-wide series); the unit itself by id
    unit_code: Mapped[str] = mapped_column(String(64), default="")
    org_unit_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    mode: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    rrule: Mapped[str] = mapped_column(String(500), default="")
    first_date: Mapped[date] = mapped_column(Date)
    start_time: Mapped[str] = mapped_column(String(5), default="10:00")
    duration_minutes: Mapped[int] = mapped_column(Integer, default=60)
    venue: Mapped[str] = mapped_column(String(200), default="")
    cases_per_meeting: Mapped[int | None] = mapped_column(Integer, nullable=True)
    minutes_per_case: Mapped[int | None] = mapped_column(Integer, nullable=True)
    core_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    core_members: Mapped[list[str]] = mapped_column(JSON, default=list)
    guest_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    holiday_policy: Mapped[str] = mapped_column(String(32), default="skip")
    year_end_closure: Mapped[bool] = mapped_column(Boolean, default=True)
    horizon_days: Mapped[int] = mapped_column(Integer, default=90)
    evaluation_in_meeting: Mapped[bool] = mapped_column(Boolean, default=False)
    person_attends: Mapped[bool] = mapped_column(Boolean, default=False)
    participants: Mapped[str] = mapped_column(
        String(32), default=""
    )  # ad hoc: internal_only / ..._and_external
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: the latest date occurrences were generated up to
    generated_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def takes_cases(self) -> bool:
        return self.kind in ("case_review", "support_meeting") and bool(self.cases_per_meeting)


class Meeting(TenantScoped, Base):
    """One meeting: a date of a series (``occurrence_date`` = the date the rule gave) or an ad hoc meeting."""

    __tablename__ = "meeting"
    __table_args__ = (
        UniqueConstraint("tenant_id", "series_id", "occurrence_date"),
        ForeignKeyConstraint(
            ["tenant_id", "series_id"], ["meeting_series.tenant_id", "meeting_series.id"], ondelete="RESTRICT"
        ),
        CheckConstraint(_in("status", tuple(s.value for s in MeetingStatus)), name="status"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index(None, "tenant_id", "starts_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    series_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    org_unit_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    #: the date the recurrence gave (kept when the meeting is moved); None for ad hoc meetings
    occurrence_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    title: Mapped[str] = mapped_column(String(200))
    venue: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default=MeetingStatus.SCHEDULED)
    adhoc: Mapped[bool] = mapped_column(Boolean, default=False)
    #: ad hoc: the case it was convened for
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    #: a holiday moved it (next business day) — shown on the calendar
    moved_for_holiday: Mapped[bool] = mapped_column(Boolean, default=False)
    minutes: Mapped[str] = mapped_column(Text, default="")  # 議事録
    cancel_reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class AgendaItem(TenantScoped, Base):
    """One case on one meeting's agenda (議題), with its decision once made."""

    __tablename__ = "meeting_agenda_item"
    __table_args__ = (
        UniqueConstraint("tenant_id", "meeting_id", "case_id"),
        ForeignKeyConstraint(
            ["tenant_id", "meeting_id"], ["meeting.tenant_id", "meeting.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "case_id"], ["support_case.tenant_id", "support_case.id"], ondelete="CASCADE"
        ),
        CheckConstraint(_in("purpose", PURPOSES), name="purpose"),
        CheckConstraint(f"outcome IS NULL OR {_in('outcome', OUTCOMES)}", name="outcome"),
        CheckConstraint("urgency BETWEEN 0 AND 2", name="urgency"),
        Index(None, "tenant_id", "case_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    meeting_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    purpose: Mapped[str] = mapped_column(String(32))
    after_the_fact: Mapped[bool] = mapped_column(Boolean, default=False)
    #: 0 = high (緊急), 1 = normal, 2 = low: the agenda is ordered by urgency, then waiting time
    urgency: Mapped[int] = mapped_column(Integer, default=1)
    waiting_since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    position: Mapped[int] = mapped_column(Integer, default=0)
    minutes: Mapped[int] = mapped_column(Integer, default=15)  # time box
    #: times the item was moved to a later meeting (capacity, cancellation, postponement)
    moved: Mapped[int] = mapped_column(Integer, default=0)
    #: True while the case waits for this decision in its workflow (False: record-only, e.g. 事後 reports)
    awaits_message: Mapped[bool] = mapped_column(Boolean, default=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    roles: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{"provider", "role"}]
    next_review_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MeetingParticipant(TenantScoped, Base):
    """One person invited to or attending a meeting (出席者), with their reply and written input."""

    __tablename__ = "meeting_participant"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "meeting_id"], ["meeting.tenant_id", "meeting.id"], ondelete="CASCADE"
        ),
        CheckConstraint(_in("kind", PARTICIPANT_KINDS), name="kind"),
        CheckConstraint(_in("reply", tuple(r.value for r in Reply)), name="reply"),
        Index(None, "tenant_id", "meeting_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    meeting_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(16))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    reply: Mapped[str] = mapped_column(String(16), default=Reply.PENDING)
    written_input: Mapped[str] = mapped_column(Text, default="")
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attended: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    condition_note: Mapped[str] = mapped_column(String(500), default="")  # 本人の体調など
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ResourceGap(TenantScoped, Base):
    """④ 地域に不足する社会資源 — what was missing, where, for whom (anonymised: an age band, never a name)."""

    __tablename__ = "meeting_resource_gap"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'taken_up', 'addressed')", name="status"),
        Index(None, "tenant_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    org_unit_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    category: Mapped[str] = mapped_column(String(64))  # transport, housing, work, ...
    description: Mapped[str] = mapped_column(String(1000))
    area: Mapped[str] = mapped_column(String(200), default="")
    who: Mapped[str] = mapped_column(String(200), default="")  # anonymised: "60代・単身"
    status: Mapped[str] = mapped_column(String(16), default="open")
    #: the network meeting that took it up, and what came of it (a new place created, a contact established)
    meeting_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    outcome: Mapped[str] = mapped_column(String(1000), default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MeetingFeed(TenantScoped, Base):
    """A revocable secret iCalendar feed URL for one user or one series (only the token's hash is stored)."""

    __tablename__ = "meeting_feed"
    __table_args__ = (UniqueConstraint("tenant_id", "token_hash"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    series_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
