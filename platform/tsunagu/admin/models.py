"""The record of every instance operation an administrator ran (issue #18; the audit issue #16 chains them)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, TenantScoped, UTCDateTime, new_id, utcnow


class AdminOperation(TenantScoped, Base):
    """One operation on a process instance: who, when, what, why, and how it ended.

    ``action``: ``retry`` | ``suspend`` | ``resume`` | ``terminate`` | ``migrate`` | ``migrate_dry_run``;
    ``outcome``: ``ok`` | ``refused`` (the operation did not apply: a 409/422 the admin can read) |
    ``failed`` (the workflow failed again: a new incident). Written in a transaction of its own when the
    operation's own transaction is rolled back, so a refused or failed attempt is recorded too. No foreign
    key to the instance: the record outlives what it is about.
    """

    __tablename__ = "admin_operation"
    __table_args__ = (
        Index(None, "tenant_id", "process_instance_id", "at"),
        Index(None, "tenant_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    process_instance_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    action: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(1000), default="")
    outcome: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
