"""``tick`` and the ``tsunagu beat`` loop."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import make_tenant
from tests.jobs.conftest import REPO_ROOT, WAIT_SECONDS, receipt_count, wait_for, worker_env
from tsunagu.core.outbox import PING_TOPIC, enqueue
from tsunagu.core.runtime import Runtime
from tsunagu.core.session import transaction
from tsunagu.jobs import beat


def test_tick_relays_the_outbox_and_reports_what_it_did(
    inline_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(beat, "_timer_hook", lambda: None)  # the engine's timers have their own tests
    tenant = make_tenant(inline_runtime)
    with transaction(inline_runtime.sessions, tenant.id) as session:
        for _ in range(3):
            enqueue(session, PING_TOPIC, {})

    first = beat.tick(inline_runtime)
    assert first.relayed == 3 and first.errors == []
    assert beat.tick(inline_runtime).relayed == 0
    assert receipt_count(inline_runtime, tenant.id) == 3


def test_tick_keeps_going_when_a_step_fails(inline_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_runtime: Runtime, _limit: int) -> int:
        raise ConnectionError("database gone")

    fired: list[Runtime] = []

    def fire_due_timers(rt: Runtime) -> int:
        fired.append(rt)
        return 2

    monkeypatch.setattr(beat, "relay_pending", broken)
    monkeypatch.setattr(beat, "_timer_hook", lambda: fire_due_timers)

    result = beat.tick(inline_runtime)

    assert result.errors == ["outbox: ConnectionError: database gone"]
    assert result.timers_fired == 2 and fired == [inline_runtime]


@pytest.mark.parametrize("missing", ["tsunagu.no_such_module.timers", "tsunagu.jobs.no_such_timers"])
def test_tick_skips_timers_until_the_engine_provides_them(
    missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(beat, "TIMERS_MODULE", missing)
    assert beat._timer_hook() is None


def test_beat_processes_jobs_and_stops_cleanly_on_sigterm(inline_runtime: Runtime, tmp_path: Path) -> None:
    tenant = make_tenant(inline_runtime)
    with transaction(inline_runtime.sessions, tenant.id) as session:
        message_id = enqueue(session, PING_TOPIC, {}).id
    env = worker_env(inline_runtime.settings) | {"TSUNAGU_BEAT_INTERVAL_SECONDS": "0.2"}
    log_path = tmp_path / "beat.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-c", "from tsunagu.cli import main; main()", "beat"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: receipt_count(inline_runtime, tenant.id, message_id) == 1, "beat to run the job")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=WAIT_SECONDS) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    log = log_path.read_text()
    assert "beat started" in log and "beat stopped" in log and "outbox relay failed" not in log


def test_an_outage_is_one_warning_per_tick_and_a_bug_keeps_its_traceback(
    inline_runtime: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy.exc import OperationalError

    def database_down(_runtime: Runtime, _limit: int) -> int:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    def buggy(_runtime: Runtime) -> int:
        raise KeyError("oops")

    monkeypatch.setattr(beat, "relay_pending", database_down)
    monkeypatch.setattr(beat, "_timer_hook", lambda: buggy)
    result = beat.tick(inline_runtime)
    assert [e.split(":")[0] for e in result.errors] == ["outbox", "timers"]
    relay, timers = (r for r in caplog.records if r.name == "tsunagu.beat")
    assert (
        relay.levelname == "WARNING"
        and relay.exc_info is None
        and "will retry next tick" in relay.getMessage()
    )
    assert timers.levelname == "ERROR" and timers.exc_info is not None
