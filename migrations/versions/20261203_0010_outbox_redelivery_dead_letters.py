"""Outbox: redelivery after seconds, attempts and dead letters, counts for the operators.

* ``available_at`` becomes "when the relay sends it next" for every unprocessed message, including one already
  dispatched (its redelivery time), so the relay has one condition and one partial index instead of two.
* ``attempts`` counts failed handler runs (``dispatch_count`` keeps counting publishes); ``dead_at`` marks a
  message given up after the maximum, which the relay no longer sends until an operator retries it.
* ``tsunagu_outbox_due`` replaces ``tsunagu_outbox_pending``: no 60-second floor and no attempt count, since
  the redelivery time is on the row; the caller says how long a published message must have been in flight
  to be sent again (0 while the broker's queue is empty, longer behind a backlog). ``tsunagu_outbox_dead_letters`` (IDs only) and ``tsunagu_outbox_health``
  (three counts) are the operators' narrow cross-tenant paths. All are ``SECURITY DEFINER`` owned by the
  migration role and callable only by the roles granted explicitly (``env.py`` grants the application role).

Existing rows: messages the old relay had given up (8 publishes, an error, never processed) become dead
letters; messages in flight are re-sent 20 seconds after this upgrade rather than 15 minutes after their
dispatch. Both updates need the owner's ``BYPASSRLS``; without it they touch no row and the old in-flight
messages are simply re-sent at once (consumers are idempotent).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tsunagu.core.db import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DUE_WHERE = "processed_at IS NULL AND dead_at IS NULL"
DEAD_WHERE = "dead_at IS NOT NULL AND processed_at IS NULL"
OLD_PENDING_WHERE = "dispatched_at IS NULL AND processed_at IS NULL"
OLD_IN_FLIGHT_WHERE = "dispatched_at IS NOT NULL AND processed_at IS NULL"
OLD_MAX_ATTEMPTS = 8

DUE_FUNCTION = "tsunagu_outbox_due(integer, double precision)"
DEAD_FUNCTION = "tsunagu_outbox_dead_letters(integer)"
HEALTH_FUNCTION = "tsunagu_outbox_health()"
OLD_PENDING_FUNCTION = "tsunagu_outbox_pending(integer, integer, integer)"

CREATE_DUE_FUNCTION = """
CREATE FUNCTION tsunagu_outbox_due(lim integer, in_flight_seconds double precision)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT o.tenant_id, o.id FROM outbox_message AS o
     WHERE o.processed_at IS NULL AND o.dead_at IS NULL AND o.available_at <= now()
       AND (o.dispatched_at IS NULL
            OR o.dispatched_at <= now() - make_interval(secs => greatest(in_flight_seconds, 0)))
     ORDER BY o.available_at
     LIMIT least(greatest(lim, 0), 1000)
$$
"""

CREATE_DEAD_FUNCTION = """
CREATE FUNCTION tsunagu_outbox_dead_letters(lim integer)
RETURNS TABLE (tenant_id uuid, id uuid)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    SELECT o.tenant_id, o.id FROM outbox_message AS o
     WHERE o.dead_at IS NOT NULL AND o.processed_at IS NULL
     ORDER BY o.dead_at
     LIMIT least(greatest(lim, 0), 1000)
$$
"""

CREATE_HEALTH_FUNCTION = """
CREATE FUNCTION tsunagu_outbox_health()
RETURNS TABLE (unprocessed bigint, overdue bigint, dead_letters bigint)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_temp
AS $$
    -- Three counts, each matching a partial index's predicate: the processed rows (most of the table) are
    -- never read.
    SELECT (SELECT count(*) FROM outbox_message WHERE processed_at IS NULL AND dead_at IS NULL),
           (SELECT count(*) FROM outbox_message
             WHERE processed_at IS NULL AND dead_at IS NULL AND available_at <= now()),
           (SELECT count(*) FROM outbox_message WHERE dead_at IS NOT NULL AND processed_at IS NULL)
$$
"""

# Migration 0002's function, for the downgrade.
CREATE_OLD_PENDING_FUNCTION = """
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

