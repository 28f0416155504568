"""Tenant and OrgUnit."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKeyConstraint,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, TenantScoped, UTCDateTime, new_id, utcnow


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Tenant(Base):
    """A municipality (自治体). Not tenant-scoped itself: it is the registry every request resolves against."""

    __tablename__ = "tenant"
    __table_args__ = (
        CheckConstraint("status in ('active', 'suspended')", name="status"),
        CheckConstraint("population >= 0", name="population"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_kana: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    prefecture_code: Mapped[str] = mapped_column(String(2))
    population: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=TenantStatus.ACTIVE)
    #: Validated preset sections (meetings, identity provider, workflow settings), see ``presets.py``.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def is_active(self) -> bool:
        return self.status == TenantStatus.ACTIVE


class OrgUnitKind(enum.StrEnum):
    WARD = "ward"  # 区
    DEPARTMENT = "department"  # 課・部
    SECTION = "section"  # 係
    AGENCY = "agency"  # 委託先・関係機関


class OrgUnit(TenantScoped, Base):
    """An organisational unit: a ward (区), a department (課), or a contracted agency (委託先)."""

    __tablename__ = "org_unit"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        ForeignKeyConstraint(
            ["tenant_id", "parent_id"], ["org_unit.tenant_id", "org_unit.id"], ondelete="RESTRICT"
        ),
        CheckConstraint("kind in ('ward', 'department', 'section', 'agency')", name="kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    name_kana: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class OrgUnitOversight(TenantScoped, Base):
    """``overseer`` oversees ``overseen``: the municipality's unit over the agency it contracted the
    consultation to (委託先). Its staff see and decide on the cases the agency holds without being members
    of the agency's unit (``identity.principal.OVERSIGHT_ROLES``). Declared in presets (``oversees``)."""

    __tablename__ = "org_unit_oversight"
    __table_args__ = (
        UniqueConstraint("tenant_id", "overseer_id", "overseen_id"),
        ForeignKeyConstraint(
            ["tenant_id", "overseer_id"], ["org_unit.tenant_id", "org_unit.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "overseen_id"], ["org_unit.tenant_id", "org_unit.id"], ondelete="CASCADE"
        ),
        CheckConstraint("overseer_id <> overseen_id", name="not_self"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    overseer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    overseen_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
