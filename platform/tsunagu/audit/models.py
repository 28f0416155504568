"""Audit tables: the entries (append-only) and each tenant's chain head (the per-tenant lock)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, TenantScoped, UTCDateTime, new_id, utcnow


class AuditEntry(TenantScoped, Base):
    """One audited event, number ``seq`` in its tenant's chain.

    ``hash = HMAC(key, prev_hash + canonical JSON of the entry)`` (:func:`.chain.entry_hash`). The application
    role may INSERT and SELECT only, and a trigger refuses UPDATE and DELETE for every role (migration 0017).
    No foreign keys: the record outlives what it is about.
    """

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index(None, "tenant_id", "at"),
        Index(None, "tenant_id", "case_id", "at"),
        Index(None, "tenant_id", "actor_id", "at"),
        Index(None, "tenant_id", "action", "at"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    id: Mapped[uuid.UUID] = mapped_column(Uuid, default=new_id, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    #: who, readable without a join (e-mail, or ``system``/``operator:...``)
    actor_label: Mapped[str] = mapped_column(String(320), default="")
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    #: the person's case this entry is about, if any (search "by person")
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    #: why access was allowed (the permission module's reason), for reads and exports of personal data
    legal_basis: Mapped[str | None] = mapped_column(String(200), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(TenantScoped, Base):
    """The last entry of a tenant's chain. Locked FOR UPDATE by every writer: one chain, never a fork."""

    __tablename__ = "audit_chain_head"

    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    head_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
