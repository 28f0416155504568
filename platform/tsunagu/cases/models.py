"""Person, Case, CaseEvent (the case's history), ProgressRecord, and HumanTask (the task projection)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, TenantScoped, UTCDateTime, new_id, utcnow
from ..core.sealed import SealedDate, SealedJSON, SealedText


class Person(TenantScoped, Base):
    """相談者 — the person seeking support."""

    __tablename__ = "person"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    # sealed at rest with the tenant's data key (issue #16); kana search goes through ``cases.people``
    name: Mapped[str] = mapped_column(SealedText("person.name"))
    name_kana: Mapped[str] = mapped_column(SealedText("person.name_kana"))
    birth_date: Mapped[date | None] = mapped_column(SealedDate("person.birth_date"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Case(TenantScoped, Base):
    """相談ケース — one consultation from intake to closure."""

    __tablename__ = "support_case"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "person_id"], ["person.tenant_id", "person.id"], ondelete="RESTRICT"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "org_unit_id"], ["org_unit.tenant_id", "org_unit.id"], ondelete="RESTRICT"
        ),
        Index(None, "tenant_id", "status"),
        UniqueConstraint("tenant_id", "number"),
        Index(None, "tenant_id", "responsible_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    #: 事例番号 — what staff say on the phone: fiscal year (和暦) + sequence, ``R8-00012`` (``cases.numbering``)
    number: Mapped[str | None] = mapped_column(String(20), nullable=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    org_unit_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    referral: Mapped[dict[str, Any] | None] = mapped_column(
        SealedJSON("support_case.referral"), nullable=True
    )
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    outcome: Mapped[str] = mapped_column(String(50), default="")
    process_instance_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    #: 担当相談支援員 — the responsible consultant (the creator by default, changed with a recorded event);
    #: the case's next consultant task is assigned to them (``cases.ownership``)
    responsible_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    #: the case sits in its 支援調整会議 (the ``meeting`` call activity is running): the case list's filter
    in_meeting: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CaseNumberCounter(TenantScoped, Base):
    """The last 事例番号 sequence given out per tenant and fiscal year (one row each, bumped in place)."""

    __tablename__ = "case_number_counter"

    fiscal_year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class CaseEvent(TenantScoped, Base):
    """One entry of a case's history: who did what, when."""

    __tablename__ = "case_event"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "case_id"], ["support_case.tenant_id", "support_case.id"], ondelete="CASCADE"
        ),
        Index(None, "tenant_id", "case_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(
        String(32)
    )  # started | task_completed | timer_fired | message | incident
    element: Mapped[str] = mapped_column(String(200), default="")
    title: Mapped[str] = mapped_column(String(300), default="")
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    task_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: ``task_completed``: the cleaned form data submitted, the case's own record of the step (the workflow
    #: state forgets finished steps, see ``engine.compaction``)
    submission: Mapped[dict[str, Any] | None] = mapped_column(
        SealedJSON("case_event.submission"), nullable=True, default=None
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProgressRecord(TenantScoped, Base):
    """支援経過記録 — one contact with the person: date, method, staff, what happened."""

    __tablename__ = "progress_record"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "case_id"], ["support_case.tenant_id", "support_case.id"], ondelete="CASCADE"
        ),
        Index(None, "tenant_id", "case_id", "record_date"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    record_date: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(16))  # visit | phone | accompany | other
    staff_name: Mapped[str] = mapped_column(String(100))
    content: Mapped[str] = mapped_column(SealedText("progress_record.content"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Provenance (issue #15): what kind of information, from where; a 支援会議 item names its meeting and
    # stays in that meeting's record until someone authorised promotes it into the case file, with a reason.
    category: Mapped[str] = mapped_column(String(16), default="general")
    source: Mapped[str] = mapped_column(String(32), default="consultant")
    meeting_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    promoted_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    promotion_reason: Mapped[str] = mapped_column(SealedText("progress_record.promotion_reason"), default="")


class HumanTask(TenantScoped, Base):
    """A ready (or finished) user task as the inbox sees it. ``id`` is the SpiffWorkflow task id.

    The projection of the engine's ready user tasks, written by one owner: ``cases.projection`` (from each
    command's result, on the one advance path). The inbox reads it and writes only assignment and drafts.
    """

    __tablename__ = "human_task"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "process_instance_id"],
            ["process_instance.tenant_id", "process_instance.id"],
            ondelete="CASCADE",
        ),
        # my tasks
        Index("ix_human_task_assignee", "tenant_id", "assignee_id", "state", "due_at"),
        # my roles' unclaimed tasks in my org unit
        Index("ix_human_task_role_unit", "tenant_id", "role", "org_unit_id", "state", "due_at"),
        # overdue / due soon
        Index("ix_human_task_due", "tenant_id", "state", "due_at"),
        Index("ix_human_task_case", "tenant_id", "case_id"),
        # the ready tasks of one instance (what a command cancels); partial: ready rows are few
        Index(
            "ix_human_task_instance_ready",
            "tenant_id",
            "process_instance_id",
            postgresql_where=text("state = 'ready'"),
            sqlite_where=text("state = 'ready'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    process_instance_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    org_unit_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    element: Mapped[str] = mapped_column(String(200))  # BPMN element id
    title: Mapped[str] = mapped_column(String(300))
    lane: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(50), default="")
    candidate_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    form_key: Mapped[str] = mapped_column(String(100), default="")
    state: Mapped[str] = mapped_column(String(16), default="ready")  # ready | completed | cancelled
    priority: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    person_name: Mapped[str] = mapped_column(SealedText("human_task.person_name"), default="")
    person_kana: Mapped[str] = mapped_column(SealedText("human_task.person_kana"), default="")
    draft: Mapped[dict[str, Any] | None] = mapped_column(SealedJSON("human_task.draft"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
