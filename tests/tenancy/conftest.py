"""Helpers for the tenancy tests: copies of the shipped presets (edited) and database snapshots."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support import pg

REPO_ROOT = Path(__file__).resolve().parents[2]
TENANTS_DIR = REPO_ROOT / "tenants"
SHIPPED = ("demo", "iwamizawa", "kunitachi", "yokohama")

Snapshot = dict[str, list[tuple[Any, ...]]]


def preset_text(slug: str) -> str:
    return (TENANTS_DIR / f"{slug}.toml").read_text(encoding="utf-8")


def write_preset(
    directory: Path, slug: str, old: str | None = None, new: str = "", *, count: int = 1
) -> Path:
    """Copy ``tenants/<slug>.toml`` into ``directory``, replacing ``old`` by ``new`` (which must be there)."""
    text = preset_text(slug)
    if old is not None:
        assert old in text, f"{old!r} not in {slug}.toml"
        text = text.replace(old, new, count)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{slug}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def copy_shipped(directory: Path, *slugs: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for slug in slugs or SHIPPED:
        shutil.copy(TENANTS_DIR / f"{slug}.toml", directory / f"{slug}.toml")
    return directory


@pytest.fixture
def snapshot(pg_database: pg.TestDatabase) -> Callable[[], Snapshot]:
    """Every row of ``tenant`` and ``org_unit``, read as the superuser (so RLS hides nothing)."""
    url = pg.ADMIN_URL.rsplit("/", 1)[0] + "/" + pg_database.name

    def take() -> Snapshot:
        with psycopg.connect(url) as conn:
            return {
                table: conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
                for table, order in (("tenant", "slug"), ("org_unit", "tenant_id, code"))
            }

    return take
