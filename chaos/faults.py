"""The faults, and how long the product takes to recover from each.

A fault runs while the load goes on. Some start with a backlog (:attr:`Fault.backlog` ``core.ping`` messages
at once) and strike once the worker is busy with it, as in the issue: a worker killed mid-backlog, PostgreSQL
stopped during a 300-message backlog. While PostgreSQL is stopped or frozen, probes ask ``/healthz``,
``/readyz`` and the API how they answer.

Recovery is measured from the end of the fault (the worker started again, Redis or PostgreSQL accepting
again, the frozen processes continued) until every one of these holds, polling twice a second:

* ``ready``   — ``GET /readyz`` answers 200;
* ``api``     — a new case can be opened through the API (``POST cases`` answers 201);
* ``outbox``  — every outbox message written since the previous fault's window and before this fault ended
  is processed, and a new ``core.ping`` written after the fault has its receipt (the worker consumes again);
* ``timers``  — every BPMN timer due since the previous window and before the fault ended has fired.

A part not met within :attr:`Harness.recovery_cap` seconds is reported as not recovered, with what was left.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
import redis

from . import log
from .cluster import DatabaseUrls, PostgresCluster, RedisServer
from .load import ERRORS, Ledger, PingProducer, request
from .processes import ManagedProcess
from .sessions import Answer, BrowserSession, ask

RECOVERY_PARTS = ("ready", "api", "outbox", "timers")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: How fast the product must answer while PostgreSQL is unreachable or frozen (issue #10, items 7).
HEALTH_BOUND_S = 2.0
#: How long a relaunched process may take to be ready before the note says it never was.
BOOT_TIMEOUT_S = 120.0


@dataclass
class Probe:
    """One request made while a fault lasted, and what was required of its answer."""

    name: str
    requirement: str
    status: int | None = None
    seconds: float = 0.0
    json_error: bool = False
    error: str = ""
    passed: bool = False

    def describe(self) -> str:
        got = f"{self.status}" if self.status is not None else (self.error or "no answer")
        kind = " JSON error" if self.json_error else ""
        return f"{self.name}: {got}{kind} in {self.seconds:.1f} s (needs {self.requirement})"


@dataclass
class FaultResult:
    key: str
    title: str
    started: float = 0.0  # time.monotonic()
    ended: float = 0.0
    ended_wall: datetime = field(default_factory=lambda: datetime.now(UTC))
    window_from_wall: datetime = field(default_factory=lambda: datetime.now(UTC))
    backlog_sent: int = 0
    backlog_unprocessed_at_fault: int = 0
    parts: dict[str, float | None] = field(default_factory=dict)  # seconds after the fault ended
    left: dict[str, str] = field(default_factory=dict)  # what was still missing at the cap
    probes: list[Probe] = field(default_factory=list)
    window_end: float = 0.0
    api_errors: int = 0
    ping_errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def down_seconds(self) -> float:
        return self.ended - self.started

    @property
    def recovered_after(self) -> float | None:
        values = [self.parts.get(p) for p in RECOVERY_PARTS]
        if any(v is None for v in values):
            return None
        return max(v for v in values if v is not None)

    @property
    def slowest(self) -> str:
        known = {p: v for p, v in self.parts.items() if v is not None}
        missing = [p for p in RECOVERY_PARTS if self.parts.get(p) is None]
        if missing:
            return ", ".join(missing)
        return max(known, key=lambda p: known[p]) if known else ""

    def passed(self, bound: float) -> bool:
        recovered = self.recovered_after
        return recovered is not None and recovered <= bound and all(p.passed for p in self.probes)


@dataclass
class Harness:
    """Everything a fault acts on or measures with."""

    cluster: PostgresCluster
    redis: RedisServer
    web: ManagedProcess
    worker: ManagedProcess
    beat: ManagedProcess
    urls: DatabaseUrls
    web_port: int
    slug: str
    probe_token: str
    queue: str
    ledger: Ledger
    pings: PingProducer
    recovery_cap: float = 60.0
    api_error_bound: float = 10.0
    #: a signed-in browser session, to see whether it survives the Redis restart
    session: BrowserSession | None = None
    #: probe threads still running when a fault's injection returns
    pending: list[threading.Thread] = field(default_factory=list)
    window_from_wall: datetime = field(default_factory=lambda: datetime.now(UTC))

    def owner_query(self, query: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.urls.owner_dsn, connect_timeout=2, autocommit=True) as conn:
            return list(conn.execute(query, params or {}).fetchall())

    def api(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 5.0) -> Any:
        return request(
            self.web_port,
            method,
            f"/t/{self.slug}/api/v1{path}",
            body=body,
            token=self.probe_token,
            timeout=timeout,
        )


@dataclass(frozen=True)
class Fault:
    key: str
    title: str
    inject: Callable[[Harness, FaultResult], None]
    backlog: int = 0


# --- the faults ---------------------------------------------------------------------------------------


def kill_worker(h: Harness, result: FaultResult) -> None:
    """``kill -9`` of the Celery worker (main process and pool) while it holds unacknowledged messages;
    launched again one second later."""
    _wait_for_broker_messages(h, result, unacked=2)
    result.started = time.monotonic()
    h.worker.kill9()
    time.sleep(1.0)
    h.worker.spawn()  # the fault ends when the new worker is launched: its boot counts as recovery
    _ended(result)
    _note_boot(h.worker, result)


def kill_beat(h: Harness, result: FaultResult) -> None:
    """``kill -9`` of beat (timers and the relay stop); launched again one second later."""
    result.started = time.monotonic()
    h.beat.kill9()
    time.sleep(1.0)
    h.beat.spawn()
    _ended(result)
    _note_boot(h.beat, result)


def restart_redis(h: Harness, result: FaultResult) -> None:
    """``kill -9`` of Redis while messages wait in it (lost without persistence); back two seconds later."""
    _wait_for_broker_messages(h, result, unacked=1)
    result.started = time.monotonic()
    h.redis.kill()
    during = ask(h.web_port, h.session) if h.session is not None else None
    _sleep_until(result.started + 2.0)
    h.redis.start()
    _ended(result)
    if h.session is not None and during is not None:
        thread = threading.Thread(
            target=_check_session, args=(h, h.session, result, during), name="chaos-session", daemon=True
        )
        thread.start()
        h.pending.append(thread)  # joined after the recovery measurement


SESSION_BOUND_S = 15.0


def _check_session(h: Harness, session: BrowserSession, result: FaultResult, during: Answer) -> None:
    """The session signed in before the outage must not have been deleted during it, and must answer as
    signed in again within :data:`SESSION_BOUND_S` of Redis' return."""
    probe = Probe("session", f"still signed in within {SESSION_BOUND_S:.0f} s (cookie kept)")
    result.probes.append(probe)
    t0 = time.monotonic()
    answer = ask(h.web_port, session)
    while not answer.signed_in and time.monotonic() - t0 < SESSION_BOUND_S:
        time.sleep(0.5)
        answer = ask(h.web_port, session)
    probe.seconds = time.monotonic() - t0
    probe.error = f"during the outage: {during.text}; after: {answer.text}"
    probe.passed = answer.signed_in and not during.cookie_deleted


