"""Inbox-owned rows: saved views. (The task projection, ``HumanTask``, is ``cases.models``'.)"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKeyConstraint, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, TenantScoped, UTCDateTime, new_id, utcnow


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
