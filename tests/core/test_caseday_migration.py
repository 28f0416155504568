"""Migration 0019_caseday on a real SQLite file (the demo): existing cases get 事例番号 in the order they were
opened, per fiscal year in Japan time, their creator as consultant, the counters continue after them; it
downgrades and upgrades again."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from alembic import command
from sqlalchemy import create_engine, text

from tests.conftest import make_settings
from tsunagu.core.migrate import alembic_config


def test_existing_cases_are_numbered_by_fiscal_year_and_the_migration_goes_both_ways(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    cfg = alembic_config(make_settings(database_url=url, migration_database_url=url, redis_url=None))
    command.upgrade(cfg, "0017")
    engine = create_engine(url)
    tenant, creator = uuid.uuid4(), uuid.uuid4()
    april_first = datetime(2026, 3, 31, 16, 0)  # 2026-04-01 01:00 in Japan: fiscal 2026 (令和8年度)
    opened = [
        datetime(2026, 3, 31, 14, 0),
        april_first,
        april_first + timedelta(days=1),
    ]  # the first: 3/31 JST
    with engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO tenant (id, slug, name, name_kana, name_en, prefecture_code, population, status,"
                " settings, created_at, updated_at) VALUES (:i, 'm', 'm', 'm', 'm', '01', 1, 'active', '{}',"
                " :n, :n)"
            ),
            {"i": tenant.hex, "n": april_first},
        )
        for at in reversed(opened):  # inserted out of order: numbered by when they were opened
            person, case = uuid.uuid4(), uuid.uuid4()
            c.execute(
                text(
                    "INSERT INTO person (tenant_id, id, name, name_kana, created_at) VALUES (:t, :p, 'a', 'ア', :n)"
                ),
                {"t": tenant.hex, "p": person.hex, "n": at},
            )
            c.execute(
                text(
                    "INSERT INTO support_case (tenant_id, id, person_id, status, outcome, created_by, created_at,"
                    " updated_at) VALUES (:t, :c, :p, 'open', '', :u, :n, :n)"
                ),
                {"t": tenant.hex, "c": case.hex, "p": person.hex, "u": creator.hex, "n": at},
            )
    command.upgrade(cfg, "head")
    with engine.begin() as c:
        rows = c.execute(text("SELECT number, responsible_id FROM support_case ORDER BY created_at")).all()
        assert [r[0] for r in rows] == ["R7-00001", "R8-00001", "R8-00002"]
        assert {uuid.UUID(r[1]) for r in rows} == {creator}
        assert sorted(c.execute(text("SELECT fiscal_year, last_value FROM case_number_counter")).all()) == [
            (2025, 1),
            (2026, 2),
        ]
    command.downgrade(cfg, "0017")
    with engine.begin() as c:
        columns = {r[1] for r in c.execute(text("PRAGMA table_info(support_case)"))}
        assert "number" not in columns and "responsible_id" not in columns
        assert not c.execute(text("SELECT name FROM sqlite_master WHERE name = 'case_number_counter'")).all()
    command.upgrade(cfg, "head")
    engine.dispose()
