"""The outbox on PostgreSQL: sent only after commit, relayed once across racing relays, effect exactly once."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from tests.factories import make_tenant
from tests.jobs.conftest import receipt_count, wait_for
from tsunagu.config import Settings
from tsunagu.core.context import NoTenantBound
from tsunagu.core.db import utcnow
from tsunagu.core.outbox import (
    MAX_REDELIVER_FACTOR,
    PING_TOPIC,
    PROCESS_TASK,
    JobReceipt,
    OutboxMessage,
    Outcome,
    enqueue,
    handler,
    pending_messages,
    process_message,
    redeliver_delay,
    relay_pending,
    set_publisher,
)
from tsunagu.core.outbox_admin import list_dead_letters, outbox_health, retry_dead_letter
from tsunagu.core.runtime import Runtime
from tsunagu.core.session import transaction
from tsunagu.jobs import publisher_for


class Rollback(Exception):
    pass


def enqueue_ping(runtime: Runtime, tenant_id: uuid.UUID, **kwargs: object) -> uuid.UUID:
    with transaction(runtime.sessions, tenant_id) as session:
        message = enqueue(session, PING_TOPIC, {"note": "ping"}, **kwargs)  # type: ignore[arg-type]
    return message.id


def load(runtime: Runtime, tenant_id: uuid.UUID, message_id: uuid.UUID) -> OutboxMessage | None:
    with transaction(runtime.sessions, tenant_id) as session:
        return session.get(OutboxMessage, (tenant_id, message_id))


def test_enqueue_needs_a_tenant_bound_session(runtime: Runtime) -> None:
    with pytest.raises(NoTenantBound), transaction(runtime.sessions, None) as session:
        enqueue(session, PING_TOPIC, {})


def test_enqueue_refuses_payloads_that_are_not_small_json(runtime: Runtime) -> None:
    tenant = make_tenant(runtime)
    with transaction(runtime.sessions, tenant.id) as session:
        with pytest.raises(TypeError):
            enqueue(session, PING_TOPIC, {"when": object()})
        with pytest.raises(ValueError, match="send IDs"):
            enqueue(session, PING_TOPIC, {"blob": "x" * 10_000})


def test_a_job_enqueued_in_a_rolled_back_transaction_never_runs(
    broker_runtime: Runtime, celery_worker: Path
) -> None:
    tenant = make_tenant(broker_runtime)
    rolled_back: list[uuid.UUID] = []
    with pytest.raises(Rollback), transaction(broker_runtime.sessions, tenant.id) as session:
        rolled_back.append(enqueue(session, PING_TOPIC, {}).id)
        session.flush()
        raise Rollback

    assert pending_messages(broker_runtime) == []
    assert relay_pending(broker_runtime) == 0
    # The worker runs its queue in order: once a later committed job is done, the rolled-back one had its chance.
    sentinel = enqueue_ping(broker_runtime, tenant.id)
    assert relay_pending(broker_runtime) == 1
    wait_for(lambda: receipt_count(broker_runtime, tenant.id, sentinel) == 1, "the sentinel job")
    assert receipt_count(broker_runtime, tenant.id) == 1
    assert load(broker_runtime, tenant.id, rolled_back[0]) is None


def test_a_committed_job_runs_exactly_once_on_the_worker(
    broker_runtime: Runtime, celery_worker: Path
) -> None:
    tenant = make_tenant(broker_runtime)
    message_id = enqueue_ping(broker_runtime, tenant.id)
    assert load(broker_runtime, tenant.id, message_id).dispatched_at is None  # type: ignore[union-attr]

    assert relay_pending(broker_runtime) == 1
    wait_for(lambda: receipt_count(broker_runtime, tenant.id, message_id) == 1, "the job's receipt")

    message = load(broker_runtime, tenant.id, message_id)  # the receipt committed with processed_at
    assert message is not None and message.processed_at is not None
    assert message.dispatch_count == 1
    assert message.dispatched_at is not None and message.dispatched_at <= message.processed_at
    assert message.last_error is None
    assert relay_pending(broker_runtime) == 0  # processed messages are never sent again
    assert receipt_count(broker_runtime, tenant.id) == 1


def test_two_relays_racing_dispatch_each_message_once(broker_runtime: Runtime, celery_worker: Path) -> None:
    tenants = [make_tenant(broker_runtime), make_tenant(broker_runtime)]
    messages = [(t.id, enqueue_ping(broker_runtime, t.id)) for t in tenants for _ in range(10)]

    relays = [Runtime.from_settings(broker_runtime.settings), Runtime.from_settings(broker_runtime.settings)]
    start = threading.Barrier(len(relays))
    counts: list[int] = []
    errors: list[BaseException] = []

    def relay(rt: Runtime) -> None:
        try:
            start.wait(timeout=10)
            counts.append(relay_pending(rt, limit=100))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=relay, args=(rt,)) for rt in relays]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        for rt in relays:
            rt.dispose()

    assert errors == []
    assert len(counts) == 2 and sum(counts) == len(messages)
    wait_for(
        lambda: sum(receipt_count(broker_runtime, t.id) for t in tenants) == len(messages), "every receipt"
    )
    for tenant_id, message_id in messages:
        assert receipt_count(broker_runtime, tenant_id, message_id) == 1
        message = load(broker_runtime, tenant_id, message_id)
        assert message is not None and message.dispatch_count == 1 and message.processed_at is not None


def test_a_message_delivered_twice_has_its_effect_once(inline_runtime: Runtime) -> None:
    tenant = make_tenant(inline_runtime)
    message_id = enqueue_ping(inline_runtime, tenant.id)

    assert process_message(inline_runtime, tenant.id, message_id) is Outcome.PROCESSED
    assert process_message(inline_runtime, tenant.id, message_id) is Outcome.DUPLICATE
    assert receipt_count(inline_runtime, tenant.id, message_id) == 1


def test_two_simultaneous_deliveries_have_the_effect_once(inline_runtime: Runtime) -> None:
    tenant = make_tenant(inline_runtime)
    message_id = enqueue_ping(inline_runtime, tenant.id)
    start = threading.Barrier(2)
    outcomes: list[Outcome] = []

    def deliver() -> None:
        start.wait(timeout=10)
        outcomes.append(process_message(inline_runtime, tenant.id, message_id))

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == [Outcome.DUPLICATE, Outcome.PROCESSED]
    assert receipt_count(inline_runtime, tenant.id, message_id) == 1


def test_a_redelivered_celery_task_has_its_effect_once(broker_runtime: Runtime, celery_worker: Path) -> None:
    settings = broker_runtime.settings
    tenant = make_tenant(broker_runtime)
    message_id = enqueue_ping(broker_runtime, tenant.id)
    assert relay_pending(broker_runtime) == 1
    # The broker hands the same task out a second time (e.g. after a visibility timeout).
    publisher_for(settings).send_task(
        PROCESS_TASK, args=[str(tenant.id), str(message_id)], queue=settings.celery_queue
    )
    sentinel = enqueue_ping(broker_runtime, tenant.id)
    assert relay_pending(broker_runtime) == 1
    wait_for(lambda: receipt_count(broker_runtime, tenant.id, sentinel) == 1, "the sentinel job")

    assert receipt_count(broker_runtime, tenant.id, message_id) == 1
    assert f"{message_id} of tenant {tenant.id}: duplicate" in celery_worker.read_text()


_flaky_failures: dict[str, int] = {}


@handler("test.flaky")
def _flaky(session: object, message: OutboxMessage) -> None:
    remaining = _flaky_failures.get(str(message.id), 0)
    if remaining:
        _flaky_failures[str(message.id)] = remaining - 1
        raise RuntimeError("the service is down")
    _ping_receipt(session, message)


def _ping_receipt(session: object, message: OutboxMessage) -> None:
    session.add(  # type: ignore[attr-defined]
        JobReceipt(tenant_id=message.tenant_id, message_id=message.id, topic=message.topic)
    )


def _make_due_now(runtime: Runtime, tenant_id: uuid.UUID, message_id: uuid.UUID) -> None:
    with transaction(runtime.sessions, tenant_id) as session:
        message = session.get(OutboxMessage, (tenant_id, message_id))
        assert message is not None
        message.available_at = utcnow() - timedelta(seconds=1)


def test_a_failing_handler_is_rolled_back_and_retried_later(inline_runtime: Runtime) -> None:
    tenant = make_tenant(inline_runtime)
    with transaction(inline_runtime.sessions, tenant.id) as session:
        message_id = enqueue(session, "test.flaky", {}).id
    _flaky_failures[str(message_id)] = 1

    assert relay_pending(inline_runtime) == 1
    failed = load(inline_runtime, tenant.id, message_id)
    assert failed is not None and failed.processed_at is None and failed.dispatched_at is None
    assert failed.last_error == "RuntimeError: the service is down"
    assert failed.available_at > utcnow()  # backs off instead of hammering the service
    assert relay_pending(inline_runtime) == 0
    assert receipt_count(inline_runtime, tenant.id) == 0

    _make_due_now(inline_runtime, tenant.id, message_id)
    assert relay_pending(inline_runtime) == 1
    done = load(inline_runtime, tenant.id, message_id)
    assert done is not None and done.processed_at is not None and done.last_error is None
    assert done.dispatch_count == 2
    assert receipt_count(inline_runtime, tenant.id, message_id) == 1


def test_a_message_that_keeps_failing_becomes_a_visible_dead_letter(
    inline_runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    max_attempts = inline_runtime.settings.outbox_max_attempts
    tenant = make_tenant(inline_runtime)
    with transaction(inline_runtime.sessions, tenant.id) as session:
        message_id = enqueue(session, "test.unknown-topic", {}).id
    for attempt in range(1, max_attempts + 1):
        _make_due_now(inline_runtime, tenant.id, message_id)
        assert relay_pending(inline_runtime) == 1
        assert load(inline_runtime, tenant.id, message_id).attempts == attempt  # type: ignore[union-attr]
    _make_due_now(inline_runtime, tenant.id, message_id)
    assert relay_pending(inline_runtime) == 0  # never sent again on its own

    dead = load(inline_runtime, tenant.id, message_id)
    assert dead is not None and dead.processed_at is None and dead.dead_at is not None
    assert dead.attempts == max_attempts and dead.dispatch_count == max_attempts
    assert (
        dead.last_error is not None and "no outbox handler for topic 'test.unknown-topic'" in dead.last_error
    )
    given_up = [r for r in caplog.records if r.levelname == "ERROR" and "dead letter" in r.getMessage()]
    assert len(given_up) == 1 and str(message_id) in given_up[0].getMessage()
    assert outbox_health(inline_runtime).dead_letters == 1
    assert [(d.tenant_id, d.id, d.attempts) for d in list_dead_letters(inline_runtime)] == [
        (tenant.id, message_id, max_attempts)
    ]


def test_a_retried_dead_letter_runs_again_with_fresh_attempts(inline_runtime: Runtime) -> None:
    tenant = make_tenant(inline_runtime)
    with transaction(inline_runtime.sessions, tenant.id) as session:
        message_id = enqueue(session, "test.flaky", {}).id
    _flaky_failures[str(message_id)] = inline_runtime.settings.outbox_max_attempts
    for _ in range(inline_runtime.settings.outbox_max_attempts):
        _make_due_now(inline_runtime, tenant.id, message_id)
        relay_pending(inline_runtime)
    assert load(inline_runtime, tenant.id, message_id).dead_at is not None  # type: ignore[union-attr]
    assert process_message(inline_runtime, tenant.id, message_id) is Outcome.DEAD  # a stray copy: not run

    assert retry_dead_letter(inline_runtime, tenant.id, message_id) is True
    assert retry_dead_letter(inline_runtime, tenant.id, message_id) is False  # no longer a dead letter
    assert relay_pending(inline_runtime) == 1
    done = load(inline_runtime, tenant.id, message_id)
    assert done is not None and done.processed_at is not None and done.dead_at is None and done.attempts == 0
    assert receipt_count(inline_runtime, tenant.id, message_id) == 1
    assert outbox_health(inline_runtime).dead_letters == 0


def test_a_delayed_message_is_not_relayed_before_it_is_due(inline_runtime: Runtime) -> None:
    tenant = make_tenant(inline_runtime)
    message_id = enqueue_ping(inline_runtime, tenant.id, delay=timedelta(hours=1))
    assert relay_pending(inline_runtime) == 0
    _make_due_now(inline_runtime, tenant.id, message_id)
    assert relay_pending(inline_runtime) == 1
    assert receipt_count(inline_runtime, tenant.id, message_id) == 1


class LossyBroker:
    """A publisher whose broker loses every message, with a queue that looks as long as ``waiting`` says."""

    def __init__(self, waiting: int = 0) -> None:
        self.lost: list[uuid.UUID] = []
        self.queue = waiting

    def publish(self, _settings: Settings, _tenant_id: uuid.UUID, message_id: uuid.UUID) -> None:
        self.lost.append(message_id)

    def waiting(self, _settings: Settings) -> int | None:
        return self.queue


def test_a_message_the_broker_lost_is_sent_again_after_seconds_with_a_growing_wait(
    runtime: Runtime, broker_settings: Settings
) -> None:
    broker = LossyBroker()
    lossy = dataclasses.replace(
        runtime, settings=dataclasses.replace(broker_settings, outbox_redeliver_seconds=0.3)
    )
    tenant = make_tenant(lossy)
    message_id = enqueue_ping(lossy, tenant.id)
    previous = set_publisher(broker)
    try:
        assert relay_pending(lossy) == 1
        first = load(lossy, tenant.id, message_id)
        assert first is not None and first.dispatched_at is not None
        assert first.available_at - first.dispatched_at == timedelta(seconds=0.3)
        assert relay_pending(lossy) == 0  # not before its redelivery time
        wait_for(lambda: relay_pending(lossy) == 1, "the redelivery", timeout=5)
        second = load(lossy, tenant.id, message_id)
        assert second is not None and second.dispatch_count == 2 and second.attempts == 0
        assert second.dispatched_at is not None
        assert second.available_at - second.dispatched_at == timedelta(seconds=0.6)  # doubled
    finally:
        set_publisher(previous)
    assert broker.lost == [message_id, message_id]


def test_a_message_behind_a_backlog_is_not_sent_again_until_the_queue_is_empty(
    runtime: Runtime, broker_settings: Settings
) -> None:
    broker = LossyBroker(waiting=250)  # the queue holds a backlog: our message is late, not lost
    late = dataclasses.replace(
        runtime, settings=dataclasses.replace(broker_settings, outbox_redeliver_seconds=0.2)
    )
    tenant = make_tenant(late)
    message_id = enqueue_ping(late, tenant.id)
    previous = set_publisher(broker)
    try:
        assert relay_pending(late) == 1
        time.sleep(0.5)  # past its redelivery time
        assert relay_pending(late) == 0
        broker.queue = 0  # the backlog is gone and the message still unprocessed: it was lost
        assert relay_pending(late) == 1
        broker.queue = 250
        time.sleep(0.2 * MAX_REDELIVER_FACTOR + 0.1)  # in flight 16 x the wait: sent whatever the queue holds
        assert relay_pending(late) == 1
    finally:
        set_publisher(previous)
    assert broker.lost == [message_id] * 3


def test_the_redelivery_wait_doubles_up_to_sixteen_times(pg_settings: Settings) -> None:
    settings = dataclasses.replace(pg_settings, outbox_redeliver_seconds=20.0)
    waits = [redeliver_delay(settings, n).total_seconds() for n in range(7)]
    assert waits == [20, 40, 80, 160, 320, 320, 320]


def test_outbox_rows_of_one_tenant_are_invisible_to_another(runtime: Runtime) -> None:
    alpha, beta = make_tenant(runtime), make_tenant(runtime)
    alpha_message = enqueue_ping(runtime, alpha.id)
    enqueue_ping(runtime, beta.id)

    with transaction(runtime.sessions, beta.id) as session:
        assert session.get(OutboxMessage, (alpha.id, alpha_message)) is None
        # Row-level security, below the ORM's own filter: raw SQL sees only the bound tenant's rows.
        tenants = session.execute(text("SELECT DISTINCT tenant_id FROM outbox_message")).scalars().all()
        assert [uuid.UUID(str(t)) for t in tenants] == [beta.id]
    with runtime.engine.connect() as conn:  # no tenant bound: nothing at all
        assert conn.execute(text("SELECT count(*) FROM outbox_message")).scalar_one() == 0
    with transaction(runtime.sessions, beta.id) as session:
        assert session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one() == 1


def test_the_cross_tenant_path_returns_ids_only_and_is_not_public(runtime: Runtime) -> None:
    alpha, beta = make_tenant(runtime), make_tenant(runtime)
    expected = {(alpha.id, enqueue_ping(runtime, alpha.id)), (beta.id, enqueue_ping(runtime, beta.id))}
    assert set(pending_messages(runtime)) == expected

    with runtime.engine.connect() as conn:
        result = conn.execute(text("SELECT * FROM tsunagu_outbox_due(10, 0)"))
        assert list(result.keys()) == ["tenant_id", "id"]
        assert list(conn.execute(text("SELECT * FROM tsunagu_outbox_dead_letters(10)")).keys()) == [
            "tenant_id",
            "id",
        ]
        assert conn.execute(text("SELECT * FROM tsunagu_outbox_health()")).one() == (2, 2, 0)
        functions = conn.execute(
            text(
                "SELECT proname, prosecdef, proconfig, proacl::text FROM pg_proc "
                "WHERE proname LIKE 'tsunagu_outbox_%' ORDER BY proname"
            )
        ).all()
    assert [f.proname for f in functions] == [
        "tsunagu_outbox_dead_letters",
        "tsunagu_outbox_due",
        "tsunagu_outbox_health",
    ]
    for _name, definer, config, acl in functions:
        assert definer is True
        assert any(c.startswith("search_path=") for c in config)
        assert "{=" not in acl and ",=" not in acl  # no EXECUTE for PUBLIC


def test_a_message_that_cannot_be_recorded_is_deferred_not_dropped(runtime: Runtime) -> None:
    from tests.support.faults import free_port
    from tsunagu.core.outbox import DeliveryDeferred

    tenant = make_tenant(runtime)
    message_id = enqueue_ping(runtime, tenant.id)
    # The same database URL on a port where nothing listens: neither the handler nor the failure record can run.
    unreachable_url = (
        make_url(runtime.settings.database_url).set(port=free_port()).render_as_string(hide_password=False)
    )
    unreachable = Runtime.from_settings(dataclasses.replace(runtime.settings, database_url=unreachable_url))
    try:
        with pytest.raises(DeliveryDeferred, match="database unavailable"):
            process_message(unreachable, tenant.id, message_id)
    finally:
        unreachable.dispose()
    untouched = load(runtime, tenant.id, message_id)
    assert untouched is not None and untouched.attempts == 0 and untouched.last_error is None
    assert process_message(runtime, tenant.id, message_id) is Outcome.PROCESSED
