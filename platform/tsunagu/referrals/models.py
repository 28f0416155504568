"""PartnerOrganisation, PartnerMember, Referral, ReferralAttachment, CooperationRequest, DepartmentFlag.

Every table is a tenant table (``tenant_id`` leads each key). A referral's personal data (name, kana, birth
date) stays on the referral row until a consultant accepts it; only then does a case (consent-based) hold it.
A department flag never names a case: it lives beside the 支援会議 meeting it is put on.
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
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, TenantScoped, UTCDateTime, new_id, utcnow
from ..tenancy.preset_schema import PARTNER_KINDS


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class ReferralStatus(enum.StrEnum):
    """What the referrer is told: 受付済 (received), 対応中 (a case works on it), 終了 (its case closed)."""

    RECEIVED = "received"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


class CooperationStatus(enum.StrEnum):
    SENT = "sent"  # 依頼済
    ACCEPTED = "accepted"  # 受諾
    DECLINED = "declined"  # 辞退
    REPORTED = "reported"  # 報告済


URGENCIES = ("high", "normal", "low")
REFERRAL_STATUSES = tuple(s.value for s in ReferralStatus)
COOPERATION_STATUSES = tuple(s.value for s in CooperationStatus)


class PartnerOrganisation(TenantScoped, Base):
    """関係機関 — an agency (社会福祉法106条の2) or a municipal department that connects people in."""

    __tablename__ = "partner_org"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        ForeignKeyConstraint(
            ["tenant_id", "org_unit_id"], ["org_unit.tenant_id", "org_unit.id"], ondelete="RESTRICT"
        ),
        CheckConstraint(_in("kind", PARTNER_KINDS), name="kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    #: the org unit its referrals go to (whose inbox shows them)
    org_unit_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    contact_phone: Mapped[str] = mapped_column(String(20), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    #: 情報共有に関する協定: the date the data-sharing agreement was signed (None: no agreement on file)
    agreement_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class PartnerMember(TenantScoped, Base):
    """A partner's user, by the e-mail address the tenant's identity provider vouches for: signing in with it
    (role 外部参加者) makes the user act for that partner, and for that partner only."""

    __tablename__ = "partner_member"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email"),
        ForeignKeyConstraint(
            ["tenant_id", "partner_id"], ["partner_org.tenant_id", "partner_org.id"], ondelete="CASCADE"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    partner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Referral(TenantScoped, Base):
    """相談のつなぎ — a person connected in by a partner; accepted into a new case or joined to one."""

    __tablename__ = "referral"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "partner_id"], ["partner_org.tenant_id", "partner_org.id"], ondelete="RESTRICT"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "org_unit_id"], ["org_unit.tenant_id", "org_unit.id"], ondelete="RESTRICT"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "case_id"], ["support_case.tenant_id", "support_case.id"], ondelete="SET NULL"
        ),
        CheckConstraint(_in("status", REFERRAL_STATUSES), name="status"),
        CheckConstraint(_in("urgency", URGENCIES), name="urgency"),
        Index(None, "tenant_id", "partner_id", "created_at"),
        Index(None, "tenant_id", "org_unit_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    partner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    org_unit_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    status: Mapped[str] = mapped_column(String(16), default=ReferralStatus.RECEIVED)
    #: 匿名: the person has not consented yet, so no name, kana or birth date is sent
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    person_name: Mapped[str] = mapped_column(String(200), default="")
    person_kana: Mapped[str] = mapped_column(String(200), default="")
    birth_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: the 16 consultation topics (相談受付・申込票); ``main_topic`` is the most pressing (◎)
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    main_topic: Mapped[str] = mapped_column(String(32), default="")
    urgency: Mapped[str] = mapped_column(String(8), default="normal")
    reason: Mapped[str] = mapped_column(Text, default="")
    actions_taken: Mapped[str] = mapped_column(Text, default="")  # what the referrer already did
    #: the person's consent to the referral: ``{"status", "given_on", "channel", "categories", "feedback"}``
    consent: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    contact_phone: Mapped[str] = mapped_column(String(20), default="")
    case_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    joined_existing: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    accepted_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ReferralAttachment(TenantScoped, Base):
    """A file sent with a referral (PDF, PNG or JPEG, checked by its first bytes; size-limited)."""

    __tablename__ = "referral_attachment"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "referral_id"], ["referral.tenant_id", "referral.id"], ondelete="CASCADE"
        ),
        Index(None, "tenant_id", "referral_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    referral_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CooperationRequest(TenantScoped, Base):
    """支援の依頼 — a case asks a partner for support (106条の2 in the other direction)."""

    __tablename__ = "cooperation_request"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "case_id"], ["support_case.tenant_id", "support_case.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "partner_id"], ["partner_org.tenant_id", "partner_org.id"], ondelete="RESTRICT"
        ),
        CheckConstraint(_in("status", COOPERATION_STATUSES), name="status"),
        Index(None, "tenant_id", "case_id"),
        Index(None, "tenant_id", "partner_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    partner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    request: Mapped[str] = mapped_column(Text)  # what is asked
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=CooperationStatus.SENT)
    response: Mapped[str] = mapped_column(Text, default="")  # why declined, or what was agreed
    report: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    responded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class DepartmentFlag(TenantScoped, Base):
    """早期把握 — a department's note that someone may be in hardship, shared without the person's consent
    (only what 生活困窮者自立支援法9条 lets a 支援会議 member share). It goes on the next 支援会議 and stays
    in that meeting's record; it never names or opens a case."""

    __tablename__ = "department_flag"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "partner_id"], ["partner_org.tenant_id", "partner_org.id"], ondelete="RESTRICT"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "meeting_id"], ["meeting.tenant_id", "meeting.id"], ondelete="SET NULL"
        ),
        Index(None, "tenant_id", "meeting_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    partner_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    meeting_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    #: the 支援会議 series key (``sharing``'s meeting key: its registered members see the flag)
    meeting_key: Mapped[str] = mapped_column(String(64), default="")
    signs: Mapped[list[str]] = mapped_column(JSON, default=list)  # of the 16 topics
    summary: Mapped[str] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
