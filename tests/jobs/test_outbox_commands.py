"""``tsunagu outbox status | dead-letters | retry`` (core/commands.py) on the test database, as the application role."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner

from tests.factories import make_tenant
from tests.jobs.conftest import worker_env
from tsunagu.cli import main
from tsunagu.core.db import utcnow
from tsunagu.core.outbox import PING_TOPIC, OutboxMessage, enqueue
from tsunagu.core.runtime import Runtime
from tsunagu.core.session import transaction


def _dead_letter(runtime: Runtime, tenant_id: uuid.UUID, error: str) -> uuid.UUID:
    with transaction(runtime.sessions, tenant_id) as session:
        message = enqueue(session, PING_TOPIC, {})
        message.attempts = runtime.settings.outbox_max_attempts
        message.dead_at = utcnow()
        message.last_error = error
    return message.id


def _cli(runtime: Runtime, *args: str) -> tuple[int, str]:
    env = worker_env(runtime.settings) | {"TSUNAGU_REDIS_URL": ""}
    result = CliRunner().invoke(main, ["outbox", *args], env=env)
    return result.exit_code, result.output


@pytest.fixture
def dead_letters(runtime: Runtime) -> dict[uuid.UUID, uuid.UUID]:
    """Two tenants, one dead letter each (message id → tenant id), and one healthy message."""
    alpha, beta = make_tenant(runtime), make_tenant(runtime)
    with transaction(runtime.sessions, alpha.id) as session:
        enqueue(session, PING_TOPIC, {})
    return {
        _dead_letter(runtime, alpha.id, "RuntimeError: the service is down"): alpha.id,
        _dead_letter(runtime, beta.id, "UnknownTopic: no outbox handler"): beta.id,
    }


def test_dead_letters_are_listed_across_tenants_with_their_last_error(
    runtime: Runtime, dead_letters: dict[uuid.UUID, uuid.UUID]
) -> None:
    code, output = _cli(runtime, "dead-letters", "--json")
    assert code == 0, output
    listed = [json.loads(line) for line in output.splitlines()]
    assert {(uuid.UUID(d["id"]), uuid.UUID(d["tenant_id"])) for d in listed} == set(dead_letters.items())
    assert {d["last_error"] for d in listed} == {
        "RuntimeError: the service is down",
        "UnknownTopic: no outbox handler",
    }
    code, output = _cli(runtime, "dead-letters")
    assert code == 0 and output.strip().endswith("2 dead letter(s)")
    code, output = _cli(runtime, "status")
    assert code == 0 and output.splitlines() == ["unprocessed: 1", "overdue: 1", "dead letters: 2"]


def test_retrying_a_dead_letter_makes_it_due_again(
    runtime: Runtime, dead_letters: dict[uuid.UUID, uuid.UUID]
) -> None:
    chosen, other = list(dead_letters)
    unknown = uuid.uuid4()
    code, output = _cli(runtime, "retry", str(chosen), str(unknown))
    assert code == 1
    assert f"retrying {chosen}" in output and f"not a dead letter: {unknown}" in output
    with transaction(runtime.sessions, dead_letters[chosen]) as session:
        retried = session.get(OutboxMessage, (dead_letters[chosen], chosen))
        assert retried is not None and retried.dead_at is None and retried.attempts == 0
        assert retried.available_at <= utcnow()
    code, output = _cli(runtime, "retry", "--all")
    assert code == 0 and f"retrying {other}" in output and output.strip().endswith("1 message(s) due again")
    assert _cli(runtime, "retry")[0] == 2  # neither ids nor --all: a usage error
