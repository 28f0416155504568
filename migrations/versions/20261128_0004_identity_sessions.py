"""Identity: server-side sessions (tenant ``user_session``, platform ``operator_session``).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tsunagu.core.db import UTCDateTime
from tsunagu.core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_session",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["user_account.tenant_id", "user_account.id"],
            name=op.f("fk_user_session_tenant_id_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_user_session_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_user_session")),
        sa.UniqueConstraint("tenant_id", "session_hash", name=op.f("uq_user_session_tenant_id_session_hash")),
    )
    op.create_index(op.f("ix_user_session_tenant_id"), "user_session", ["tenant_id"], unique=False)
    op.create_index(
        op.f("ix_user_session_tenant_id_user_id"), "user_session", ["tenant_id", "user_id"], unique=False
    )
    enable_tenant_rls(op, "user_session")
    op.create_table(
        "operator_session",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_session")),
        sa.UniqueConstraint("session_hash", name=op.f("uq_operator_session_session_hash")),
    )


def downgrade() -> None:
    op.drop_table("operator_session")
    disable_tenant_rls(op, "user_session")
    op.drop_index(op.f("ix_user_session_tenant_id_user_id"), table_name="user_session")
    op.drop_index(op.f("ix_user_session_tenant_id"), table_name="user_session")
    op.drop_table("user_session")
