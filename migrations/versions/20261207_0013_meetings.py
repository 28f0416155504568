"""Meetings (issue #14): meeting_series, meeting, meeting_agenda_item, meeting_participant,
meeting_resource_gap, meeting_feed — all tenant tables with row-level security.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tsunagu.core.db import UTCDateTime
from tsunagu.core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TENANT_TABLES = (
    "meeting_series",
    "meeting",
    "meeting_agenda_item",
    "meeting_participant",
    "meeting_resource_gap",
    "meeting_feed",
)


def upgrade() -> None:
    op.create_table(
        "meeting_feed",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("series_id", sa.Uuid(), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_meeting_feed_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_meeting_feed")),
        sa.UniqueConstraint("tenant_id", "token_hash", name=op.f("uq_meeting_feed_tenant_id_token_hash")),
    )
    op.create_index(op.f("ix_meeting_feed_tenant_id"), "meeting_feed", ["tenant_id"])
    op.create_table(
        "meeting_resource_gap",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_unit_id", sa.Uuid(), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("area", sa.String(length=200), nullable=False),
        sa.Column("who", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("meeting_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=1000), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'taken_up', 'addressed')", name=op.f("ck_meeting_resource_gap_status")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_meeting_resource_gap_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_meeting_resource_gap")),
    )
    op.create_index(op.f("ix_meeting_resource_gap_tenant_id"), "meeting_resource_gap", ["tenant_id"])
    op.create_index(
        op.f("ix_meeting_resource_gap_tenant_id_status"), "meeting_resource_gap", ["tenant_id", "status"]
    )
    op.create_table(
        "meeting_series",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("org_unit_id", sa.Uuid(), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("rrule", sa.String(length=500), nullable=False),
        sa.Column("first_date", sa.Date(), nullable=False),
        sa.Column("start_time", sa.String(length=5), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("venue", sa.String(length=200), nullable=False),
        sa.Column("cases_per_meeting", sa.Integer(), nullable=True),
        sa.Column("minutes_per_case", sa.Integer(), nullable=True),
        sa.Column("core_roles", sa.JSON(), nullable=False),
        sa.Column("core_members", sa.JSON(), nullable=False),
        sa.Column("guest_roles", sa.JSON(), nullable=False),
        sa.Column("holiday_policy", sa.String(length=32), nullable=False),
        sa.Column("year_end_closure", sa.Boolean(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("evaluation_in_meeting", sa.Boolean(), nullable=False),
        sa.Column("person_attends", sa.Boolean(), nullable=False),
        sa.Column("participants", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("generated_until", sa.Date(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "holiday_policy IN ('skip', 'next_business_day', 'previous_business_day')",
            name=op.f("ck_meeting_series_holiday_policy"),
        ),
        sa.CheckConstraint("mode IN ('recurring', 'adhoc')", name=op.f("ck_meeting_series_mode")),
        sa.CheckConstraint(
            "duration_minutes > 0 AND duration_minutes <= 1440", name=op.f("ck_meeting_series_duration")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_meeting_series_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_meeting_series")),
        sa.UniqueConstraint(
            "tenant_id", "key", "unit_code", name=op.f("uq_meeting_series_tenant_id_key_unit_code")
        ),
    )
    op.create_index(op.f("ix_meeting_series_tenant_id"), "meeting_series", ["tenant_id"])
    op.create_table(
        "meeting",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("series_id", sa.Uuid(), nullable=False),
        sa.Column("org_unit_id", sa.Uuid(), nullable=True),
        sa.Column("occurrence_date", sa.Date(), nullable=True),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("venue", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("adhoc", sa.Boolean(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("moved_for_holiday", sa.Boolean(), nullable=False),
        sa.Column("minutes", sa.Text(), nullable=False),
        sa.Column("cancel_reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("status IN ('scheduled', 'cancelled', 'held')", name=op.f("ck_meeting_status")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_meeting_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "series_id"],
            ["meeting_series.tenant_id", "meeting_series.id"],
            name=op.f("fk_meeting_tenant_id_series_id_meeting_series"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_meeting_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_meeting")),
        sa.UniqueConstraint(
            "tenant_id",
            "series_id",
            "occurrence_date",
            name=op.f("uq_meeting_tenant_id_series_id_occurrence_date"),
        ),
    )
    op.create_index(op.f("ix_meeting_tenant_id"), "meeting", ["tenant_id"])
    op.create_index(op.f("ix_meeting_tenant_id_starts_at"), "meeting", ["tenant_id", "starts_at"])
    op.create_table(
        "meeting_agenda_item",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("meeting_id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("after_the_fact", sa.Boolean(), nullable=False),
        sa.Column("urgency", sa.Integer(), nullable=False),
        sa.Column("waiting_since", UTCDateTime(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("moved", sa.Integer(), nullable=False),
        sa.Column("awaits_message", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("next_review_date", sa.Date(), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('approve', 'approve_with_changes', 'revise', 'reject', 'postpone')",
            name=op.f("ck_meeting_agenda_item_outcome"),
        ),
        sa.CheckConstraint(
            "purpose IN ('new_plan', 'plan_change', 'evaluation', 'after_the_fact')",
            name=op.f("ck_meeting_agenda_item_purpose"),
        ),
        sa.CheckConstraint("urgency BETWEEN 0 AND 2", name=op.f("ck_meeting_agenda_item_urgency")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "case_id"],
            ["support_case.tenant_id", "support_case.id"],
            name=op.f("fk_meeting_agenda_item_tenant_id_case_id_support_case"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "meeting_id"],
            ["meeting.tenant_id", "meeting.id"],
            name=op.f("fk_meeting_agenda_item_tenant_id_meeting_id_meeting"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_meeting_agenda_item_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_meeting_agenda_item")),
        sa.UniqueConstraint(
            "tenant_id",
            "meeting_id",
            "case_id",
            name=op.f("uq_meeting_agenda_item_tenant_id_meeting_id_case_id"),
        ),
    )
    op.create_index(op.f("ix_meeting_agenda_item_tenant_id"), "meeting_agenda_item", ["tenant_id"])
    op.create_index(
        op.f("ix_meeting_agenda_item_tenant_id_case_id"), "meeting_agenda_item", ["tenant_id", "case_id"]
    )
    op.create_table(
        "meeting_participant",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("meeting_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("reply", sa.String(length=16), nullable=False),
        sa.Column("written_input", sa.Text(), nullable=False),
        sa.Column("replied_at", UTCDateTime(), nullable=True),
        sa.Column("attended", sa.Boolean(), nullable=True),
        sa.Column("condition_note", sa.String(length=500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('municipal', 'consultant', 'person', 'provider', 'external', 'reviewer', 'member')",
            name=op.f("ck_meeting_participant_kind"),
        ),
        sa.CheckConstraint(
            "reply IN ('pending', 'attend', 'decline')", name=op.f("ck_meeting_participant_reply")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "meeting_id"],
            ["meeting.tenant_id", "meeting.id"],
            name=op.f("fk_meeting_participant_tenant_id_meeting_id_meeting"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_meeting_participant_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_meeting_participant")),
    )
    op.create_index(op.f("ix_meeting_participant_tenant_id"), "meeting_participant", ["tenant_id"])
    op.create_index(
        op.f("ix_meeting_participant_tenant_id_meeting_id"),
        "meeting_participant",
        ["tenant_id", "meeting_id"],
    )

    for table in TENANT_TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(op, table)
    op.drop_table("meeting_feed")
    op.drop_table("meeting_resource_gap")
    op.drop_table("meeting_participant")
    op.drop_table("meeting_agenda_item")
    op.drop_table("meeting")
    op.drop_table("meeting_series")
