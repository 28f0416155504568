"""The web process against a stuck database: answers within its limits, 503 with a clear error, never a hang.

"Frozen" is a PostgreSQL cluster of this module's own with every process stopped (SIGSTOP): connections stay
open and new ones reach the kernel's backlog, but nothing answers and no server-side timeout can fire — the
case where requests used to hang until gunicorn killed the worker. Timeouts the server enforces itself
(``statement_timeout``, ``lock_timeout``) are shown on the machine's PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import text

from tests.conftest import make_settings
from tests.factories import make_tenant, make_user
from tests.support import faults, pg
from tsunagu.app import create_app
from tsunagu.config import Settings
from tsunagu.core.db import new_id, utcnow
from tsunagu.core.migrate import upgrade
from tsunagu.core.runtime import Runtime
from tsunagu.identity.sessions import DatabaseSessionStore, Realm, SessionRecord, hash_session_id
from tsunagu.web.requests import db

STATEMENT_SECONDS = 5.0


@pytest.fixture(scope="module")
def cluster_settings() -> Iterator[tuple[faults.OwnPostgres, Settings]]:
    with faults.own_postgres() as cluster:
        database = pg.create_database(cluster.admin_url)
        settings = make_settings(
            database_url=database.app_url,
            migration_database_url=database.owner_url,
            db_statement_timeout_seconds=STATEMENT_SECONDS,
            db_connect_timeout_seconds=2.0,
        )
        upgrade(settings)
        yield cluster, settings


@pytest.fixture
def outage_app(
    cluster_settings: tuple[faults.OwnPostgres, Settings],
) -> Iterator[tuple[faults.OwnPostgres, Flask]]:
    cluster, settings = cluster_settings
    runtime = Runtime.from_settings(settings)
    app = create_app(settings, runtime)
    try:
        yield cluster, app
    finally:
        runtime.dispose()


def signed_in(app: Flask, runtime: Runtime, slug: str, user_id: uuid.UUID) -> str:
    """A server-side session for ``user_id`` as sign-in leaves it; returns the cookie value."""
    sid = secrets.token_urlsafe(32)
    tenant_id = make_tenant_id(runtime, slug)
    now = utcnow()
    record = SessionRecord(
        id=new_id(), user_id=user_id, data={"uid": str(user_id)}, created_at=now, last_seen_at=now
    )
    DatabaseSessionStore(runtime).create(
        Realm(tenant_id, slug), hash_session_id(sid), record, timedelta(hours=1)
    )
    return sid


def make_tenant_id(runtime: Runtime, slug: str) -> uuid.UUID:
    from tsunagu.tenancy.services import find_tenant

    tenant = find_tenant(runtime, slug)
    assert tenant is not None
    return tenant.id


def timed(fn: object) -> tuple[object, float]:
    started = time.monotonic()
    result = fn()  # type: ignore[operator]
    return result, time.monotonic() - started


def test_with_postgresql_frozen_readyz_says_503_within_two_seconds_and_healthz_stays_up(
    outage_app: tuple[faults.OwnPostgres, Flask],
) -> None:
    cluster, app = outage_app
    client = app.test_client()
    assert client.get("/readyz").status_code == 200  # its own pooled connection exists now
    with cluster.frozen():
        ready, ready_seconds = timed(lambda: client.get("/readyz"))
        alive, alive_seconds = timed(lambda: client.get("/healthz"))
        again, again_seconds = timed(lambda: client.get("/readyz"))  # the first check may still be stuck
    assert ready.status_code == 503 and ready_seconds < 2.0, ready_seconds  # type: ignore[attr-defined]
    body = ready.get_json()  # type: ignore[attr-defined]
    assert body["status"] == "unavailable" and body["checks"]["database"].startswith("timeout")
    assert again.status_code == 503 and again_seconds < 2.0  # type: ignore[attr-defined]
    assert alive.status_code == 200 and alive_seconds < 0.5  # type: ignore[attr-defined]
    wait_ready = time.monotonic() + 10
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < wait_ready, "readyz did not recover after the database thawed"
        time.sleep(0.1)


def test_with_postgresql_frozen_an_api_request_fails_with_json_within_the_statement_timeout(
    outage_app: tuple[faults.OwnPostgres, Flask],
) -> None:
    cluster, app = outage_app
    runtime: Runtime = app.extensions["tsunagu"]
    tenant = make_tenant(runtime)
    token = make_user(runtime, tenant, roles=["tenant_admin"]).token
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/t/{tenant.slug}/api/v1/org-units", headers=headers).status_code == 200
    with cluster.frozen():
        response, seconds = timed(lambda: client.get(f"/t/{tenant.slug}/api/v1/org-units", headers=headers))
    assert response.status_code == 503, response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert seconds < STATEMENT_SECONDS, seconds
    assert response.headers["Retry-After"] == "5"  # type: ignore[attr-defined]
    assert response.get_json()["error"]["code"] == "database_unavailable"  # type: ignore[attr-defined]
    assert client.get(f"/t/{tenant.slug}/api/v1/org-units", headers=headers).status_code == 200  # recovered


def test_with_postgresql_frozen_a_signed_in_page_explains_and_keeps_the_session(
    outage_app: tuple[faults.OwnPostgres, Flask],
) -> None:
    cluster, app = outage_app
    runtime: Runtime = app.extensions["tsunagu"]
    tenant = make_tenant(runtime)
    user = make_user(runtime, tenant).user
    client = app.test_client()
    client.set_cookie(f"tsunagu_{tenant.slug}", signed_in(app, runtime, tenant.slug, user.id))
    assert client.get(f"/t/{tenant.slug}/inbox").status_code == 200
    with cluster.frozen():
        response, seconds = timed(lambda: client.get(f"/t/{tenant.slug}/inbox"))
    assert response.status_code == 503 and seconds < STATEMENT_SECONDS  # type: ignore[attr-defined]
    page = response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert 'data-code="database_unavailable"' in page and "データベースが応答しません" in page
    assert response.headers["Retry-After"] == "5"  # type: ignore[attr-defined]
    assert "Set-Cookie" not in response.headers  # type: ignore[attr-defined]
    after = client.get(f"/t/{tenant.slug}/inbox")
    assert after.status_code == 200, "the session did not survive the outage"


def test_with_postgresql_stopped_readyz_and_requests_fail_at_once(
    outage_app: tuple[faults.OwnPostgres, Flask],
) -> None:
    cluster, app = outage_app
    runtime: Runtime = app.extensions["tsunagu"]
    tenant = make_tenant(runtime)
    client = app.test_client()
    cluster.stop()
    try:
        ready, ready_seconds = timed(lambda: client.get("/readyz"))
        page, page_seconds = timed(lambda: client.get(f"/t/{tenant.slug}/api/v1/org-units"))
    finally:
        cluster.start()
    assert ready.status_code == 503 and ready_seconds < 2.0  # type: ignore[attr-defined]
    assert ready.get_json()["checks"]["database"].startswith("unreachable")  # type: ignore[attr-defined]
    assert page.status_code == 503 and page_seconds < 2.0  # type: ignore[attr-defined]


# --- server-side limits, on the machine's PostgreSQL ------------------------------------------------------


def _app_with_probe_route(runtime: Runtime, **overrides: object) -> Flask:
    """The app with one extra route that runs the SQL it is given in the request's session."""
    settings = dataclasses.replace(runtime.settings, **overrides)  # type: ignore[arg-type]
    rt = Runtime.from_settings(settings)
    app = create_app(settings, rt)

    def run_sql() -> str:
        from flask import request

        db().execute(text(request.args["sql"]))
        return "done"

    app.add_url_rule("/t/probe/api/v1/sql", "probe_api_sql", run_sql)
    app.add_url_rule("/probe/sql", "probe_page_sql", run_sql)
    return app


