"""The audit trail: ``audit_entry`` (append-only, hash-chained) and ``audit_chain_head`` (the per-tenant lock).

Both tenant tables carry row-level security. On PostgreSQL the application role keeps only INSERT and SELECT on
``audit_entry`` (``core.rls.APPEND_ONLY_TABLES``, re-applied after every migration run) and a trigger refuses
UPDATE and DELETE of an entry for every role; TRUNCATE is the owner's alone.

Revision ID: 0017
Revises: 0016b
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tsunagu.core.db import UTCDateTime
from tsunagu.core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0017"
down_revision = "0016b"
branch_labels = None
depends_on = None

_REFUSE_FUNCTION = """
CREATE FUNCTION audit_entry_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_entry is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$
"""


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_label", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("legal_basis", sa.String(length=200), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_audit_entry_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_audit_entry")),
        sa.UniqueConstraint("id", name=op.f("uq_audit_entry_id")),
    )
    op.create_index(op.f("ix_audit_entry_tenant_id"), "audit_entry", ["tenant_id"])
    op.create_index(op.f("ix_audit_entry_tenant_id_at"), "audit_entry", ["tenant_id", "at"])
    op.create_index(
        op.f("ix_audit_entry_tenant_id_case_id_at"), "audit_entry", ["tenant_id", "case_id", "at"]
    )
    op.create_index(
        op.f("ix_audit_entry_tenant_id_actor_id_at"), "audit_entry", ["tenant_id", "actor_id", "at"]
    )
    op.create_index(op.f("ix_audit_entry_tenant_id_action_at"), "audit_entry", ["tenant_id", "action", "at"])
    enable_tenant_rls(op, "audit_entry")

    op.create_table(
        "audit_chain_head",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_audit_chain_head_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_audit_chain_head")),
    )
    op.create_index(op.f("ix_audit_chain_head_tenant_id"), "audit_chain_head", ["tenant_id"])
    enable_tenant_rls(op, "audit_chain_head")

    if op.get_bind().dialect.name == "postgresql":
        op.execute(_REFUSE_FUNCTION)
        op.execute(
            "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry "
            "FOR EACH ROW EXECUTE FUNCTION audit_entry_refuse_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry")
        op.execute("DROP FUNCTION IF EXISTS audit_entry_refuse_change()")
    disable_tenant_rls(op, "audit_chain_head")
    op.drop_index(op.f("ix_audit_chain_head_tenant_id"), table_name="audit_chain_head")
    op.drop_table("audit_chain_head")
    disable_tenant_rls(op, "audit_entry")
    for name in ("action_at", "actor_id_at", "case_id_at", "at"):
        op.drop_index(op.f(f"ix_audit_entry_tenant_id_{name}"), table_name="audit_entry")
    op.drop_index(op.f("ix_audit_entry_tenant_id"), table_name="audit_entry")
    op.drop_table("audit_entry")
