"""A consultant's working day (issue #17): 事例番号 (case number), the responsible consultant and "in its
meeting" on ``support_case``; ``case_number_counter`` (one row per tenant and fiscal year, row-level security).

Existing cases get numbers in the order they were opened, per tenant and fiscal year (Japan time), their
creator as responsible consultant, and the counters continue after the last number given.

Revision ID: 0019_caseday
Revises: 0017
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import op

from tsunagu.core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0019_caseday"
down_revision = "0023_referrals"
branch_labels = None
depends_on = None

_JST = timezone(timedelta(hours=9))


def _fiscal_year(at: datetime) -> int:
    day = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(_JST).date()
    return day.year if day.month >= 4 else day.year - 1


def upgrade() -> None:
    op.create_table(
        "case_number_counter",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_case_number_counter_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "fiscal_year", name=op.f("pk_case_number_counter")),
    )
    op.create_index(op.f("ix_case_number_counter_tenant_id"), "case_number_counter", ["tenant_id"])
    enable_tenant_rls(op, "case_number_counter")
    with op.batch_alter_table("support_case") as batch:
        batch.add_column(sa.Column("number", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("responsible_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("in_meeting", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.create_unique_constraint(op.f("uq_support_case_tenant_id_number"), ["tenant_id", "number"])
        batch.create_index(
            op.f("ix_support_case_tenant_id_responsible_id_status"),
            ["tenant_id", "responsible_id", "status"],
        )

    # Existing cases: numbered in the order they were opened (the owner role sees every tenant's rows).
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT tenant_id, id, created_at FROM support_case ORDER BY tenant_id, created_at, id")
    ).all()
    counters: dict[tuple[str, int], int] = {}
    raw_tenant: dict[str, object] = {}
    # ids go back exactly as they came (text on SQLite, uuid on PostgreSQL): plain text statements
    set_number = sa.text("UPDATE support_case SET number = :number WHERE tenant_id = :tenant AND id = :id")
    for tenant_id, case_id, created_at in rows:
        if isinstance(created_at, str):
            created_at = datetime.fromisoformat(created_at)
        year = _fiscal_year(created_at)
        key = (str(tenant_id), year)
        raw_tenant[str(tenant_id)] = tenant_id
        counters[key] = counters.get(key, 0) + 1
        bind.execute(
            set_number, {"number": f"R{year - 2018}-{counters[key]:05d}", "tenant": tenant_id, "id": case_id}
        )
    bind.execute(sa.text("UPDATE support_case SET responsible_id = created_by WHERE responsible_id IS NULL"))
    add_counter = sa.text(
        "INSERT INTO case_number_counter (tenant_id, fiscal_year, last_value) VALUES (:tenant, :year, :last)"
    )
    for (tenant, year), last in counters.items():
        bind.execute(add_counter, {"tenant": raw_tenant[tenant], "year": year, "last": last})


def downgrade() -> None:
    with op.batch_alter_table("support_case") as batch:
        batch.drop_index(op.f("ix_support_case_tenant_id_responsible_id_status"))
        batch.drop_constraint(op.f("uq_support_case_tenant_id_number"), type_="unique")
        batch.drop_column("in_meeting")
        batch.drop_column("responsible_id")
        batch.drop_column("number")
    disable_tenant_rls(op, "case_number_counter")
    op.drop_index(op.f("ix_case_number_counter_tenant_id"), table_name="case_number_counter")
    op.drop_table("case_number_counter")
