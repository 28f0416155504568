"""Encryption at rest (#16): ``tenant_key`` (wrapped per-tenant keys), ``person_index`` (the blind index), and
the sealed columns become text (a sealed value is a ``tsg1.`` token).

Values already stored stay readable as they are (a value that is no token is read in clear) until
``tsunagu keys reencrypt`` seals them; the blind index of existing people is built by ``tsunagu keys reencrypt``
too (``cases.people.reindex``). Downgrade first opens every sealed value back into clear text with the tenant
keys (so it needs the same master key / KMS settings as the application) and then turns the columns back into
their types.

Revision ID: 0018_crypto
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tsunagu.core.db import UTCDateTime
from tsunagu.core.rls import disable_tenant_rls, enable_tenant_rls

revision = "0018_crypto"
down_revision = "0022_reports"
branch_labels = None
depends_on = None

#: (table, column, type before, PostgreSQL USING on the way back)
SEALED = (
    ("person", "name", sa.String(length=200), None),
    ("person", "name_kana", sa.String(length=200), None),
    ("person", "birth_date", sa.Date(), "birth_date::date"),
    ("support_case", "referral", sa.JSON(), "referral::json"),
    ("case_event", "submission", sa.JSON(), "submission::json"),
    ("human_task", "person_name", sa.String(length=200), None),
    ("human_task", "person_kana", sa.String(length=200), None),
    ("human_task", "draft", sa.JSON(), "draft::json"),
)


def _tenant_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenant.id"], name=op.f(f"fk_{table}_tenant_id_tenant"), ondelete="RESTRICT"
    )


def upgrade() -> None:
    op.create_table(
        "tenant_key",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("kek_id", sa.String(length=100), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("destroyed_at", UTCDateTime(), nullable=True),
        _tenant_fk("tenant_key"),
        sa.PrimaryKeyConstraint("tenant_id", "purpose", "version", name=op.f("pk_tenant_key")),
    )
    op.create_index(op.f("ix_tenant_key_tenant_id"), "tenant_key", ["tenant_id"])
    enable_tenant_rls(op, "tenant_key")

    op.create_table(
        "person_index",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        _tenant_fk("person_index"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "person_id"],
            ["person.tenant_id", "person.id"],
            name=op.f("fk_person_index_tenant_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "kind", "digest", "person_id", name=op.f("pk_person_index")),
    )
    op.create_index(op.f("ix_person_index_tenant_id"), "person_index", ["tenant_id"])
    op.create_index(op.f("ix_person_index_tenant_id_person_id"), "person_index", ["tenant_id", "person_id"])
    enable_tenant_rls(op, "person_index")

    postgres = op.get_bind().dialect.name == "postgresql"
    if not postgres:
        # SQLite stores any text in a VARCHAR, DATE or JSON column (type affinity), so a token fits as it is;
        # a batch "recreate table" here would drop ``person`` under the cases that reference it (the demo's
        # existing data): the declared types are left alone.
        return
    for table, column, before, _back in SEALED:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                type_=sa.Text(),
                existing_type=before,
                postgresql_using=f"{column}::text" if postgres else None,
            )


#: every column sealed at this revision, as ``table.column`` (the label bound into each value's AAD)
SEALED_LABELS = (
    *(f"{table}.{column}" for table, column, _before, _back in SEALED),
    "process_instance.serialized",
    "progress_record.content",
    "progress_record.promotion_reason",
    "referral.person_name",
    "referral.person_kana",
    "referral.birth_date",
    "referral.reason",
    "referral.actions_taken",
    "cooperation_request.request",
    "cooperation_request.response",
    "cooperation_request.report",
    "department_flag.summary",
)


def _unseal_all() -> None:
    """Open every sealed value into clear text (one UPDATE per value; a downgrade is a rare, offline step)."""
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    tables = set(inspector.get_table_names())
    columns = [tuple(label.split(".")) for label in SEALED_LABELS if label.split(".")[0] in tables]
    pending = [
        (table, column)
        for table, column in columns
        if bind.execute(sa.text(f"SELECT 1 FROM {table} WHERE {column} LIKE 'tsg1.%' LIMIT 1")).first()
    ]
    if not pending:
        return
    settings = op.get_context().config.attributes.get("settings")
    if settings is None:
        raise RuntimeError(
            "sealed values are stored: downgrading 0018 needs the settings with the master key"
        )
    from tsunagu.core.db import make_engine
    from tsunagu.keys.services import build_keyring

    engine = make_engine(settings.migration_database_url)
    try:
        ring = build_keyring(settings, engine)
        for table, column in pending:
            keys = inspector.get_pk_constraint(table)["constrained_columns"]
            where = " AND ".join(f"{k} = :k{i}" for i, k in enumerate(keys))
            rows = bind.execute(
                sa.text(f"SELECT {', '.join(keys)}, {column} FROM {table} WHERE {column} LIKE 'tsg1.%'")
            ).all()
            for row in rows:
                clear = ring.open(row[-1], f"{table}.{column}").decode("utf-8")
                bind.execute(
                    sa.text(f"UPDATE {table} SET {column} = :v WHERE {where}"),
                    {"v": clear, **{f"k{i}": row[i] for i in range(len(keys))}},
                )
    finally:
        engine.dispose()


def downgrade() -> None:
    _unseal_all()
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, column, before, back in SEALED if postgres else ():  # SQLite: the types were left alone
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                column,
                type_=before,
                existing_type=sa.Text(),
                postgresql_using=(back or f"{column}::varchar(200)") if postgres else None,
            )
    disable_tenant_rls(op, "person_index")
    op.drop_index(op.f("ix_person_index_tenant_id_person_id"), table_name="person_index")
    op.drop_index(op.f("ix_person_index_tenant_id"), table_name="person_index")
    op.drop_table("person_index")
    disable_tenant_rls(op, "tenant_key")
    op.drop_index(op.f("ix_tenant_key_tenant_id"), table_name="tenant_key")
    op.drop_table("tenant_key")
