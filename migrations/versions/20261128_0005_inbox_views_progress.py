"""Inbox saved views and case progress records (支援経過記録).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tsunagu.core.db import UTCDateTime
from tsunagu.core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TENANT_TABLES = ("saved_view", "progress_record")


def upgrade() -> None:
    op.create_table(
        "saved_view",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "owner_id"],
            ["user_account.tenant_id", "user_account.id"],
            name=op.f("fk_saved_view_tenant_id_owner_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_saved_view_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_saved_view")),
    )
    op.create_index(op.f("ix_saved_view_tenant_id"), "saved_view", ["tenant_id"], unique=False)
    op.create_index(
        op.f("ix_saved_view_tenant_id_owner_id"), "saved_view", ["tenant_id", "owner_id"], unique=False
    )
    op.create_index(
        op.f("ix_saved_view_tenant_id_shared"), "saved_view", ["tenant_id", "shared"], unique=False
    )
    op.create_table(
        "progress_record",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("record_date", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("staff_name", sa.String(length=100), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "case_id"],
            ["support_case.tenant_id", "support_case.id"],
            name=op.f("fk_progress_record_tenant_id_case_id_support_case"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_progress_record_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_progress_record")),
    )
    op.create_index(op.f("ix_progress_record_tenant_id"), "progress_record", ["tenant_id"], unique=False)
    op.create_index(
        op.f("ix_progress_record_tenant_id_case_id_record_date"),
        "progress_record",
        ["tenant_id", "case_id", "record_date"],
        unique=False,
    )
    for table in TENANT_TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in TENANT_TABLES:
        disable_tenant_rls(op, table)
    op.drop_index(op.f("ix_progress_record_tenant_id_case_id_record_date"), table_name="progress_record")
    op.drop_index(op.f("ix_progress_record_tenant_id"), table_name="progress_record")
    op.drop_table("progress_record")
    op.drop_index(op.f("ix_saved_view_tenant_id_shared"), table_name="saved_view")
    op.drop_index(op.f("ix_saved_view_tenant_id_owner_id"), table_name="saved_view")
    op.drop_index(op.f("ix_saved_view_tenant_id"), table_name="saved_view")
    op.drop_table("saved_view")
