"""The demo path: SQLite, no Redis — the relay processes messages in-process right after commit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.factories import make_tenant
from tests.jobs.conftest import receipt_count
from tsunagu.core.migrate import upgrade
from tsunagu.core.outbox import PING_TOPIC, OutboxMessage, Outcome, enqueue, process_message, relay_pending
from tsunagu.core.runtime import Runtime
from tsunagu.core.session import transaction
from tsunagu.jobs.beat import tick


@pytest.fixture
def demo_runtime(tmp_path: Path) -> Iterator[Runtime]:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    settings = make_settings(database_url=url, migration_database_url=url, redis_url=None)
    upgrade(settings)  # the whole chain, as `tsunagu dev` runs it
    runtime = Runtime.from_settings(settings)
    yield runtime
    runtime.dispose()


def test_the_demo_without_redis_processes_jobs_inline_on_sqlite(demo_runtime: Runtime) -> None:
    assert not demo_runtime.settings.uses_broker
    tenant = make_tenant(demo_runtime)
    with transaction(demo_runtime.sessions, tenant.id) as session:
        committed = enqueue(session, PING_TOPIC, {}).id
    with pytest.raises(RuntimeError), transaction(demo_runtime.sessions, tenant.id) as session:
        enqueue(session, PING_TOPIC, {})
        session.flush()
        raise RuntimeError("roll back")

    result = tick(demo_runtime)  # what the demo's background thread runs

    assert result.relayed == 1 and result.errors == []
    assert receipt_count(demo_runtime, tenant.id) == 1
    assert receipt_count(demo_runtime, tenant.id, committed) == 1
    with transaction(demo_runtime.sessions, tenant.id) as session:
        message = session.get(OutboxMessage, (tenant.id, committed))
        assert message is not None and message.processed_at is not None and message.dispatch_count == 1
    assert relay_pending(demo_runtime) == 0
    assert process_message(demo_runtime, tenant.id, committed) is Outcome.DUPLICATE
    assert receipt_count(demo_runtime, tenant.id) == 1


def test_a_retried_post_with_an_idempotency_key_starts_one_case_on_sqlite(demo_runtime: Runtime) -> None:
    from sqlalchemy import func, select

    from tests.factories import make_user
    from tsunagu.app import create_app
    from tsunagu.cases.models import Case

    tenant = make_tenant(demo_runtime)
    user = make_user(demo_runtime, tenant, roles=["consultant"])
    client = create_app(demo_runtime.settings, demo_runtime).test_client()
    headers = {"Authorization": f"Bearer {user.token}", "Idempotency-Key": "demo-1"}
    body = {"person": {"name": "山田 花子", "name_kana": "ヤマダ ハナコ"}}
    first = client.post(f"/t/{tenant.slug}/api/v1/cases", json=body, headers=headers)
    again = client.post(f"/t/{tenant.slug}/api/v1/cases", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, first.get_json()
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    with transaction(demo_runtime.sessions, tenant.id) as session:
        assert session.execute(select(func.count()).select_from(Case)).scalar() == 1