def _wait_for_broker_messages(h: Harness, result: FaultResult, unacked: int, timeout: float = 5.0) -> None:
    """Wait (up to ``timeout``) until the worker holds ``unacked`` delivered, unacknowledged messages (kombu
    keeps them in the ``unacked`` hash) — the moment a crash strands them; note what Redis held."""
    client = redis.Redis(host="127.0.0.1", port=h.redis.port, socket_timeout=1)
    try:
        deadline = time.monotonic() + timeout
        held = queued = 0
        while time.monotonic() < deadline:
            pipe = client.pipeline()
            pipe.hlen("unacked")
            pipe.llen(h.queue)
            held, queued = (int(v) for v in pipe.execute())
            if held >= unacked:
                break
            time.sleep(0.005)
        result.notes.append(
            f"at the fault the worker held {held} unacknowledged message(s), {queued} queued in Redis"
        )
    except redis.RedisError as exc:
        result.notes.append(f"could not read the broker before the fault: {exc}")
    finally:
        client.close()


def restart_postgres_fast(h: Harness, result: FaultResult) -> None:
    result.started = time.monotonic()
    h.cluster.restart("fast")
    _ended(result)


def restart_postgres_immediate(h: Harness, result: FaultResult) -> None:
    result.started = time.monotonic()
    h.cluster.restart("immediate")
    _ended(result)


