"""Reports (issue #19): report_fact (the statistics projection) and report_closing (closed months) — tenant
tables with row-level security.

Revision ID: 0022_reports
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tsunagu.core.db import UTCDateTime
from tsunagu.core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0022_reports"
down_revision = "0019_caseday"
branch_labels = None
depends_on = None

TENANT_TABLES = ("report_fact", "report_closing")


def upgrade() -> None:
    op.create_table(
        "report_fact",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("org_unit_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_report_fact_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_report_fact")),
        sa.UniqueConstraint(
            "tenant_id", "case_id", "kind", "cycle", name=op.f("uq_report_fact_tenant_id_case_id_kind_cycle")
        ),
    )
    op.create_index(op.f("ix_report_fact_tenant_id"), "report_fact", ["tenant_id"])
    op.create_index(
        op.f("ix_report_fact_tenant_id_month_org_unit_id_kind"),
        "report_fact",
        ["tenant_id", "month", "org_unit_id", "kind"],
    )
    op.create_table(
        "report_closing",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("closed_by", sa.Uuid(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_report_closing_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_report_closing")),
        sa.UniqueConstraint(
            "tenant_id", "month", "revision", name=op.f("uq_report_closing_tenant_id_month_revision")
        ),
    )
    op.create_index(op.f("ix_report_closing_tenant_id"), "report_closing", ["tenant_id"])
    for table in TENANT_TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(op, table)
    op.drop_table("report_closing")
    op.drop_table("report_fact")
