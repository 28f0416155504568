"""Information sharing (#15): org_unit_oversight — which org unit oversees which (the municipality's unit
over its contracted agency's), a tenant table with RLS.

Revision ID: 0016
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tsunagu.core.db import UTCDateTime
from tsunagu.core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "org_unit_oversight",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("overseer_id", sa.Uuid(), nullable=False),
        sa.Column("overseen_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("overseer_id <> overseen_id", name=op.f("ck_org_unit_oversight_not_self")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_org_unit_oversight_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "overseer_id"],
            ["org_unit.tenant_id", "org_unit.id"],
            name=op.f("fk_org_unit_oversight_tenant_id_overseer_id_org_unit"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "overseen_id"],
            ["org_unit.tenant_id", "org_unit.id"],
            name=op.f("fk_org_unit_oversight_tenant_id_overseen_id_org_unit"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_org_unit_oversight")),
        sa.UniqueConstraint(
            "tenant_id",
            "overseer_id",
            "overseen_id",
            name=op.f("uq_org_unit_oversight_tenant_id_overseer_id_overseen_id"),
        ),
    )
    op.create_index(op.f("ix_org_unit_oversight_tenant_id"), "org_unit_oversight", ["tenant_id"])
    enable_tenant_rls(op, "org_unit_oversight")


def downgrade() -> None:
    disable_tenant_rls(op, "org_unit_oversight")
    op.drop_index(op.f("ix_org_unit_oversight_tenant_id"), table_name="org_unit_oversight")
    op.drop_table("org_unit_oversight")
