"""Notifications and their deliveries, users' preferences, digest runs and calendar entries.

A :class:`Notification` is one event for one recipient — unique per ``(tenant, event key, recipient)``, so the
same event notified twice is one row. Each channel that must carry it beyond the in-app centre has a
:class:`Delivery` with its own state (``pending → sending → sent | failed``), attempts and last error. Rows hold
ids, a kind, a link and counts: never a person's name or a case's text (the list page looks those up at read
time, through the permission rules of the module that owns them).
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
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, TenantScoped, UTCDateTime, new_id, utcnow


class Mode(enum.StrEnum):
    """How a user wants a kind of notification: the in-app centre always, and e-mail now, later or never."""

    IN_APP = "in_app"  # in-app only
    EMAIL = "email"  # in-app and an e-mail at once
    DIGEST = "digest"  # in-app, and counted in the next daily digest e-mail


class EmailMode(enum.StrEnum):
    """What a notification row asks of e-mail, fixed when it is made (from the recipient's preference)."""

    NONE = "none"
    IMMEDIATE = "immediate"
    DIGEST = "digest"


class DeliveryState(enum.StrEnum):
    PENDING = "pending"  # waiting for its first or next attempt (``next_attempt_at``)
    SENDING = "sending"  # claimed by a worker until ``lease_until``
    SENT = "sent"  # the SMTP server accepted the message
    FAILED = "failed"  # given up: shown to the tenant's administrators, who may retry it


class Channel(enum.StrEnum):
    EMAIL = "email"


_USER_FK = (["tenant_id", "recipient_id"], ["user_account.tenant_id", "user_account.id"])
_UNREAD = "read_at IS NULL AND in_app"


class Notification(TenantScoped, Base):
    """One event for one recipient."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("tenant_id", "event_key", "recipient_id"),
        ForeignKeyConstraint(*_USER_FK, ondelete="CASCADE"),
        CheckConstraint("email_mode IN ('none', 'immediate', 'digest')", name="email_mode"),
        Index(None, "tenant_id", "recipient_id", "created_at"),
        # The bell: a recipient's unread count stays an index-only scan of their own unread rows.
        Index(
            "ix_notification_unread",
            "tenant_id",
            "recipient_id",
            postgresql_where=text(_UNREAD),
            sqlite_where=text(_UNREAD),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    #: what happened, stable across redeliveries: ``task.assigned:<task>:<when>``, ``digest:2027-01-04``
    event_key: Mapped[str] = mapped_column(String(200))
    recipient_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    kind: Mapped[str] = mapped_column(String(64))
    #: a path inside the tenant (``tasks/<id>``); e-mail makes it absolute, the web prefixes ``/t/<slug>/``
    link: Mapped[str] = mapped_column(String(500), default="")
    #: what the notification is about, for the read-time permission check (``task``/<id>, ``case``/<id>)
    subject_type: Mapped[str] = mapped_column(String(32), default="")
    subject_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    #: counts and calendar facts only (see ``services.notify``)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    in_app: Mapped[bool] = mapped_column(Boolean, default=True)
    email_mode: Mapped[str] = mapped_column(String(16), default=EmailMode.NONE.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: when a digest e-mail counted it (``email_mode = 'digest'``)
    digested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


_FAILED = "state = 'failed'"
_OPEN = "state IN ('pending', 'sending')"


class Delivery(TenantScoped, Base):
    """One notification on one channel, with the state of getting it there."""

    __tablename__ = "notification_delivery"
    __table_args__ = (
        UniqueConstraint("tenant_id", "notification_id", "channel"),
        ForeignKeyConstraint(
            ["tenant_id", "notification_id"],
            ["notification.tenant_id", "notification.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("state IN ('pending', 'sending', 'sent', 'failed')", name="state"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index(
            "ix_notification_delivery_failed",
            "tenant_id",
            "failed_at",
            postgresql_where=text(_FAILED),
            sqlite_where=text(_FAILED),
        ),
        Index(
            "ix_notification_delivery_open",
            "tenant_id",
            "next_attempt_at",
            postgresql_where=text(_OPEN),
            sqlite_where=text(_OPEN),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    notification_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    channel: Mapped[str] = mapped_column(String(16), default=Channel.EMAIL.value)
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: derived from (tenant, event key, recipient, channel): the same for every attempt
    message_id: Mapped[str] = mapped_column(String(255))
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: the claim of the worker sending it now; a worker whose claim was taken over writes nothing
    claim_token: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Preference(TenantScoped, Base):
    """A user's choice for one kind; without a row the kind's default applies."""

    __tablename__ = "notification_preference"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "user_id"], ["user_account.tenant_id", "user_account.id"], ondelete="CASCADE"
        ),
        CheckConstraint("mode IN ('in_app', 'email', 'digest')", name="mode"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class DigestRun(TenantScoped, Base):
    """The daily reminders of one tenant on one local date ran (digests and escalations): at most once."""

    __tablename__ = "notification_digest_run"

    on_date: Mapped[date] = mapped_column(Date, primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    digests: Mapped[int] = mapped_column(Integer, default=0)
    escalations: Mapped[int] = mapped_column(Integer, default=0)


class CalendarEntry(TenantScoped, Base):
    """An event sent as calendar invitations: its stable UID and the SEQUENCE of its latest version."""

    __tablename__ = "calendar_entry"

    uid: Mapped[str] = mapped_column(String(255), primary_key=True)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    #: SHA-256 of the last version's facts: a call with the same facts bumps nothing
    fingerprint: Mapped[str] = mapped_column(String(64))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