FUNCTIONS = (
    (
        DUE_FUNCTION,
        CREATE_DUE_FUNCTION,
        "Outbox relay: (tenant_id, id) of messages due now, across tenants. IDs only.",
    ),
    (DEAD_FUNCTION, CREATE_DEAD_FUNCTION, "Outbox dead letters: (tenant_id, id) across tenants. IDs only."),
    (HEALTH_FUNCTION, CREATE_HEALTH_FUNCTION, "Outbox counts across tenants for the operators. Counts only."),
)


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.add_column(
        "outbox_message", sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0"))
    )
    op.add_column("outbox_message", sa.Column("dead_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("outbox_message") as batch:
        batch.create_check_constraint(op.f("ck_outbox_message_attempts"), "attempts >= 0")

    if _postgres():
        op.execute(
            f"UPDATE outbox_message SET dead_at = now(), attempts = dispatch_count "
            f"WHERE processed_at IS NULL AND last_error IS NOT NULL AND dispatch_count >= {OLD_MAX_ATTEMPTS}"
        )
        op.execute(
            "UPDATE outbox_message SET available_at = now() + interval '20 seconds' "
            "WHERE processed_at IS NULL AND dead_at IS NULL AND dispatched_at IS NOT NULL"
        )

    op.drop_index("ix_outbox_message_in_flight", table_name="outbox_message")
    op.drop_index("ix_outbox_message_pending", table_name="outbox_message")
    op.create_index(
        "ix_outbox_message_due",
        "outbox_message",
        ["available_at"],
        unique=False,
        postgresql_where=sa.text(DUE_WHERE),
        sqlite_where=sa.text(DUE_WHERE),
    )
    op.create_index(
        "ix_outbox_message_dead",
        "outbox_message",
        ["dead_at"],
        unique=False,
        postgresql_where=sa.text(DEAD_WHERE),
        sqlite_where=sa.text(DEAD_WHERE),
    )

    if _postgres():
        op.execute(f"DROP FUNCTION IF EXISTS {OLD_PENDING_FUNCTION}")
        for signature, create, comment in FUNCTIONS:
            op.execute(create)
            op.execute(f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC")
            op.execute(f"COMMENT ON FUNCTION {signature} IS '{comment}'")


def downgrade() -> None:
    if _postgres():
        for signature, _create, _comment in FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {signature}")
        op.execute(CREATE_OLD_PENDING_FUNCTION)
        op.execute(f"REVOKE ALL ON FUNCTION {OLD_PENDING_FUNCTION} FROM PUBLIC")
        op.execute(
            f"COMMENT ON FUNCTION {OLD_PENDING_FUNCTION} IS "
            "'Outbox relay: (tenant_id, id) of due messages across tenants. IDs only.'"
        )
        # Dead letters stay given up under the old rule (enough publishes); in-flight rows keep dispatched_at.
        op.execute(
            f"UPDATE outbox_message SET dispatch_count = greatest(dispatch_count, {OLD_MAX_ATTEMPTS}), "
            "dispatched_at = coalesce(dispatched_at, dead_at) WHERE dead_at IS NOT NULL AND processed_at IS NULL"
        )

    op.drop_index("ix_outbox_message_dead", table_name="outbox_message")
    op.drop_index("ix_outbox_message_due", table_name="outbox_message")
    op.create_index(
        "ix_outbox_message_pending",
        "outbox_message",
        ["available_at"],
        unique=False,
        postgresql_where=sa.text(OLD_PENDING_WHERE),
        sqlite_where=sa.text(OLD_PENDING_WHERE),
    )
    op.create_index(
        "ix_outbox_message_in_flight",
        "outbox_message",
        ["dispatched_at"],
        unique=False,
        postgresql_where=sa.text(OLD_IN_FLIGHT_WHERE),
        sqlite_where=sa.text(OLD_IN_FLIGHT_WHERE),
    )
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_constraint(op.f("ck_outbox_message_attempts"), type_="check")
        batch.drop_column("dead_at")
        batch.drop_column("attempts")
