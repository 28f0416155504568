"""Consent (同意) and 支援会議 membership, as data."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, TenantScoped, UTCDateTime, new_id, utcnow


class Category(enum.StrEnum):
    """What kind of information an item is; decides which consent scope it needs."""

    GENERAL = "general"  # 一般
    SENSITIVE = "sensitive"  # 要配慮個人情報 (health, disability, DV, crime victimhood)
    TAX = "tax"  # 税務情報 (地方税法22条): consent only, always
    HOUSEHOLD = "household"  # 世帯の情報


class Source(enum.StrEnum):
    """Where an item came from (provenance)."""

    PERSON = "person"  # 本人
    CONSULTANT = "consultant"  # 相談支援員の見立て
    AGENCY = "agency"  # 他機関
    TAX_DEPARTMENT = "tax_department"  # 税務部門
    SUPPORT_MEETING = "support_meeting"  # 支援会議


class Channel(enum.StrEnum):
    SIGNED_FORM = "signed_form"  # 署名した同意書
    VERBAL_WITNESSED = "verbal_witnessed"  # 口頭（立会人あり）


class ConsentStatus(enum.StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class Consent(TenantScoped, Base):
    """同意 — the person's consent to share their information: with whom (org units, roles), what
    (categories), when, how it was given (channel, form version) and until when.

    A partial withdrawal narrows ``org_unit_ids`` / ``roles`` / ``categories`` at once (``changes`` keeps
    what was withdrawn, when, by whom); a full withdrawal sets ``status`` and reaches the case as the BPMN
    message ``consent_withdrawn``.
    """

    __tablename__ = "consent"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "case_id"], ["support_case.tenant_id", "support_case.id"], ondelete="CASCADE"
        ),
        CheckConstraint("status in ('active', 'withdrawn', 'expired')", name="status"),
        CheckConstraint("channel in ('signed_form', 'verbal_witnessed')", name="channel"),
        Index(None, "tenant_id", "case_id"),
        Index(None, "tenant_id", "status", "valid_until"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    given_on: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(32))
    witness: Mapped[str] = mapped_column(String(100), default="")
    form_version: Mapped[str] = mapped_column(String(32))
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    org_unit_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default=ConsentStatus.ACTIVE)
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class SupportMeetingMember(TenantScoped, Base):
    """支援会議の構成員 (生活困窮者自立支援法9条) — a registered member of one 支援会議 with their
    confidentiality undertaking (守秘義務の誓約: date and text version). Only members see its materials."""

    __tablename__ = "support_meeting_member"
    __table_args__ = (
        UniqueConstraint("tenant_id", "meeting_key", "user_id"),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["user_account.tenant_id", "user_account.id"], ondelete="CASCADE"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    meeting_key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    undertaking_on: Mapped[date] = mapped_column(Date)
    undertaking_version: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
