"""Referrals (issue #20): partner_org, partner_member, referral, referral_attachment, cooperation_request,
department_flag — all tenant tables with row-level security.

Revision ID: 0023_referrals
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tsunagu.core.db import UTCDateTime
from tsunagu.core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0023_referrals"
down_revision = "0017"
branch_labels = None
depends_on = None

TENANT_TABLES = (
    "partner_org",
    "partner_member",
    "referral",
    "referral_attachment",
    "cooperation_request",
    "department_flag",
)


def upgrade() -> None:
    op.create_table(
        "partner_org",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("org_unit_id", sa.Uuid(), nullable=False),
        sa.Column("contact_name", sa.String(length=100), nullable=False),
        sa.Column("contact_phone", sa.String(length=20), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=False),
        sa.Column("agreement_on", sa.Date(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('chiiki_houkatsu', 'kosodate_kyoten', 'boshi_hokatsu', 'shogai_soudan', 'riyousha_shien', 'department', 'other')",
            name=op.f("ck_partner_org_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "org_unit_id"],
            ["org_unit.tenant_id", "org_unit.id"],
            name=op.f("fk_partner_org_tenant_id_org_unit_id_org_unit"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_partner_org_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_partner_org")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_partner_org_tenant_id_key")),
    )
    op.create_index(op.f("ix_partner_org_tenant_id"), "partner_org", ["tenant_id"], unique=False)
    op.create_table(
        "cooperation_request",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("responded_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('sent', 'accepted', 'declined', 'reported')",
            name=op.f("ck_cooperation_request_status"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "case_id"],
            ["support_case.tenant_id", "support_case.id"],
            name=op.f("fk_cooperation_request_tenant_id_case_id_support_case"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "partner_id"],
            ["partner_org.tenant_id", "partner_org.id"],
            name=op.f("fk_cooperation_request_tenant_id_partner_id_partner_org"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_cooperation_request_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_cooperation_request")),
    )
    op.create_index(
        op.f("ix_cooperation_request_tenant_id"), "cooperation_request", ["tenant_id"], unique=False
    )
    op.create_index(
        op.f("ix_cooperation_request_tenant_id_case_id"),
        "cooperation_request",
        ["tenant_id", "case_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_cooperation_request_tenant_id_partner_id_status"),
        "cooperation_request",
        ["tenant_id", "partner_id", "status"],
        unique=False,
    )
    op.create_table(
        "department_flag",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("meeting_id", sa.Uuid(), nullable=True),
        sa.Column("meeting_key", sa.String(length=64), nullable=False),
        sa.Column("signs", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "meeting_id"],
            ["meeting.tenant_id", "meeting.id"],
            name=op.f("fk_department_flag_tenant_id_meeting_id_meeting"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "partner_id"],
            ["partner_org.tenant_id", "partner_org.id"],
            name=op.f("fk_department_flag_tenant_id_partner_id_partner_org"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_department_flag_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_department_flag")),
    )
    op.create_index(op.f("ix_department_flag_tenant_id"), "department_flag", ["tenant_id"], unique=False)
    op.create_index(
        op.f("ix_department_flag_tenant_id_meeting_id"),
        "department_flag",
        ["tenant_id", "meeting_id"],
        unique=False,
    )
    op.create_table(
        "partner_member",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "partner_id"],
            ["partner_org.tenant_id", "partner_org.id"],
            name=op.f("fk_partner_member_tenant_id_partner_id_partner_org"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_partner_member_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_partner_member")),
        sa.UniqueConstraint("tenant_id", "email", name=op.f("uq_partner_member_tenant_id_email")),
    )
    op.create_index(op.f("ix_partner_member_tenant_id"), "partner_member", ["tenant_id"], unique=False)
    op.create_table(
        "referral",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("org_unit_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("person_name", sa.String(length=200), nullable=False),
        sa.Column("person_kana", sa.String(length=200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("main_topic", sa.String(length=32), nullable=False),
        sa.Column("urgency", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actions_taken", sa.Text(), nullable=False),
        sa.Column("consent", sa.JSON(), nullable=False),
        sa.Column("contact_name", sa.String(length=100), nullable=False),
        sa.Column("contact_phone", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.Uuid(), nullable=True),
        sa.Column("joined_existing", sa.Boolean(), nullable=False),
        sa.Column("submitted_by", sa.Uuid(), nullable=True),
        sa.Column("accepted_by", sa.Uuid(), nullable=True),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('received', 'in_progress', 'closed')", name=op.f("ck_referral_status")
        ),
        sa.CheckConstraint("urgency IN ('high', 'normal', 'low')", name=op.f("ck_referral_urgency")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "case_id"],
            ["support_case.tenant_id", "support_case.id"],
            name=op.f("fk_referral_tenant_id_case_id_support_case"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "org_unit_id"],
            ["org_unit.tenant_id", "org_unit.id"],
            name=op.f("fk_referral_tenant_id_org_unit_id_org_unit"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "partner_id"],
            ["partner_org.tenant_id", "partner_org.id"],
            name=op.f("fk_referral_tenant_id_partner_id_partner_org"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_referral_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_referral")),
    )
    op.create_index(op.f("ix_referral_tenant_id"), "referral", ["tenant_id"], unique=False)
    op.create_index(
        op.f("ix_referral_tenant_id_org_unit_id_status"),
        "referral",
        ["tenant_id", "org_unit_id", "status"],
        unique=False,
    )
    op.create_index(
        op.f("ix_referral_tenant_id_partner_id_created_at"),
        "referral",
        ["tenant_id", "partner_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "referral_attachment",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "referral_id"],
            ["referral.tenant_id", "referral.id"],
            name=op.f("fk_referral_attachment_tenant_id_referral_id_referral"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_referral_attachment_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_referral_attachment")),
    )
    op.create_index(
        op.f("ix_referral_attachment_tenant_id"), "referral_attachment", ["tenant_id"], unique=False
    )
    op.create_index(
        op.f("ix_referral_attachment_tenant_id_referral_id"),
        "referral_attachment",
        ["tenant_id", "referral_id"],
        unique=False,
    )
    for table in TENANT_TABLES:
        enable_tenant_rls(op, table)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        disable_tenant_rls(op, table)
    op.drop_index(op.f("ix_referral_attachment_tenant_id_referral_id"), table_name="referral_attachment")
    op.drop_index(op.f("ix_referral_attachment_tenant_id"), table_name="referral_attachment")
    op.drop_table("referral_attachment")
    op.drop_index(op.f("ix_referral_tenant_id_partner_id_created_at"), table_name="referral")
    op.drop_index(op.f("ix_referral_tenant_id_org_unit_id_status"), table_name="referral")
    op.drop_index(op.f("ix_referral_tenant_id"), table_name="referral")
    op.drop_table("referral")
    op.drop_index(op.f("ix_partner_member_tenant_id"), table_name="partner_member")
    op.drop_table("partner_member")
    op.drop_index(op.f("ix_department_flag_tenant_id_meeting_id"), table_name="department_flag")
    op.drop_index(op.f("ix_department_flag_tenant_id"), table_name="department_flag")
    op.drop_table("department_flag")
    op.drop_index(
        op.f("ix_cooperation_request_tenant_id_partner_id_status"), table_name="cooperation_request"
    )
    op.drop_index(op.f("ix_cooperation_request_tenant_id_case_id"), table_name="cooperation_request")
    op.drop_index(op.f("ix_cooperation_request_tenant_id"), table_name="cooperation_request")
    op.drop_table("cooperation_request")
    op.drop_index(op.f("ix_partner_org_tenant_id"), table_name="partner_org")
    op.drop_table("partner_org")
