"""Information sharing (#15): consent and support_meeting_member (tenant tables with RLS), and provenance on
progress_record (category, source, meeting_key, promotion).

Revision ID: 0016b
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tsunagu.core.db import UTCDateTime
from tsunagu.core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0016b"
down_revision = "0011"
branch_labels = None
depends_on = None

TENANT_TABLES = ("consent", "support_meeting_member")


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenant.id"], name=op.f(f"fk_{table}_tenant_id_tenant"), ondelete="RESTRICT"
    )


def upgrade() -> None:
    op.create_table(
        "consent",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("given_on", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("witness", sa.String(length=100), nullable=False),
        sa.Column("form_version", sa.String(length=32), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("org_unit_ids", sa.JSON(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("status in ('active', 'withdrawn', 'expired')", name=op.f("ck_consent_status")),
        sa.CheckConstraint("channel in ('signed_form', 'verbal_witnessed')", name=op.f("ck_consent_channel")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "case_id"],
            ["support_case.tenant_id", "support_case.id"],
            name=op.f("fk_consent_tenant_id_case_id_support_case"),
            ondelete="CASCADE",
        ),
        _tenant_fk("consent"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_consent")),
    )
    op.create_index(op.f("ix_consent_tenant_id"), "consent", ["tenant_id"])
    op.create_index(op.f("ix_consent_tenant_id_case_id"), "consent", ["tenant_id", "case_id"])
    op.create_index(
        op.f("ix_consent_tenant_id_status_valid_until"), "consent", ["tenant_id", "status", "valid_until"]
    )
    op.create_table(
        "support_meeting_member",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("meeting_key", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("undertaking_on", sa.Date(), nullable=False),
        sa.Column("undertaking_version", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["user_account.tenant_id", "user_account.id"],
            name=op.f("fk_support_meeting_member_tenant_id_user_id_user_account"),
            ondelete="CASCADE",
        ),
        _tenant_fk("support_meeting_member"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_support_meeting_member")),
        sa.UniqueConstraint(
            "tenant_id",
            "meeting_key",
            "user_id",
            name=op.f("uq_support_meeting_member_tenant_id_meeting_key_user_id"),
        ),
    )
    op.create_index(op.f("ix_support_meeting_member_tenant_id"), "support_meeting_member", ["tenant_id"])
    for table in TENANT_TABLES:
        enable_tenant_rls(op, table)
    with op.batch_alter_table("progress_record") as batch:
        batch.add_column(
            sa.Column("category", sa.String(length=16), nullable=False, server_default="general")
        )
        batch.add_column(
            sa.Column("source", sa.String(length=32), nullable=False, server_default="consultant")
        )
        batch.add_column(sa.Column("meeting_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("promoted_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("promoted_by", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("promotion_reason", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("progress_record") as batch:
        for column in ("promotion_reason", "promoted_by", "promoted_at", "meeting_key", "source", "category"):
            batch.drop_column(column)
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(op, table)
    op.drop_table("support_meeting_member")
    op.drop_table("consent")
