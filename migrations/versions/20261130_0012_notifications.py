"""Notifications: notification, notification_delivery, notification_preference, notification_digest_run,
calendar_entry (all tenant tables with RLS), and user_account.language.

Revision ID: 0012
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tsunagu.core.db import UTCDateTime
from tsunagu.core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None

TENANT_TABLES = (
    "notification",
    "notification_delivery",
    "notification_preference",
    "notification_digest_run",
    "calendar_entry",
)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenant.id"], name=op.f(f"fk_{table}_tenant_id_tenant"), ondelete="RESTRICT"
    )


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))

    op.create_table(
        "notification",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_key", sa.String(length=200), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("in_app", sa.Boolean(), nullable=False),
        sa.Column("email_mode", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("read_at", UTCDateTime(), nullable=True),
        sa.Column("digested_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "email_mode IN ('none', 'immediate', 'digest')", name=op.f("ck_notification_email_mode")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "recipient_id"],
            ["user_account.tenant_id", "user_account.id"],
            name=op.f("fk_notification_tenant_id_recipient_id_user_account"),
            ondelete="CASCADE",
        ),
        _tenant_fk("notification"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_notification")),
        sa.UniqueConstraint(
            "tenant_id",
            "event_key",
            "recipient_id",
            name=op.f("uq_notification_tenant_id_event_key_recipient_id"),
        ),
    )
    op.create_index(op.f("ix_notification_tenant_id"), "notification", ["tenant_id"])
    op.create_index(
        op.f("ix_notification_tenant_id_recipient_id_created_at"),
        "notification",
        ["tenant_id", "recipient_id", "created_at"],
    )
    op.create_index(
        "ix_notification_unread",
        "notification",
        ["tenant_id", "recipient_id"],
        postgresql_where=sa.text("read_at IS NULL AND in_app"),
        sqlite_where=sa.text("read_at IS NULL AND in_app"),
    )

    op.create_table(
        "notification_delivery",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("notification_id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("claim_token", sa.Uuid(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("failed_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('pending', 'sending', 'sent', 'failed')", name=op.f("ck_notification_delivery_state")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_notification_delivery_attempts")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "notification_id"],
            ["notification.tenant_id", "notification.id"],
            name=op.f("fk_notification_delivery_tenant_id_notification_id_notification"),
            ondelete="CASCADE",
        ),
        _tenant_fk("notification_delivery"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_notification_delivery")),
        sa.UniqueConstraint(
            "tenant_id",
            "notification_id",
            "channel",
            name=op.f("uq_notification_delivery_tenant_id_notification_id_channel"),
        ),
    )
    op.create_index(op.f("ix_notification_delivery_tenant_id"), "notification_delivery", ["tenant_id"])
    op.create_index(
        "ix_notification_delivery_failed",
        "notification_delivery",
        ["tenant_id", "failed_at"],
        postgresql_where=sa.text("state = 'failed'"),
        sqlite_where=sa.text("state = 'failed'"),
    )
    op.create_index(
        "ix_notification_delivery_open",
        "notification_delivery",
        ["tenant_id", "next_attempt_at"],
        postgresql_where=sa.text("state IN ('pending', 'sending')"),
        sqlite_where=sa.text("state IN ('pending', 'sending')"),
    )

    op.create_table(
        "notification_preference",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "mode IN ('in_app', 'email', 'digest')", name=op.f("ck_notification_preference_mode")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["user_account.tenant_id", "user_account.id"],
            name=op.f("fk_notification_preference_tenant_id_user_id_user_account"),
            ondelete="CASCADE",
        ),
        _tenant_fk("notification_preference"),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", "kind", name=op.f("pk_notification_preference")),
    )
    op.create_index(op.f("ix_notification_preference_tenant_id"), "notification_preference", ["tenant_id"])

    op.create_table(
        "notification_digest_run",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("ran_at", UTCDateTime(), nullable=False),
        sa.Column("digests", sa.Integer(), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        _tenant_fk("notification_digest_run"),
        sa.PrimaryKeyConstraint("tenant_id", "on_date", name=op.f("pk_notification_digest_run")),
    )
    op.create_index(op.f("ix_notification_digest_run_tenant_id"), "notification_digest_run", ["tenant_id"])

    op.create_table(
        "calendar_entry",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("uid", sa.String(length=255), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _tenant_fk("calendar_entry"),
        sa.PrimaryKeyConstraint("tenant_id", "uid", name=op.f("pk_calendar_entry")),
    )
    op.create_index(op.f("ix_calendar_entry_tenant_id"), "calendar_entry", ["tenant_id"])

    for table in TENANT_TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(op, table)
    op.drop_table("calendar_entry")
    op.drop_table("notification_digest_run")
    op.drop_table("notification_preference")
    op.drop_index("ix_notification_delivery_open", table_name="notification_delivery")
    op.drop_index("ix_notification_delivery_failed", table_name="notification_delivery")
    op.drop_table("notification_delivery")
    op.drop_index("ix_notification_unread", table_name="notification")
    op.drop_table("notification")
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("language")
