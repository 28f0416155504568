"""Background work recovers in seconds: a database that goes away under a consuming worker, a worker killed
mid-backlog, a handler that keeps failing — with a real Celery worker on the real Redis.

The database outage uses a PostgreSQL cluster of this test module's own (``tests/support/faults.py``), stopped
and started under the worker; the machine's PostgreSQL is never touched.
"""

from __future__ import annotations

import dataclasses
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import make_settings
from tests.factories import make_tenant
from tests.jobs.conftest import (
    REDIS_URL,
    delete_queue,
    receipt_count,
    start_worker,
    stop_worker,
    wait_for,
)
from tests.support import faults, pg
from tsunagu.config import Settings
from tsunagu.core.migrate import upgrade
from tsunagu.core.outbox import PING_TOPIC, OutboxMessage, enqueue, relay_pending
from tsunagu.core.outbox_admin import outbox_health
from tsunagu.core.runtime import Runtime
from tsunagu.core.session import transaction

#: The issue's outage hit a 300-message backlog; 100 show the same on a busy two-core machine in less time.
BACKLOG = 100


def _queue_settings(settings: Settings, **overrides: object) -> Settings:
    """``settings`` publishing to a queue of this test only, so its worker sees nothing else."""
    queue = f"tsunagu-test-{uuid.uuid4().hex[:12]}"
    return dataclasses.replace(settings, redis_url=REDIS_URL, celery_queue=queue, **overrides)  # type: ignore[arg-type]