def test_a_statement_over_the_timeout_is_a_503_json_error_for_the_api_and_a_page_for_browsers(
    runtime: Runtime,
) -> None:
    app = _app_with_probe_route(runtime, db_statement_timeout_seconds=0.5)
    client = app.test_client()
    api, api_seconds = timed(lambda: client.get("/t/probe/api/v1/sql?sql=SELECT pg_sleep(3)"))
    assert api.status_code == 503 and api_seconds < 2.5  # type: ignore[attr-defined]
    assert api.get_json()["error"]["code"] == "database_unavailable"  # type: ignore[attr-defined]
    page = client.get("/probe/sql?sql=SELECT pg_sleep(3)", headers={"Accept": "text/html"})
    assert page.status_code == 503 and 'data-code="database_unavailable"' in page.get_data(as_text=True)
    assert client.get("/t/probe/api/v1/sql?sql=SELECT 1").status_code == 200
    app.extensions["tsunagu"].dispose()


def test_a_lock_held_past_the_lock_timeout_is_a_503_not_a_hang(runtime: Runtime) -> None:
    key = secrets.randbelow(2**31)  # a lock of this test only (shared by no other test run)
    app = _app_with_probe_route(runtime, db_lock_timeout_seconds=0.5)
    holder_ready, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
            holder_ready.set()
            release.wait(10)
            conn.rollback()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert holder_ready.wait(10)
        sql = f"SELECT pg_advisory_xact_lock({key})"
        response, seconds = timed(
            lambda: app.test_client().get("/t/probe/api/v1/sql", query_string={"sql": sql})
        )
    finally:
        release.set()
        holder.join(10)
        app.extensions["tsunagu"].dispose()
    assert response.status_code == 503 and seconds < 2.5  # type: ignore[attr-defined]
    assert response.get_json()["error"]["code"] == "database_unavailable"  # type: ignore[attr-defined]
