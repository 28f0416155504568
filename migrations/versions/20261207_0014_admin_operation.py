"""Instance operations: the ``admin_operation`` record (tenant table with RLS).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tsunagu.core.db import UTCDateTime
from tsunagu.core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_operation",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("process_instance_id", sa.Uuid(), nullable=True),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_admin_operation_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_admin_operation")),
    )
    op.create_index(op.f("ix_admin_operation_tenant_id"), "admin_operation", ["tenant_id"])
    op.create_index(
        op.f("ix_admin_operation_tenant_id_process_instance_id_at"),
        "admin_operation",
        ["tenant_id", "process_instance_id", "at"],
    )
    op.create_index(op.f("ix_admin_operation_tenant_id_at"), "admin_operation", ["tenant_id", "at"])
    enable_tenant_rls(op, "admin_operation")


def downgrade() -> None:
    disable_tenant_rls(op, "admin_operation")
    op.drop_index(op.f("ix_admin_operation_tenant_id_at"), table_name="admin_operation")
    op.drop_index(op.f("ix_admin_operation_tenant_id_process_instance_id_at"), table_name="admin_operation")
    op.drop_index(op.f("ix_admin_operation_tenant_id"), table_name="admin_operation")
    op.drop_table("admin_operation")
