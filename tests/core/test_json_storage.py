"""JSON columns are stored as compact UTF-8, not ``\\u`` escapes."""

from __future__ import annotations

from sqlalchemy import text

from tests.factories import make_tenant


def test_json_columns_are_stored_as_compact_utf8(runtime):
    make_tenant(runtime, "json-test", settings={"workflow": {"label": "相談受付", "days": [1, 2]}})
    with runtime.engine.connect() as conn:
        raw = conn.execute(text("SELECT settings::text FROM tenant WHERE slug = 'json-test'")).scalar_one()
    assert raw == '{"workflow":{"label":"相談受付","days":[1,2]}}'