def stop_postgres(seconds: float) -> Callable[[Harness, FaultResult], None]:
    def inject(h: Harness, result: FaultResult) -> None:
        result.started = time.monotonic()
        h.cluster.stop("fast")
        probes = _probe_soon(h, result, 3.0)
        _sleep_until(result.started + seconds)
        h.cluster.start()
        _ended(result)
        _join(probes)

    inject.__doc__ = f"PostgreSQL stopped (``pg_ctl stop -m fast``) for {seconds:.0f} s mid-backlog."
    return inject


def freeze_postgres(seconds: float) -> Callable[[Harness, FaultResult], None]:
    def inject(h: Harness, result: FaultResult) -> None:
        result.started = time.monotonic()
        frozen = h.cluster.freeze()
        result.notes.append(f"{frozen} PostgreSQL processes stopped with SIGSTOP")
        probes = _probe_soon(h, result, 3.0)
        _sleep_until(result.started + seconds)
        h.cluster.thaw()
        _ended(result)
        _join(probes)

    inject.__doc__ = f"PostgreSQL frozen (SIGSTOP of the postmaster and its backends) for {seconds:.0f} s."
    return inject


def standard_faults(
    stop_seconds: float = 10.0, freeze_seconds: float = 40.0, backlog: int = 300
) -> list[Fault]:
    """The faults of issue #10, in the order the suite injects them."""
    return [
        Fault("worker-kill", "kill -9 worker (mid-backlog)", kill_worker, backlog),
        Fault("beat-kill", "kill -9 beat", kill_beat),
        Fault("redis-restart", "Redis kill -9 + restart (mid-backlog)", restart_redis, backlog),
        Fault("pg-fast", "PostgreSQL restart -m fast", restart_postgres_fast),
        Fault("pg-immediate", "PostgreSQL restart -m immediate", restart_postgres_immediate),
        Fault(
            "pg-stop",
            f"PostgreSQL stopped {stop_seconds:.0f} s (mid-backlog)",
            stop_postgres(stop_seconds),
            backlog,
        ),
        Fault(
            "pg-freeze",
            f"PostgreSQL frozen {freeze_seconds:.0f} s (SIGSTOP)",
            freeze_postgres(freeze_seconds),
        ),
    ]


# --- running one fault --------------------------------------------------------------------------------


def run_fault(h: Harness, fault: Fault) -> FaultResult:
    result = FaultResult(fault.key, fault.title, window_from_wall=h.window_from_wall)
    if fault.backlog:
        _make_backlog(h, fault.backlog, result)
    log(f"fault {fault.key}: {fault.title}")
    fault.inject(h, result)
    log(f"fault {fault.key}: ended after {result.down_seconds:.1f} s; measuring recovery")
    measure_recovery(h, result)
    _join(h.pending)
    h.pending.clear()
    recovered = result.recovered_after
    log(
        f"fault {fault.key}: "
        + (f"recovered after {recovered:.1f} s" if recovered is not None else f"NOT recovered: {result.left}")
        + "".join(f"; {p.describe()}" for p in result.probes)
    )
    events = h.ledger.overlapping(result.started, result.window_end)
    errors = [e for e in events if e.outcome in ERRORS]
    result.api_errors = sum(1 for e in errors if e.source == "api")
    result.ping_errors = sum(1 for e in errors if e.source == "ping")
    kinds: set[str] = set()
    for event in errors:
        sample = UUID_RE.sub("<id>", f"{event.source} {event.outcome}: {event.detail}")[:160]
        if sample[:70] not in kinds and len(result.error_samples) < 3:
            kinds.add(sample[:70])
            result.error_samples.append(sample)
    h.window_from_wall = result.ended_wall
    return result


