"""Migration 0022_reports upgrades and downgrades on SQLite (PostgreSQL: tests/core's full downgrade)."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from tests.conftest import make_settings
from tsunagu.core.migrate import downgrade, upgrade


def test_the_reports_migration_downgrades_and_upgrades_again_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    settings = make_settings(database_url=url, migration_database_url=url)
    upgrade(settings)
    engine = create_engine(url)
    tables = set(inspect(engine).get_table_names())
    assert {"report_fact", "report_closing"} <= tables
    unique = inspect(engine).get_unique_constraints("report_fact")
    assert [u["column_names"] for u in unique] == [["tenant_id", "case_id", "kind", "cycle"]]
    downgrade(settings, "0017")
    assert not {"report_fact", "report_closing"} & set(inspect(engine).get_table_names())
    upgrade(settings)
    assert {"report_fact", "report_closing"} <= set(inspect(engine).get_table_names())
    engine.dispose()
