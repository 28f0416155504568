"""Shared fixtures: a real PostgreSQL database migrated as the owner role, the app connected as the app role.

``pg_settings`` (session): settings pointing at a fresh database; ``runtime`` (function): the runtime on it,
with every table emptied after the test; ``app`` / ``client``: the Flask app on that runtime.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support import pg
from tsunagu import models as _models  # noqa: F401 - every table on Base.metadata (what the app imports)
from tsunagu.config import Settings
from tsunagu.core.db import Base
from tsunagu.core.runtime import Runtime

REPO_ROOT = Path(__file__).resolve().parents[1]


def make_settings(**overrides: object) -> Settings:
    env = {
        "TSUNAGU_ENV": "test",
        "TSUNAGU_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "TSUNAGU_BASE_DOMAIN": "tsunagu.test",
    }
    settings = Settings.from_env(env)
    return dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def pg_database() -> Iterator[pg.TestDatabase]:
    database = pg.create_database()
    try:
        from tsunagu.core.migrate import upgrade

        upgrade(make_settings(database_url=database.app_url, migration_database_url=database.owner_url))
        yield database
    finally:
        pg.drop_database(database.name)


@pytest.fixture(scope="session")
def pg_settings(pg_database: pg.TestDatabase) -> Settings:
    return make_settings(database_url=pg_database.app_url, migration_database_url=pg_database.owner_url)


@pytest.fixture(scope="session")
def _session_runtime(pg_settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(pg_settings)
    yield runtime
    runtime.dispose()


@pytest.fixture
def runtime(_session_runtime: Runtime, pg_database: pg.TestDatabase) -> Iterator[Runtime]:
    yield _session_runtime
    _session_runtime.engine.dispose()  # no connection of this test lingers into the next
    tables = [t.name for t in Base.metadata.sorted_tables]
    pg.truncate_all(pg_database.owner_url, tables)


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    from tsunagu.app import create_app

    flask_app = create_app(runtime.settings, runtime)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