def _make_backlog(h: Harness, count: int, result: FaultResult) -> None:
    """Write ``count`` pings at once, then wait until the worker has started on them (or 20 s)."""
    since = datetime.now(UTC)
    sent = h.pings.burst(count)
    result.backlog_sent = sent
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        left = _unprocessed_pings(h, since)
        if left <= sent * 0.85:
            break
        time.sleep(0.05)
    result.backlog_unprocessed_at_fault = _unprocessed_pings(h, since)
    log(
        f"backlog: {sent} pings written, {result.backlog_unprocessed_at_fault} unprocessed when the fault strikes"
    )


def _unprocessed_pings(h: Harness, since: datetime) -> int:
    rows = h.owner_query(
        "SELECT count(*) FROM outbox_message WHERE topic = 'core.ping' AND processed_at IS NULL AND created_at >= %(s)s",
        {"s": since},
    )
    return int(rows[0][0])


def measure_recovery(h: Harness, result: FaultResult) -> None:
    """Poll the four parts of recovery until all hold or :attr:`Harness.recovery_cap` passes."""
    parts: dict[str, float | None] = dict.fromkeys(RECOVERY_PARTS)
    left: dict[str, str] = {}
    canary: str | None = None
    deadline = result.ended + h.recovery_cap
    while time.monotonic() < deadline and any(v is None for v in parts.values()):
        now = time.monotonic()
        if parts["ready"] is None:
            ok, left["ready"] = _readyz(h)
            if ok:
                parts["ready"] = now - result.ended
        if parts["api"] is None:
            ok, left["api"] = _api_write(h)
            if ok:
                parts["api"] = time.monotonic() - result.ended
        if canary is None:
            try:
                canary = h.pings.enqueue(1)[0]
                h.ledger.acknowledge_pings([canary])
            except Exception as exc:
                left["outbox"] = f"cannot write a new ping: {type(exc).__name__}"
        try:
            if parts["outbox"] is None and canary is not None:
                ok, left["outbox"] = _outbox_drained(h, result, canary)
                if ok:
                    parts["outbox"] = time.monotonic() - result.ended
            if parts["timers"] is None:
                ok, left["timers"] = _timers_fired(h, result)
                if ok:
                    parts["timers"] = time.monotonic() - result.ended
        except psycopg.Error as exc:
            for part in ("outbox", "timers"):
                if parts[part] is None:
                    left[part] = f"database: {type(exc).__name__}"
        time.sleep(max(0.0, 0.5 - (time.monotonic() - now)))
    result.parts = parts
    result.left = {p: left.get(p, "") for p in RECOVERY_PARTS if parts[p] is None}
    result.window_end = time.monotonic()


def _readyz(h: Harness) -> tuple[bool, str]:
    try:
        response = request(h.web_port, "GET", "/readyz", timeout=3)
    except OSError as exc:
        return False, f"/readyz: {type(exc).__name__}"
    data = response.json()
    status = data.get("status") if isinstance(data, dict) else None
    # "degraded" (200 while Redis is away) is not recovered yet: only "ok" is
    return response.status == 200 and status == "ok", f"/readyz answers {response.status} {status}"


def _api_write(h: Harness) -> tuple[bool, str]:
    body = {"person": {"name": "復旧 確認", "name_kana": "フッキュウ カクニン"}, "org_unit": "kohoku"}
    try:
        response = h.api("POST", "/cases", body, timeout=5)
    except OSError as exc:
        return False, f"POST cases: {type(exc).__name__}"
    if response.status == 201:
        h.ledger.acknowledge_case(response.json()["id"])
        return True, ""
    return False, f"POST cases answers {response.status}"


