"""Persistence of definitions, process instances, timers and incidents."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, TenantScoped, UTCDateTime, new_id, utcnow
from ..core.sealed import SealedText


class Deployment(TenantScoped, Base):
    """A versioned bundle of BPMN, DMN and form files deployed to one tenant.

    Every deployment is a new version for its tenant. New cases use the latest deployment that holds the
    process they start; running instances keep the deployment they started on.
    """

    __tablename__ = "deployment"
    __table_args__ = (UniqueConstraint("tenant_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16), default="library")  # library | upload
    #: ``{"casework/casework.bpmn": "<xml...>", "casework/forms/intake.form": "{...}", ...}``
    files: Mapped[dict[str, str]] = mapped_column(JSON)
    #: process ids defined in the bundle
    process_ids: Mapped[list[str]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProcessInstance(TenantScoped, Base):
    """One running (or finished) workflow, serialized whole, with optimistic locking on ``version``."""

    __tablename__ = "process_instance"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "deployment_id"], ["deployment.tenant_id", "deployment.id"], ondelete="RESTRICT"
        ),
        Index(None, "tenant_id", "case_id"),
        Index(None, "tenant_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    deployment_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    process_id: Mapped[str] = mapped_column(String(100))
    #: which meeting process the ``meeting`` call activity resolved to when the instance started
    meeting_process: Mapped[str] = mapped_column(String(100), default="")
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | completed | error
    #: where the process stands, for people: the ready user tasks' names, else what it waits for, else 完了.
    #: Written with the state it is read from, in the same UPDATE.
    stage: Mapped[str] = mapped_column(String(300), default="")
    #: sealed at rest with the tenant's data key (issue #16): the engine only declares it, ``core.sealed`` seals
    serialized: Mapped[str] = mapped_column(SealedText("process_instance.serialized"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - read once by the mapper


class Timer(TenantScoped, Base):
    """A BPMN timer waiting in an instance. Fired by beat with ``FOR UPDATE SKIP LOCKED``, never Celery ETA."""

    __tablename__ = "timer"
    __table_args__ = (
        UniqueConstraint("tenant_id", "process_instance_id", "task_id"),
        ForeignKeyConstraint(
            ["tenant_id", "process_instance_id"],
            ["process_instance.tenant_id", "process_instance.id"],
            ondelete="CASCADE",
        ),
        Index(
            "ix_timer_due",
            "due_at",
            postgresql_where=text("fired_at IS NULL"),
            sqlite_where=text("fired_at IS NULL"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    process_instance_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    task_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    element: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Incident(TenantScoped, Base):
    """An engine error on an instance: recorded, shown to operators, retryable. The instance stays as saved."""

    __tablename__ = "incident"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "process_instance_id"],
            ["process_instance.tenant_id", "process_instance.id"],
            ondelete="CASCADE",
        ),
        Index(None, "tenant_id", "process_instance_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    process_instance_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    element: Mapped[str] = mapped_column(String(200), default="")
    command: Mapped[str] = mapped_column(String(50))
    #: what to retry: {"command": "fire_timer", "timer_id": ...}
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
