"""Process instance rows hold the dynamic state only; case events keep the form submitted.

* ``process_instance.serialized``: every row is converted from SpiffWorkflow's full form (``spec`` and
  ``subprocess_specs`` inline) to the referenced form of ``tsunagu.engine.serialization`` (the definitions
  by deployment id, process id and alias binding; compact UTF-8 JSON). The conversion reads the JSON only:
  the specs dropped are exactly those the deployment parses to. Downgrade parses each deployment once and
  writes the specs back in Spiff's own layout, so the previous code reads the rows again. The new code reads
  both forms, so an instance keeps running whichever form its row is in (deploy the code first, then run the
  migration, when old and new processes overlap). The ``version`` (optimistic lock) is left alone.
* ``case_event.submission``: the cleaned form data of a ``task_completed`` event, written in the same
  transaction as the completion — the case's own record of each step (monitoring records included), which
  compaction lets the workflow state forget.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BATCH = 200


def _rows(bind: sa.Connection) -> Iterator[list[Any]]:
    """Every process instance row, in keyset batches (the table may be large)."""
    last: tuple[Any, Any] | None = None
    while True:
        query = (
            "SELECT tenant_id, id, deployment_id, process_id, meeting_process, serialized "
            "FROM process_instance "
        )
        params: dict[str, Any] = {"n": BATCH}
        if last is not None:
            query += "WHERE tenant_id > :t OR (tenant_id = :t AND id > :i) "
            params.update(t=last[0], i=last[1])
        query += "ORDER BY tenant_id, id LIMIT :n"
        batch = list(bind.execute(sa.text(query), params))
        if not batch:
            return
        yield batch
        last = (batch[-1][0], batch[-1][1])


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _convert(bind: sa.Connection, convert: Callable[[Any], str | None]) -> None:
    update = sa.text("UPDATE process_instance SET serialized = :s WHERE tenant_id = :t AND id = :i")
    for batch in _rows(bind):
        for row in batch:
            state = convert(row)
            if state is not None and state != row[5]:
                bind.execute(update, {"s": state, "t": row[0], "i": row[1]})


def upgrade() -> None:
    from tsunagu.engine.serialization import SpecRef, detach_specs

    op.add_column("case_event", sa.Column("submission", sa.JSON(), nullable=True))

    def to_reference(row: Any) -> str:
        ref = SpecRef.of(_uuid(row[2]), row[3], {"meeting": row[4]})
        return detach_specs(row[5], ref)

    _convert(op.get_bind(), to_reference)


def downgrade() -> None:
    import json

    from tsunagu.engine.definitions import parse_files
    from tsunagu.engine.serialization import ResolvedSpecs, attach_specs, spec_ref_of
    from tsunagu.engine.spiff import full_serializer, resolve_specs

    bind = op.get_bind()
    bundles: dict[tuple[Any, Any], Any] = {}

    def files_of(tenant_id: Any, deployment_id: Any) -> Any:
        # Both ids as the row holds them (a UUID on PostgreSQL, its stored text on SQLite).
        key = (tenant_id, deployment_id)
        if key not in bundles:
            raw = bind.execute(
                sa.text("SELECT files FROM deployment WHERE tenant_id = :t AND id = :d"),
                {"t": tenant_id, "d": deployment_id},
            ).scalar_one()
            bundles[key] = parse_files(json.loads(raw) if isinstance(raw, str) else raw)
        return bundles[key]

    def to_full(row: Any) -> str | None:
        ref = spec_ref_of(row[5])
        if ref is None:
            return None
        spec, subprocess_specs = resolve_specs(files_of(row[0], row[2]), ref.process_id, dict(ref.aliases))
        return attach_specs(full_serializer(), row[5], ResolvedSpecs.of(spec, subprocess_specs))

    _convert(bind, to_full)
    with op.batch_alter_table("case_event") as table:  # SQLite (the demo) drops columns by copying
        table.drop_column("submission")
