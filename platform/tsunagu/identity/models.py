"""User, Membership, ApiToken."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKeyConstraint,
    Index,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, TenantScoped, UTCDateTime, new_id, utcnow


class Role(enum.StrEnum):
    TENANT_ADMIN = "tenant_admin"
    CONSULTANT = "consultant"  # 相談支援員
    MUNICIPAL_STAFF = "municipal_staff"  # 自治体職員
    MEETING_SECRETARIAT = "meeting_secretariat"  # 会議事務局
    PROVIDER = "provider"  # 支援提供機関
    EXTERNAL_PARTICIPANT = "external_participant"  # 外部参加者
    AUDITOR = "auditor"  # 監査


ROLE_LABELS_JA: dict[str, str] = {
    Role.TENANT_ADMIN: "テナント管理者",
    Role.CONSULTANT: "相談支援員",
    Role.MUNICIPAL_STAFF: "自治体職員",
    Role.MEETING_SECRETARIAT: "会議事務局",
    Role.PROVIDER: "支援提供機関",
    Role.EXTERNAL_PARTICIPANT: "外部参加者",
    Role.AUDITOR: "監査担当",
}

ALL_ROLES: frozenset[str] = frozenset(r.value for r in Role)


_ROLE_BY_LABEL: dict[str, str] = {label: role for role, label in ROLE_LABELS_JA.items()}


def role_for_lane(lane: str | None) -> str | None:
    """A BPMN lane names a role by its key (``consultant``) or its Japanese label (``相談支援員``)."""
    if not lane:
        return None
    name = lane.strip()
    if name in ALL_ROLES:
        return name
    return _ROLE_BY_LABEL.get(name)


def parse_roles(raw: str | list[str]) -> list[str]:
    """``"consultant,auditor"`` → ``["auditor", "consultant"]``; unknown names raise ``ValueError``."""
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    roles = sorted({r.strip() for r in items if r.strip()})
    unknown = [r for r in roles if r not in ALL_ROLES]
    if unknown:
        raise ValueError(f"unknown role(s): {', '.join(unknown)}; known: {', '.join(sorted(ALL_ROLES))}")
    return roles


class User(TenantScoped, Base):
    """A person who signs in to one tenant. Keyed by ``(issuer, subject)`` of the tenant's identity provider."""

    __tablename__ = "user_account"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email"),
        UniqueConstraint("tenant_id", "issuer", "subject"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    issuer: Mapped[str | None] = mapped_column(String(500), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: ``ja`` or ``en`` for e-mail and the UI; ``None`` until chosen (or taken from the browser at sign-in)
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Membership(TenantScoped, Base):
    """User × tenant × org unit × roles. A user may hold several memberships (one per org unit)."""

    __tablename__ = "membership"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id", "org_unit_id"),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["user_account.tenant_id", "user_account.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["tenant_id", "org_unit_id"], ["org_unit.tenant_id", "org_unit.id"], ondelete="RESTRICT"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    org_unit_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiToken(TenantScoped, Base):
    """A bearer token for automation. Only its SHA-256 hash is stored; the token is shown once."""

    __tablename__ = "api_token"
    __table_args__ = (
        UniqueConstraint("tenant_id", "token_hash"),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["user_account.tenant_id", "user_account.id"], ondelete="CASCADE"
        ),
        Index(None, "tenant_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class UserSession(TenantScoped, Base):
    """A server-side browser session of one tenant (the session store, in production as in the demo).

    Only the SHA-256 hash of the session id is stored: the id itself lives in the browser's cookie alone, so
    a leaked table (or backup) cannot be replayed as cookies. ``user_id`` is empty before sign-in (the
    anonymous session that carries ``state``, ``nonce`` and the PKCE verifier); sign-in replaces it with a new
    session under a new id.
    """

    __tablename__ = "user_session"
    __table_args__ = (
        UniqueConstraint("tenant_id", "session_hash"),
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["user_account.tenant_id", "user_account.id"], ondelete="CASCADE"
        ),
        Index(None, "tenant_id", "user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    session_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OperatorSession(Base):
    """A server-side session of a platform operator (``/operator/``): not tenant data, so no tenant."""

    __tablename__ = "operator_session"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
