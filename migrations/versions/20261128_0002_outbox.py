"""Outbox: outbox_message and job_receipt with row-level security, and the relay's cross-tenant function.

The application role cannot see across tenants, but the relay must find due messages of every tenant. The one
narrow path is ``tsunagu_outbox_pending``: a ``SECURITY DEFINER`` function owned by the migration (owner) role,
which has ``BYPASSRLS``; it returns ``(tenant_id, id)`` pairs and nothing else. The relay then reads and locks
each message in a transaction bound to its tenant, under row-level security like any other access.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 19:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tsunagu.core.db import UTCDateTime
from tsunagu.core.rls import disable_tenant_rls, enable_tenant_rls

TENANT_TABLES = ("outbox_message", "job_receipt")
PENDING_WHERE = "dispatched_at IS NULL AND processed_at IS NULL"
IN_FLIGHT_WHERE = "dispatched_at IS NOT NULL AND processed_at IS NULL"
PENDING_FUNCTION = "tsunagu_outbox_pending(integer, integer, integer)"

# IDs only, at most 1000 at a time. Due: never dispatched and available now. Stale: dispatched long ago (at
# least a minute, whatever the caller asks) and still unprocessed, so the broker probably lost it.
CREATE_PENDING_FUNCTION = """
CREATE FUNCTION tsunagu_outbox_pending(lim integer, stale_seconds integer, max_attempts integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    (SELECT o.tenant_id, o.id FROM outbox_message AS o
      WHERE o.dispatched_at IS NULL AND o.processed_at IS NULL AND o.available_at <= now()
      ORDER BY o.available_at
      LIMIT least(greatest(lim, 0), 1000))
    UNION ALL
    (SELECT o.tenant_id, o.id FROM outbox_message AS o
      WHERE o.dispatched_at IS NOT NULL AND o.processed_at IS NULL
        AND o.dispatched_at < now() - make_interval(secs => greatest(stale_seconds, 60))
        AND o.dispatch_count < max_attempts
      ORDER BY o.dispatched_at
      LIMIT least(greatest(lim, 0), 1000))
    LIMIT least(greatest(lim, 0), 1000)
$$
"""

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_message",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("available_at", UTCDateTime(), nullable=False),
        sa.Column("dispatched_at", UTCDateTime(), nullable=True),
        sa.Column("dispatch_count", sa.Integer(), nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint("dispatch_count >= 0", name=op.f("ck_outbox_message_dispatch_count")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_outbox_message_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_outbox_message")),
    )
    op.create_index(op.f("ix_outbox_message_tenant_id"), "outbox_message", ["tenant_id"], unique=False)
    op.create_index(
        "ix_outbox_message_pending",
        "outbox_message",
        ["available_at"],
        unique=False,
        postgresql_where=sa.text(PENDING_WHERE),
        sqlite_where=sa.text(PENDING_WHERE),
    )
    op.create_index(
        "ix_outbox_message_in_flight",
        "outbox_message",
        ["dispatched_at"],
        unique=False,
        postgresql_where=sa.text(IN_FLIGHT_WHERE),
        sqlite_where=sa.text(IN_FLIGHT_WHERE),
    )
    op.create_table(
        "job_receipt",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("processed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "message_id"],
            ["outbox_message.tenant_id", "outbox_message.id"],
            name=op.f("fk_job_receipt_tenant_id_message_id_outbox_message"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_job_receipt_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "message_id", name=op.f("pk_job_receipt")),
    )
    op.create_index(op.f("ix_job_receipt_tenant_id"), "job_receipt", ["tenant_id"], unique=False)
    for table in TENANT_TABLES:
        enable_tenant_rls(op, table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_PENDING_FUNCTION)
        # Callable only by the roles granted explicitly (env.py grants EXECUTE to the application role).
        op.execute(f"REVOKE ALL ON FUNCTION {PENDING_FUNCTION} FROM PUBLIC")
        op.execute(
            f"COMMENT ON FUNCTION {PENDING_FUNCTION} IS "
            "'Outbox relay: (tenant_id, id) of due messages across tenants. IDs only.'"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {PENDING_FUNCTION}")
    for table in TENANT_TABLES:
        disable_tenant_rls(op, table)
    op.drop_index(op.f("ix_job_receipt_tenant_id"), table_name="job_receipt")
    op.drop_table("job_receipt")
    op.drop_index("ix_outbox_message_in_flight", table_name="outbox_message")
    op.drop_index("ix_outbox_message_pending", table_name="outbox_message")
    op.drop_index(op.f("ix_outbox_message_tenant_id"), table_name="outbox_message")
    op.drop_table("outbox_message")
