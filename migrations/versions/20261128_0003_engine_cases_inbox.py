"""Engine, cases and inbox: deployments, process instances, timers, incidents, persons, cases, history, human tasks.

Also the narrow cross-tenant path for beat: ``tsunagu_due_timers`` returns only ``(tenant_id, id)`` of due timers.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 18:37:49.677298
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tsunagu.core.db import UTCDateTime
from tsunagu.core.rls import disable_tenant_rls, enable_tenant_rls

TENANT_TABLES = (
    "deployment",
    "person",
    "process_instance",
    "support_case",
    "case_event",
    "human_task",
    "incident",
    "timer",
)

DUE_TIMERS_FUNCTION = "tsunagu_due_timers(timestamptz, integer)"
CREATE_DUE_TIMERS_FUNCTION = """
CREATE FUNCTION tsunagu_due_timers(at_time timestamptz, lim integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT t.tenant_id, t.id FROM timer t
    WHERE t.fired_at IS NULL AND t.cancelled_at IS NULL AND t.claimed_at IS NULL AND t.due_at <= at_time
    ORDER BY t.due_at
    LIMIT LEAST(GREATEST(lim, 1), 1000)
$$
"""


revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployment",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("process_ids", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_deployment_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_deployment")),
        sa.UniqueConstraint("tenant_id", "version", name=op.f("uq_deployment_tenant_id_version")),
    )
    op.create_index(op.f("ix_deployment_tenant_id"), "deployment", ["tenant_id"], unique=False)
    op.create_table(
        "person",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_kana", sa.String(length=200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_person_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_person")),
    )
    op.create_index(op.f("ix_person_tenant_id"), "person", ["tenant_id"], unique=False)
    op.create_table(
        "process_instance",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("deployment_id", sa.Uuid(), nullable=False),
        sa.Column("process_id", sa.String(length=100), nullable=False),
        sa.Column("meeting_process", sa.String(length=100), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("serialized", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "deployment_id"],
            ["deployment.tenant_id", "deployment.id"],
            name=op.f("fk_process_instance_tenant_id_deployment_id_deployment"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_process_instance_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_process_instance")),
    )
    op.create_index(op.f("ix_process_instance_tenant_id"), "process_instance", ["tenant_id"], unique=False)
    op.create_index(
        op.f("ix_process_instance_tenant_id_case_id"),
        "process_instance",
        ["tenant_id", "case_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_process_instance_tenant_id_status"),
        "process_instance",
        ["tenant_id", "status"],
        unique=False,
    )
    op.create_table(
        "support_case",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("org_unit_id", sa.Uuid(), nullable=True),
        sa.Column("referral", sa.JSON(), nullable=True),
        sa.Column("stage", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=50), nullable=False),
        sa.Column("process_instance_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "org_unit_id"],
            ["org_unit.tenant_id", "org_unit.id"],
            name=op.f("fk_support_case_tenant_id_org_unit_id_org_unit"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "person_id"],
            ["person.tenant_id", "person.id"],
            name=op.f("fk_support_case_tenant_id_person_id_person"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_support_case_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_support_case")),
    )
    op.create_index(op.f("ix_support_case_tenant_id"), "support_case", ["tenant_id"], unique=False)
    op.create_index(
        op.f("ix_support_case_tenant_id_status"), "support_case", ["tenant_id", "status"], unique=False
    )
    op.create_table(
        "case_event",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("element", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "case_id"],
            ["support_case.tenant_id", "support_case.id"],
            name=op.f("fk_case_event_tenant_id_case_id_support_case"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_case_event_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_case_event")),
    )
    op.create_index(op.f("ix_case_event_tenant_id"), "case_event", ["tenant_id"], unique=False)
    op.create_index(
        op.f("ix_case_event_tenant_id_case_id_at"), "case_event", ["tenant_id", "case_id", "at"], unique=False
    )
    op.create_table(
        "human_task",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("process_instance_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("org_unit_id", sa.Uuid(), nullable=True),
        sa.Column("element", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("lane", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=50), nullable=False),
        sa.Column("candidate_roles", sa.JSON(), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("form_key", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("person_name", sa.String(length=200), nullable=False),
        sa.Column("person_kana", sa.String(length=200), nullable=False),
        sa.Column("draft", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("completed_by", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "process_instance_id"],
            ["process_instance.tenant_id", "process_instance.id"],
            name=op.f("fk_human_task_tenant_id_process_instance_id_process_instance"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_human_task_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_human_task")),
    )
    op.create_index(
        "ix_human_task_assignee", "human_task", ["tenant_id", "assignee_id", "state", "due_at"], unique=False
    )
    op.create_index("ix_human_task_case", "human_task", ["tenant_id", "case_id"], unique=False)
    op.create_index("ix_human_task_due", "human_task", ["tenant_id", "state", "due_at"], unique=False)
    op.create_index(
        "ix_human_task_role_unit",
        "human_task",
        ["tenant_id", "role", "org_unit_id", "state", "due_at"],
        unique=False,
    )
    op.create_index(op.f("ix_human_task_tenant_id"), "human_task", ["tenant_id"], unique=False)
    op.create_table(
        "incident",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("process_instance_id", sa.Uuid(), nullable=False),
        sa.Column("element", sa.String(length=200), nullable=False),
        sa.Column("command", sa.String(length=50), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "process_instance_id"],
            ["process_instance.tenant_id", "process_instance.id"],
            name=op.f("fk_incident_tenant_id_process_instance_id_process_instance"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_incident_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_incident")),
    )
    op.create_index(op.f("ix_incident_tenant_id"), "incident", ["tenant_id"], unique=False)
    op.create_index(
        op.f("ix_incident_tenant_id_process_instance_id"),
        "incident",
        ["tenant_id", "process_instance_id"],
        unique=False,
    )
    op.create_table(
        "timer",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("process_instance_id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("element", sa.String(length=200), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("fired_at", UTCDateTime(), nullable=True),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "process_instance_id"],
            ["process_instance.tenant_id", "process_instance.id"],
            name=op.f("fk_timer_tenant_id_process_instance_id_process_instance"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_timer_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_timer")),
        sa.UniqueConstraint(
            "tenant_id",
            "process_instance_id",
            "task_id",
            name=op.f("uq_timer_tenant_id_process_instance_id_task_id"),
        ),
    )
    op.create_index(
        "ix_timer_due",
        "timer",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("fired_at IS NULL"),
        sqlite_where=sa.text("fired_at IS NULL"),
    )
    op.create_index(op.f("ix_timer_tenant_id"), "timer", ["tenant_id"], unique=False)
    for table in TENANT_TABLES:
        enable_tenant_rls(op, table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_DUE_TIMERS_FUNCTION)
        op.execute(f"REVOKE ALL ON FUNCTION {DUE_TIMERS_FUNCTION} FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {DUE_TIMERS_FUNCTION}")
    for table in TENANT_TABLES:
        disable_tenant_rls(op, table)
    op.drop_index(op.f("ix_timer_tenant_id"), table_name="timer")
    op.drop_index(
        "ix_timer_due",
        table_name="timer",
        postgresql_where=sa.text("fired_at IS NULL"),
        sqlite_where=sa.text("fired_at IS NULL"),
    )
    op.drop_table("timer")
    op.drop_index(op.f("ix_incident_tenant_id_process_instance_id"), table_name="incident")
    op.drop_index(op.f("ix_incident_tenant_id"), table_name="incident")
    op.drop_table("incident")
    op.drop_index(op.f("ix_human_task_tenant_id"), table_name="human_task")
    op.drop_index("ix_human_task_role_unit", table_name="human_task")
    op.drop_index("ix_human_task_due", table_name="human_task")
    op.drop_index("ix_human_task_case", table_name="human_task")
    op.drop_index("ix_human_task_assignee", table_name="human_task")
    op.drop_table("human_task")
    op.drop_index(op.f("ix_case_event_tenant_id_case_id_at"), table_name="case_event")
    op.drop_index(op.f("ix_case_event_tenant_id"), table_name="case_event")
    op.drop_table("case_event")
    op.drop_index(op.f("ix_support_case_tenant_id_status"), table_name="support_case")
    op.drop_index(op.f("ix_support_case_tenant_id"), table_name="support_case")
    op.drop_table("support_case")
    op.drop_index(op.f("ix_process_instance_tenant_id_status"), table_name="process_instance")
    op.drop_index(op.f("ix_process_instance_tenant_id_case_id"), table_name="process_instance")
    op.drop_index(op.f("ix_process_instance_tenant_id"), table_name="process_instance")
    op.drop_table("process_instance")
    op.drop_index(op.f("ix_person_tenant_id"), table_name="person")
    op.drop_table("person")
    op.drop_index(op.f("ix_deployment_tenant_id"), table_name="deployment")
    op.drop_table("deployment")
