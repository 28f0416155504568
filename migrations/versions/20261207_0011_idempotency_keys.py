"""Idempotency keys of the JSON API: idempotency_key (tenant table with RLS).

Revision ID: 0011
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tsunagu.core.db import UTCDateTime
from tsunagu.core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0011"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_key",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("mimetype", sa.String(length=100), nullable=False),
        sa.Column("etag", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_idempotency_key_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_idempotency_key")),
        sa.UniqueConstraint(
            "tenant_id", "user_id", "key", name=op.f("uq_idempotency_key_tenant_id_user_id_key")
        ),
    )
    op.create_index(op.f("ix_idempotency_key_tenant_id"), "idempotency_key", ["tenant_id"])
    op.create_index("ix_idempotency_key_created_at", "idempotency_key", ["tenant_id", "created_at"])
    enable_tenant_rls(op, "idempotency_key")


def downgrade() -> None:
    disable_tenant_rls(op, "idempotency_key")
    op.drop_index("ix_idempotency_key_created_at", table_name="idempotency_key")
    op.drop_index(op.f("ix_idempotency_key_tenant_id"), table_name="idempotency_key")
    op.drop_table("idempotency_key")
