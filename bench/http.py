"""Level 3, HTTP: the same casework tasks completed through the JSON API on gunicorn.

The production web process — the command line ``tsunagu serve`` runs (``tsunagu.cli.gunicorn_argv``: gunicorn,
2 gthread workers with 4 threads each) — runs as a subprocess bound to 127.0.0.1 on a free port, connected to
the bench database as the application role.
Before the clients start, cases are opened through the services (untimed), so every client owns its own
cases and completes distinct tasks: it walks its cases round-robin — intake of each, then consent of each,
and so on up to the start of delivery (the rest waits for the monitoring timer) — with one
``POST /t/<tenant>/api/v1/tasks/<id>/complete`` per task carrying the same form data as the other levels.
The next ready task of a case is looked up in the database beside the measurement (a client would have it
from its inbox); only the HTTP request is timed.

Traffic goes to 127.0.0.1 only and every level is bounded in time and in the number of cases.
CPU use of the machine, of the gunicorn workers and of PostgreSQL is sampled from ``/proc`` per level, so
the report can say whether a level was bound by CPU.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import socket
import subprocess
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

from tsunagu.config import REPO_ROOT, Settings

from . import BenchError, log, percentile, ratio
from .floor import PATH, pick_next, submission
from .maintenance import AutovacuumStandIn
from .memory import (
    CLK_TCK,
    children,
    cmdline,
    cpu_seconds,
    machine_cpu,
    proc_status,
    processes_named,
    worker_env,
)

#: Per case the clients complete these before the monitoring timer makes the case wait.
TASKS_BEFORE_TIMER = PATH.index("delivery_start") + 1


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GunicornServer:
    """The production web process (``tsunagu serve``: gunicorn, gthread) with ``workers`` workers on
    127.0.0.1:<free port>."""

    def __init__(self, settings: Settings, log_dir: Path, workers: int = 2) -> None:
        self.settings = settings
        self.workers = workers
        self.port = free_port()
        self.log_path = log_dir / "gunicorn.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None
        self.start_status: dict[int, dict[str, int]] = {}

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchError("gunicorn is not running")
        return self.process.pid

    def worker_pids(self) -> list[int]:
        return children(self.pid)

    def __enter__(self) -> GunicornServer:
        from tsunagu.cli import gunicorn_argv

        # exactly what ``tsunagu serve`` runs in production (gthread workers), on a free port
        command = gunicorn_argv("127.0.0.1", self.port, self.workers)
        with self.log_path.open("wb") as log_file:
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=worker_env(self.settings),
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited with {self.process.returncode}: see {self.log_path}")
            if len(self.worker_pids()) >= self.workers and self._healthy():
                break
            time.sleep(0.2)
        else:
            self.__exit__(None, None, None)
            raise BenchError(f"gunicorn did not answer /healthz within 60 s: see {self.log_path}")
        self.start_status = {pid: proc_status(pid) for pid in self.worker_pids()}
        return self

    def _healthy(self) -> bool:
        try:
            status, _ = request(self.port, "GET", "/healthz", None, {})
        except OSError:
            return False
        return status == 200

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def request(
    port: int, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
) -> tuple[int, bytes]:
    """One HTTP/1.1 request on a fresh connection (as a client without keep-alive would)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8") if body is not None else None
        all_headers = dict(headers)
        if payload is not None:
            all_headers["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@dataclass
class ClientTally:
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    conflicts: int = 0
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    first_error: str = ""


@dataclass
class Level:
    clients: int
    cases: list[uuid.UUID]
    max_seconds: float


def _client(
    port: int,
    token: str,
    slug: str,
    tenant_id: uuid.UUID,
    owner_dsn: str,
    cases: list[uuid.UUID],
    deadline_box: list[float],
    start: threading.Barrier,
    tally: ClientTally,
) -> None:
    try:
        _walk(port, token, slug, tenant_id, owner_dsn, cases, deadline_box, start, tally)
    except Exception as exc:  # counted, so a broken client shows in the report instead of vanishing
        tally.errors += 1
        tally.first_error = tally.first_error or f"client crashed: {type(exc).__name__}: {exc}"
        start.abort()  # nobody waits for a client that will never arrive


def _walk(
    port: int,
    token: str,
    slug: str,
    tenant_id: uuid.UUID,
    owner_dsn: str,
    cases: list[uuid.UUID],
    deadline_box: list[float],
    start: threading.Barrier,
    tally: ClientTally,
) -> None:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    base = f"/t/{slug}/api/v1/tasks/"
    rotation = deque(cases)
    with psycopg.connect(owner_dsn, autocommit=True) as lookup:
        start.wait()
        while rotation and time.monotonic() < deadline_box[0]:
            case_id = rotation.popleft()
            rows = lookup.execute(
                "SELECT id, element FROM human_task WHERE tenant_id = %s AND case_id = %s AND state = 'ready'",
                (tenant_id, case_id),
            ).fetchall()
            elements = [r[1] for r in rows]
            element = pick_next(elements)
            if element is None or element not in PATH[:TASKS_BEFORE_TIMER]:
                continue  # the case waits for its monitoring timer: it leaves the rotation
            task_id = next(r[0] for r in rows if r[1] == element)
            body = {"data": submission(element)}
            t0 = time.perf_counter()
            try:
                status, raw = request(port, "POST", f"{base}{task_id}/complete", body, headers)
            except OSError as exc:
                tally.errors += 1
                tally.first_error = tally.first_error or f"{type(exc).__name__}: {exc}"
                continue
            elapsed = time.perf_counter() - t0
            tally.statuses[status] = tally.statuses.get(status, 0) + 1
            if 200 <= status < 300:
                tally.ok += 1
                tally.latencies.append(elapsed)
                rotation.append(case_id)
            elif status == 409:
                tally.conflicts += 1
                tally.latencies.append(elapsed)
                rotation.append(case_id)
            else:
                tally.errors += 1
                tally.first_error = tally.first_error or f"{status}: {raw[:300]!r}"


def _postgres_cpu(database: str) -> float:
    """CPU seconds of the PostgreSQL backends serving ``database`` (not other users of the server)."""
    return sum(cpu_seconds(pid) for pid in processes_named("postgres") if f" {database} " in cmdline(pid))


def run_level(
    server: GunicornServer,
    slug: str,
    tenant_id: uuid.UUID,
    tokens: list[str],
    owner_dsn: str,
    level: Level,
) -> dict[str, Any]:
    """Run ``level.clients`` client threads over their share of ``level.cases``; returns the tally."""
    shares: list[list[uuid.UUID]] = [level.cases[i :: level.clients] for i in range(level.clients)]
    tallies = [ClientTally() for _ in range(level.clients)]
    start = threading.Barrier(level.clients + 1)
    deadline_box = [math.inf]
    threads = [
        threading.Thread(
            target=_client,
            args=(
                server.port,
                tokens[i % len(tokens)],
                slug,
                tenant_id,
                owner_dsn,
                shares[i],
                deadline_box,
                start,
                tallies[i],
            ),
            daemon=True,
            name=f"bench-client-{i}",
        )
        for i in range(level.clients)
    ]
    for thread in threads:
        thread.start()
    workers = server.worker_pids()
    worker_cpu0 = sum(cpu_seconds(p) for p in workers)
    database = owner_dsn.rsplit("/", 1)[-1].split("?", 1)[0]
    pg_cpu0 = _postgres_cpu(database)
    self_cpu0 = time.process_time()
    busy0, total0 = machine_cpu()
    deadline_box[0] = time.monotonic() + level.max_seconds
    t0 = time.perf_counter()
    try:
        start.wait(timeout=60)
    except threading.BrokenBarrierError:
        pass  # a client failed before the start: its error is in its tally
    for thread in threads:
        thread.join(timeout=level.max_seconds + 120)
    elapsed = time.perf_counter() - t0
    busy1, total1 = machine_cpu()
    worker_cpu = sum(cpu_seconds(p) for p in workers) - worker_cpu0
    pg_cpu = _postgres_cpu(database) - pg_cpu0
    self_cpu = time.process_time() - self_cpu0
    # CPU the rest of the machine used meanwhile (other processes: noise in a shared machine)
    busy_s = (busy1 - busy0) / CLK_TCK
    other_share = max(0.0, busy_s - worker_cpu - pg_cpu - self_cpu) / (elapsed * (os.cpu_count() or 1))

    latencies = [x * 1000.0 for t in tallies for x in t.latencies]
    ok = sum(t.ok for t in tallies)
    statuses: dict[str, int] = {}
    for t in tallies:
        for status, count in t.statuses.items():
            statuses[str(status)] = statuses.get(str(status), 0) + count
    return {
        "clients": level.clients,
        "cases": len(level.cases),
        "seconds": elapsed,
        "completions": ok,
        "completions_per_s": ok / elapsed if elapsed > 0 else 0.0,
        "latency_ms": {
            "mean": sum(latencies) / len(latencies) if latencies else math.nan,
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
            "max": max(latencies) if latencies else math.nan,
        },
        "conflicts_409": sum(t.conflicts for t in tallies),
        "errors": sum(t.errors for t in tallies),
        "statuses": statuses,
        "first_error": next((t.first_error for t in tallies if t.first_error), ""),
        "cpu": {
            "machine_busy_share": (busy1 - busy0) / (total1 - total0) if total1 > total0 else math.nan,
            "web_workers_ms_per_completion": worker_cpu * 1000.0 / ok if ok else math.nan,
            "postgres_ms_per_completion": pg_cpu * 1000.0 / ok if ok else math.nan,
            "bench_clients_ms_per_completion": self_cpu * 1000.0 / ok if ok else math.nan,
            "other_processes_share": other_share,
        },
    }


def cases_for(clients: int, workers: int, service_task_ms: float, seconds: float, cap: int) -> int:
    """How many cases to open for a level: twice what the service-level speed predicts for ``seconds``."""
    per_s = min(clients, workers) * 1000.0 / max(service_task_ms * 1.3, 1.0)
    wanted = math.ceil(2 * per_s * seconds / TASKS_BEFORE_TIMER)
    return max(clients * 2, min(wanted, cap))


def run_http(
    server: GunicornServer,
    runtime: Any,
    bench: Any,
    owner_dsn: str,
    workflows_dir: Path,
    levels: list[int],
    seconds: float,
    service: dict[str, Any],
    floor: dict[str, Any],
    max_cases: int = 400,
    shared_token_level: bool = True,
    progress: Callable[[str], None] = log,
) -> dict[str, Any]:
    """Warm both workers up, then run each client level on freshly opened cases."""
    from .service import start_cases, without_broker

    runtime = without_broker(runtime)
    service_ms = float(service["per_task_ms"]["mean"])
    # Cases are opened per level just before it runs, so every level starts from intake.
    plans = [(Level(c, [], seconds), False) for c in levels]
    if shared_token_level and levels:
        plans.append((Level(max(levels), [], seconds), True))
    own_tokens = list(bench.client_tokens or [bench.token])
    warm = Level(4, start_cases(runtime, bench, 8, workflows_dir), max(5.0, seconds))
    with AutovacuumStandIn(owner_dsn):
        run_level(server, bench.slug, bench.tenant_id, own_tokens, owner_dsn, warm)
    results = []
    floor_ms = float(floor["per_task_ms"]["mean"])
    for plan, shared in plans:
        tokens = [bench.token] if shared else own_tokens
        count = cases_for(plan.clients, server.workers, service_ms, seconds, max_cases)
        t0 = time.perf_counter()
        plan.cases = start_cases(runtime, bench, count, workflows_dir)
        prep = time.perf_counter() - t0
        with AutovacuumStandIn(owner_dsn) as autovacuum:
            result = run_level(server, bench.slug, bench.tenant_id, tokens, owner_dsn, plan)
        result["autovacuum"] = autovacuum.summary()
        result["tokens"] = min(len(tokens), plan.clients)
        result["shared_token"] = shared
        result["prepare_seconds"] = prep
        result["ratio_to_floor"] = {
            # the floor's rate is one core running Spiff alone: 1000 / (ms per completion)
            "throughput": ratio(result["completions_per_s"], 1000.0 / floor_ms),
            "latency_p50": ratio(result["latency_ms"]["p50"], floor_ms),
            "latency_p95": ratio(result["latency_ms"]["p95"], floor_ms),
        }
        results.append(result)
        progress(
            f"http: {plan.clients} client(s){' sharing one token' if shared else ''}: "
            f"{result['completions_per_s']:.1f} completions/s, "
            f"p50 {result['latency_ms']['p50']:.1f} ms, p95 {result['latency_ms']['p95']:.1f} ms, "
            f"409 {result['conflicts_409']}, errors {result['errors']} "
            f"(CPU busy {result['cpu']['machine_busy_share'] * 100:.0f} %)"
        )
        if result["errors"]:
            progress(f"http: first error: {result['first_error']}")
    return {
        "workers": server.workers,
        "worker_class": "gthread",
        "cores": os.cpu_count(),
        "levels": results,
        "seconds_per_level": seconds,
    }