def _enqueue_pings(runtime: Runtime, tenant_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    with transaction(runtime.sessions, tenant_id) as session:
        return [enqueue(session, PING_TOPIC, {"n": n}).id for n in range(count)]


def _relay_everything(runtime: Runtime) -> int:
    relayed = total = relay_pending(runtime, 100)
    while relayed:
        relayed = relay_pending(runtime, 100)
        total += relayed
    return total


def _messages(runtime: Runtime, tenant_id: uuid.UUID) -> list[OutboxMessage]:
    with transaction(runtime.sessions, tenant_id) as session:
        return list(session.execute(select(OutboxMessage)).scalars())


def _deferred(log_path: Path) -> set[str]:
    """Messages the worker reported it could not process for want of the database."""
    return set(_DEFERRED.findall(log_path.read_text(errors="replace")))


_DEFERRED = re.compile(r"outbox message ([0-9a-f-]{36}) of tenant [0-9a-f-]{36}: database unavailable")


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[tuple[faults.OwnPostgres, Settings]]:
    """A PostgreSQL of this module's own, migrated, with the two roles; settings pointing at it."""
    with faults.own_postgres() as cluster:
        database = pg.create_database(cluster.admin_url)
        settings = make_settings(database_url=database.app_url, migration_database_url=database.owner_url)
        upgrade(settings)
        yield cluster, settings


def test_a_backlog_consumed_while_postgresql_is_down_is_processed_once_when_it_returns(
    own_cluster: tuple[faults.OwnPostgres, Settings], tmp_path: Path
) -> None:
    cluster, cluster_settings = own_cluster
    from tsunagu.jobs import install_outbox_publisher

    install_outbox_publisher()
    # The relay's redelivery is pushed out of reach: what recovers the messages the worker took during the
    # outage is the worker not acknowledging them (its retries), not a later re-send.
    settings = _queue_settings(cluster_settings, outbox_redeliver_seconds=600.0)
    runtime = Runtime.from_settings(settings)
    log_path = tmp_path / "worker.log"
    worker: subprocess.Popen[bytes] | None = None
    try:
        tenant = make_tenant(runtime)
        ids = _enqueue_pings(runtime, tenant.id, BACKLOG)
        assert _relay_everything(runtime) == BACKLOG  # all in Redis now
        runtime.engine.dispose()

        cluster.stop()
        try:
            worker = start_worker(settings, log_path)
            # The worker takes every message and cannot reach the database.
            wait_for(
                lambda: _deferred(log_path) == {str(i) for i in ids},
                "the worker to meet the outage with every message",
                timeout=60,
            )
        finally:
            cluster.start()
        back = time.monotonic()

        def all_done() -> bool:
            # beat's part: it sends again only messages whose failure was recorded as the database came back
            _relay_everything(runtime)
            return receipt_count(runtime, tenant.id) == BACKLOG

        wait_for(all_done, "every message processed", timeout=60)
        recovered_in = time.monotonic() - back
        messages = _messages(runtime, tenant.id)
        assert sorted(str(m.id) for m in messages) == sorted(str(i) for i in ids)
        assert all(m.processed_at is not None and m.dead_at is None for m in messages)
        assert receipt_count(runtime, tenant.id) == BACKLOG  # once each: receipts are keyed by message
        assert recovered_in < 30, f"recovered {recovered_in:.1f} s after PostgreSQL came back"
        assert "Retry in" in log_path.read_text(errors="replace")
    finally:
        if worker is not None:
            stop_worker(worker)
        delete_queue(settings)
        runtime.dispose()


def test_a_worker_killed_mid_backlog_strands_nothing_once_another_starts(
    runtime: Runtime, broker_settings: Settings, tmp_path: Path
) -> None:
    settings = _queue_settings(broker_settings, outbox_redeliver_seconds=2.0)
    relay = dataclasses.replace(runtime, settings=settings)
    tenant = make_tenant(relay)
    _enqueue_pings(relay, tenant.id, BACKLOG)
    first = start_worker(settings, tmp_path / "first.log")
    second: subprocess.Popen[bytes] | None = None
    try:
        assert relay_pending(relay, BACKLOG) == BACKLOG  # one pass: each published once
        wait_for(lambda: receipt_count(relay, tenant.id) >= 20, "the first worker to be under way")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        done_when_killed = receipt_count(relay, tenant.id)
        assert done_when_killed < BACKLOG, "the backlog was gone before the kill; make it longer"

        second = start_worker(settings, tmp_path / "second.log")
        started = time.monotonic()

        def all_done() -> bool:
            _relay_everything(relay)  # beat's part: re-send what was published but never processed
            return receipt_count(relay, tenant.id) == BACKLOG

        wait_for(all_done, "every message after the second worker started", timeout=45)
        recovered_in = time.monotonic() - started
        messages = _messages(relay, tenant.id)
        assert len(messages) == BACKLOG and all(m.processed_at is not None for m in messages)
        assert receipt_count(relay, tenant.id) == BACKLOG
        assert outbox_health(relay).unprocessed == 0
        assert recovered_in < 30, f"recovered {recovered_in:.1f} s after the second worker started"
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        if second is not None:
            stop_worker(second)
        delete_queue(settings)


def test_a_message_failing_on_the_worker_the_maximum_times_is_a_visible_dead_letter(
    runtime: Runtime, broker_settings: Settings, tmp_path: Path
) -> None:
    settings = _queue_settings(broker_settings, outbox_max_attempts=2)
    relay = dataclasses.replace(runtime, settings=settings)
    tenant = make_tenant(relay)
    with transaction(relay.sessions, tenant.id) as session:
        message_id = enqueue(session, "test.no-such-handler", {}).id
    log_path = tmp_path / "worker.log"
    worker = start_worker(settings, log_path, {"TSUNAGU_OUTBOX_MAX_ATTEMPTS": "2"})

    def attempts() -> int:
        with transaction(relay.sessions, tenant.id) as session:
            message = session.get(OutboxMessage, (tenant.id, message_id))
            assert message is not None
            return message.attempts

    def make_due_now() -> None:
        with transaction(relay.sessions, tenant.id) as session:
            message = session.get(OutboxMessage, (tenant.id, message_id))
            assert message is not None and message.dead_at is None
            message.available_at = func.now()  # type: ignore[assignment]

    try:
        assert relay_pending(relay) == 1
        wait_for(lambda: attempts() == 1, "the first failure to be recorded")
        make_due_now()  # skip the back-off
        assert relay_pending(relay) == 1
        wait_for(lambda: attempts() == 2, "the second failure to be recorded")
    finally:
        stop_worker(worker)
        delete_queue(settings)

    with transaction(relay.sessions, tenant.id) as session:
        dead = session.get(OutboxMessage, (tenant.id, message_id))
        assert dead is not None and dead.dead_at is not None and dead.processed_at is None
        assert dead.last_error and "no outbox handler for topic 'test.no-such-handler'" in dead.last_error
    assert relay_pending(relay) == 0
    assert outbox_health(relay).dead_letters == 1
    assert f"outbox message {message_id} (test.no-such-handler) of tenant {tenant.id} is a dead letter" in (
        log_path.read_text(errors="replace")
    )
