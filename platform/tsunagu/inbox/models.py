"""HumanTask: one row per ready user task, so the inbox never deserializes a workflow."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKeyConstraint, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, TenantScoped, UTCDateTime, new_id, utcnow


class HumanTask(TenantScoped, Base):
    """A user task as the inbox sees it. ``id`` is the SpiffWorkflow task id."""

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
    person_name: Mapped[str] = mapped_column(String(200), default="")
    person_kana: Mapped[str] = mapped_column(String(200), default="")
    draft: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)


class SavedView(TenantScoped, Base):
    """A named inbox filter, owned by a user and optionally shared with everyone in the tenant."""

    __tablename__ = "saved_view"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "owner_id"], ["user_account.tenant_id", "user_account.id"], ondelete="CASCADE"
        ),
        Index(None, "tenant_id", "owner_id"),
        Index(None, "tenant_id", "shared"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    name: Mapped[str] = mapped_column(String(100))
    #: the inbox query string as a dict: ``{"scope": "role", "due": "overdue", "sort": "due", ...}``
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
