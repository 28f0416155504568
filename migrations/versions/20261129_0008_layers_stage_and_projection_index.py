"""The stage moves to the instance row; the ready-task projection index.

* ``process_instance.stage``: where the process stands, written in the same UPDATE as the state it is
  derived from (every command writes the instance row anyway). ``support_case.stage`` — a second stored copy,
  one more UPDATE per completion — is dropped; its values move to the instances.
* ``ix_human_task_instance_ready``: the ready tasks of one instance (a partial index: ready rows are few).

Revision ID: 0008
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "process_instance", sa.Column("stage", sa.String(length=300), nullable=False, server_default="")
    )
    op.execute(
        "UPDATE process_instance SET stage = support_case.stage FROM support_case "
        "WHERE support_case.tenant_id = process_instance.tenant_id "
        "AND support_case.process_instance_id = process_instance.id"
        if op.get_bind().dialect.name == "postgresql"
        else "UPDATE process_instance SET stage = COALESCE((SELECT support_case.stage FROM support_case "
        "WHERE support_case.tenant_id = process_instance.tenant_id "
        "AND support_case.process_instance_id = process_instance.id), '')"
    )
    with op.batch_alter_table("support_case") as batch:
        batch.drop_column("stage")
    op.create_index(
        "ix_human_task_instance_ready",
        "human_task",
        ["tenant_id", "process_instance_id"],
        unique=False,
        postgresql_where=sa.text("state = 'ready'"),
        sqlite_where=sa.text("state = 'ready'"),
    )


def downgrade() -> None:
    op.drop_index("ix_human_task_instance_ready", table_name="human_task")
    with op.batch_alter_table("support_case") as batch:
        batch.add_column(sa.Column("stage", sa.String(length=100), nullable=False, server_default=""))
    op.execute(
        "UPDATE support_case SET stage = LEFT(process_instance.stage, 100) FROM process_instance "
        "WHERE process_instance.tenant_id = support_case.tenant_id "
        "AND process_instance.id = support_case.process_instance_id"
        if op.get_bind().dialect.name == "postgresql"
        else "UPDATE support_case SET stage = COALESCE((SELECT substr(process_instance.stage, 1, 100) "
        "FROM process_instance WHERE process_instance.tenant_id = support_case.tenant_id "
        "AND process_instance.id = support_case.process_instance_id), '')"
    )
    with op.batch_alter_table("process_instance") as batch:
        batch.drop_column("stage")