def _outbox_drained(h: Harness, result: FaultResult, canary: str) -> tuple[bool, str]:
    rows = h.owner_query(
        "SELECT count(*) FILTER (WHERE created_at > %(a)s AND created_at <= %(b)s), "
        "       count(*) FILTER (WHERE id = %(c)s) "
        "FROM outbox_message WHERE processed_at IS NULL",
        {"a": result.window_from_wall, "b": result.ended_wall, "c": canary},
    )
    stuck, canary_waiting = int(rows[0][0]), int(rows[0][1])
    if stuck == 0 and canary_waiting == 0:
        return True, ""
    detail = f"{stuck} message(s) written before the fault ended still unprocessed"
    return False, detail + ("; the new ping not processed yet" if canary_waiting else "")


def _timers_fired(h: Harness, result: FaultResult) -> tuple[bool, str]:
    rows = h.owner_query(
        "SELECT count(*) FROM timer WHERE fired_at IS NULL AND cancelled_at IS NULL "
        "AND due_at > %(a)s AND due_at <= %(b)s",
        {"a": result.window_from_wall, "b": result.ended_wall},
    )
    waiting = int(rows[0][0])
    return waiting == 0, f"{waiting} timer(s) due before the fault ended not fired"


# --- probes while the fault lasts ---------------------------------------------------------------------


def _probe_soon(h: Harness, result: FaultResult, after: float) -> list[threading.Thread]:
    """Start the three probes ``after`` seconds into the fault, each in its own thread."""
    specs: list[tuple[str, str, str, Callable[[Probe, Any], bool]]] = [
        (
            "/healthz",
            f"200 within {HEALTH_BOUND_S:.0f} s",
            "/healthz",
            lambda p, _r: p.status == 200 and p.seconds <= HEALTH_BOUND_S,
        ),
        (
            "/readyz",
            f"503 within {HEALTH_BOUND_S:.0f} s",
            "/readyz",
            lambda p, _r: p.status == 503 and p.seconds <= HEALTH_BOUND_S,
        ),
        (
            "API GET tasks",
            f"a JSON error within {h.api_error_bound:.0f} s",
            f"/t/{h.slug}/api/v1/tasks?scope=mine&limit=1",
            lambda p, _r: (
                p.status is not None and p.status >= 500 and p.json_error and p.seconds <= h.api_error_bound
            ),
        ),
    ]
    threads = []
    for name, requirement, path, check in specs:
        probe = Probe(name, requirement)
        result.probes.append(probe)
        thread = threading.Thread(
            target=_run_probe, args=(h, probe, path, check, result.started + after), daemon=True
        )
        thread.start()
        threads.append(thread)
    return threads


def _run_probe(h: Harness, probe: Probe, path: str, check: Callable[[Probe, Any], bool], at: float) -> None:
    _sleep_until(at)
    t0 = time.monotonic()
    try:
        response = request(h.web_port, "GET", path, token=h.probe_token, timeout=60)
    except OSError as exc:
        probe.seconds = time.monotonic() - t0
        probe.error = type(exc).__name__
        return
    probe.seconds = time.monotonic() - t0
    probe.status = response.status
    probe.json_error = response.is_json_error
    probe.passed = check(probe, response)


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(timeout=90)


def _sleep_until(at: float) -> None:
    delay = at - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def _note_boot(proc: ManagedProcess, result: FaultResult) -> None:
    """Note (from a thread) how long the relaunched process took to be ready: a busy machine boots slowly."""

    def wait() -> None:
        t0 = time.monotonic()
        try:
            proc.wait_ready(timeout=BOOT_TIMEOUT_S)
        except Exception as exc:
            result.notes.append(f"{proc.name} not ready: {exc}")
            return
        result.notes.append(f"{proc.name} ready {time.monotonic() - t0:.1f} s after it was launched again")

    threading.Thread(target=wait, name=f"chaos-boot-{proc.name}", daemon=True).start()


def _ended(result: FaultResult) -> None:
    result.ended = time.monotonic()
    result.ended_wall = datetime.now(UTC)
