"""JSON columns are stored as compact UTF-8, not ``\\u`` escapes."""

from __future__ import annotations

from sqlalchemy import text

from tests.factories import make_tenant
from tsunagu.core.outbox import enqueue
from tsunagu.core.session import transaction


def test_json_columns_are_stored_as_compact_utf8(runtime):
    tenant = make_tenant(runtime, "json-test")
    payload = {"label": "相談受付", "days": [1, 2]}
    with transaction(runtime.sessions, tenant.id) as session:  # written by the application's engine
        message_id = enqueue(session, "core.ping", payload).id
    with transaction(runtime.sessions, tenant.id) as session:
        raw = session.execute(
            text("SELECT payload::text FROM outbox_message WHERE id = :id"), {"id": message_id}
        ).scalar_one()
    assert raw == '{"label":"相談受付","days":[1,2]}'
