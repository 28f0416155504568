"""The whole run (``make chaos``, ``python -m chaos``): set up, load, inject every fault, check, report.

1. A PostgreSQL cluster and a Redis of the suite's own, on free ports in a temporary directory.
2. The product as an operator runs it (production settings): ``tsunagu db upgrade`` as the owner role,
   ``tsunagu tenants sync tenants/``, ``tsunagu tokens create`` for the API clients, then ``tsunagu serve``
   (gunicorn, 2 workers), ``tsunagu worker`` (Celery) and ``tsunagu beat``, all connected as the application
   role.
3. The standard casework, redeployed through ``POST definitions`` with its monitoring timer set to a few
   seconds (``--timer-seconds``), so real timers fall due all through the run and beat fires them.
4. A bounded load (:mod:`chaos.load`): caseworkers working cases through the API, ``core.ping`` messages.
5. The faults (:mod:`chaos.faults`), each followed by its recovery measurement and a calm spell.
6. The load stops, the outbox and the due timers drain, the checks (:mod:`chaos.checks`) run.
7. The table is printed and written to ``chaos/results/latest.md``; exit status 1 if anything failed.

Everything started is stopped by PID in a ``finally`` (also on Ctrl-C or SIGTERM); the temporary directory
with every log is removed after a passing run and kept (its path printed) after a failing one.
"""

from __future__ import annotations

import argparse
import base64
import io
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import requests

from . import ChaosError, log
from .checks import run_checks
from .cluster import PostgresCluster, RedisServer, describe, log_versions
from .cpu import CpuSampler
from .faults import Fault, FaultResult, Harness, run_fault, standard_faults
from .load import ERRORS, CaseClient, Ledger, PingProducer, ping_enqueuer
from .processes import REPO_ROOT, ManagedProcess, Supervisor, beat, product_env, run_cli, web, worker
from .report import RunInfo, as_data, commit, load_average, machine, render, write
from .sessions import BrowserSession, ask, sign_in

TENANT = "yokohama"  # hybrid meetings: urgent cases go to an ad hoc meeting (the path of chaos.load)
PROBE_USER = "chaos-probe@chaos.example.jp"
CASEWORK = REPO_ROOT / "workflows" / "casework" / "casework.bpmn"


@dataclass
class Options:
    clients: int
    cases_per_client: int
    timer_seconds: int
    warmup: float
    calm: float
    backlog: int
    stop_seconds: float
    freeze_seconds: float
    recovery_bound: float
    recovery_cap: float
    api_error_bound: float | None
    drain_cap: float
    faults: list[str]
    keep: bool
    redis_appendonly: bool
    pings_per_second: float


def parse(argv: list[str] | None) -> Options:
    p = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.split("\n", 1)[0])
    p.add_argument("--clients", type=int, default=3, help="API client threads (default 3)")
    p.add_argument("--cases-per-client", type=int, default=10, help="open cases per client (default 10)")
    p.add_argument("--timer-seconds", type=int, default=10, help="monitoring timer of the test deployment")
    p.add_argument("--warmup", type=float, default=20.0, help="seconds of load before the first fault")
    p.add_argument("--calm", type=float, default=8.0, help="seconds of load between faults")
    p.add_argument("--backlog", type=int, default=300, help="pings written at once before backlog faults")
    p.add_argument("--stop-seconds", type=float, default=10.0)
    p.add_argument("--freeze-seconds", type=float, default=40.0)
    p.add_argument("--recovery-bound", type=float, default=30.0, help="required recovery (default 30 s)")
    p.add_argument("--recovery-cap", type=float, default=60.0, help="stop measuring a recovery after this")
    p.add_argument(
        "--api-error-bound",
        type=float,
        default=None,
        help="an API request must fail within this while PostgreSQL is down or frozen "
        "(default: the product's statement timeout + 2 s)",
    )
    p.add_argument("--drain-cap", type=float, default=60.0, help="wait this long for the outbox to drain")
    p.add_argument(
        "--faults",
        default="",
        help="comma-separated subset of: " + ", ".join(f.key for f in standard_faults()),
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (logs, data) after a pass"
    )
    p.add_argument("--redis-appendonly", action="store_true", help="run Redis with an append-only file")
    p.add_argument("--pings-per-second", type=float, default=4.0)
    a = p.parse_args(argv)
    return Options(
        clients=a.clients,
        cases_per_client=a.cases_per_client,
        timer_seconds=a.timer_seconds,
        warmup=a.warmup,
        calm=a.calm,
        backlog=a.backlog,
        stop_seconds=a.stop_seconds,
        freeze_seconds=a.freeze_seconds,
        recovery_bound=a.recovery_bound,
        recovery_cap=a.recovery_cap,
        api_error_bound=a.api_error_bound,
        drain_cap=a.drain_cap,
        faults=[k.strip() for k in a.faults.split(",") if k.strip()],
        keep=a.keep,
        redis_appendonly=a.redis_appendonly,
        pings_per_second=a.pings_per_second,
    )


def product_settings(owner_url: str, app_url: str, redis_url: str) -> dict[str, str]:
    """Production settings, as an operator sets them (README "Configuration")."""
    return {
        "TSUNAGU_ENV": "production",
        "TSUNAGU_DATABASE_URL": app_url,
        "TSUNAGU_MIGRATION_DATABASE_URL": owner_url,
        "TSUNAGU_APP_DB_ROLE": "tsunagu_app",
        "TSUNAGU_REDIS_URL": redis_url,
        "TSUNAGU_SECRET_KEY": secrets.token_urlsafe(48),
        "TSUNAGU_AUDIT_HMAC_KEY": secrets.token_urlsafe(48),
        "TSUNAGU_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "TSUNAGU_BASE_DOMAIN": "chaos.localhost",
        "TSUNAGU_BEAT_INTERVAL_SECONDS": "1",
        "TSUNAGU_CELERY_QUEUE": f"chaos-{uuid.uuid4().hex[:8]}",
        "TSUNAGU_LOG_LEVEL": "INFO",
    }


def short_timer_casework(seconds: int) -> str:
    """The standard casework with its monitoring timer due ``seconds`` after delivery starts."""
    text = CASEWORK.read_text(encoding="utf-8")
    old = ">monitoring_interval</bpmn:timeDuration>"
    if text.count(old) != 1:
        raise ChaosError(f"{CASEWORK}: expected one monitoring timer expression {old!r}")
    return text.replace(old, f">'PT{seconds}S'</bpmn:timeDuration>")


def deploy_short_timers(port: int, token: str, seconds: int) -> int:
    """Open one case (the library is deployed on a tenant's first case), then upload the short-timer casework."""
    base = f"http://127.0.0.1:{port}/t/{TENANT}/api/v1"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    first = requests.post(
        f"{base}/cases",
        json={"person": {"name": "配備 確認", "name_kana": "ハイビ カクニン"}, "org_unit": "kohoku"},
        headers=headers,
        timeout=30,
    )
    if first.status_code != 201:
        raise ChaosError(f"opening the first case failed: {first.status_code} {first.text[:300]}")
    files = {
        "files": ("casework/casework.bpmn", io.BytesIO(short_timer_casework(seconds).encode()), "text/xml")
    }
    deployed = requests.post(
        f"{base}/definitions",
        files=files,
        data={"note": f"chaos: monitoring every {seconds} s"},
        headers=headers,
        timeout=60,
    )
    if deployed.status_code != 201:
        raise ChaosError(
            f"deploying the short-timer casework failed: {deployed.status_code} {deployed.text[:500]}"
        )
    return int(deployed.json()["version"])


class Run:
    """Owns every process and directory of one run, and stops them all in :meth:`close`."""

    def __init__(self, options: Options) -> None:
        self.o = options
        self.root = Path(tempfile.mkdtemp(prefix="tsunagu-chaos-"))
        self.root.chmod(0o755)  # the PostgreSQL user (not root) must reach its data directory
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.cluster = PostgresCluster(self.root / "pg")
        self.redis = RedisServer(self.root / "redis", appendonly=options.redis_appendonly)
        self.processes: list[ManagedProcess] = []
        self.supervisor: Supervisor | None = None
        self.clients: list[CaseClient] = []
        self.pings: PingProducer | None = None
        self.runtime: Any = None
        self.ledger = Ledger()

    def close(self, keep: bool) -> None:
        for client in self.clients:
            client.stop()
        if self.pings is not None:
            self.pings.stop()
        if self.supervisor is not None:
            self.supervisor.stop()
        for proc in reversed(self.processes):
            try:
                proc.stop()
            except Exception as exc:
                log(f"stopping {proc.name}: {exc}")
        if self.runtime is not None:
            self.runtime.dispose()
        self.redis.shutdown()
        self.cluster.shutdown()
        if keep:
            log(f"logs and data kept in {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def setup(self) -> Harness:
        self.cluster.init()
        self.cluster.start()
        self.cluster.wait_ready()
        urls = self.cluster.create_roles()
        self.redis.start()
        log(describe(self.cluster, self.redis))
        env = product_env(product_settings(urls.owner_url, urls.app_url, self.redis.url))
        run_cli(env, "db", "upgrade")
        run_cli(env, "tenants", "sync", str(REPO_ROOT / "tenants"))
        tokens = [
            run_cli(
                env,
                "tokens",
                "create",
                "--tenant",
                TENANT,
                "--user",
                PROBE_USER if n == 0 else f"chaos-{n}@chaos.example.jp",
                "--roles",
                "tenant_admin",
                "--name",
                f"chaos {n}",
                "--create-user",
            ).strip()
            for n in range(self.o.clients + 1)
        ]
        log(f"migrated, tenants loaded, {len(tokens)} API tokens")
        port = _free_web_port()
        self.processes = [web(env, self.logs, port), worker(env, self.logs), beat(env, self.logs)]
        for proc in self.processes:
            proc.spawn()  # all three at once: each spends seconds importing
        for proc in self.processes:
            proc.wait_ready()
        self.supervisor = Supervisor(self.processes)
        self.supervisor.start()
        version = deploy_short_timers(port, tokens[0], self.o.timer_seconds)
        log(
            f"web on 127.0.0.1:{port}, worker and beat up; casework v{version} with a {self.o.timer_seconds} s timer"
        )

        from tsunagu.config import Settings
        from tsunagu.core.runtime import Runtime

        settings = Settings.from_env(env)
        self.runtime = Runtime.from_settings(settings)
        harness = Harness(
            cluster=self.cluster,
            redis=self.redis,
            web=self.processes[0],
            worker=self.processes[1],
            beat=self.processes[2],
            urls=urls,
            web_port=port,
            slug=TENANT,
            probe_token=tokens[0],
            queue=env["TSUNAGU_CELERY_QUEUE"],
            ledger=self.ledger,
            pings=PingProducer(ping_enqueuer(self.runtime, _tenant_id(urls.owner_dsn)), self.ledger),
            recovery_cap=self.o.recovery_cap,
            api_error_bound=self.o.api_error_bound or _api_error_bound(settings),
        )
        harness.pings.interval = 1.0 / self.o.pings_per_second
        harness.session = self._signed_in_session(harness)
        self.pings = harness.pings
        self.clients = [
            CaseClient(
                f"chaos-client-{n}", port, TENANT, token, self.ledger, max_cases=self.o.cases_per_client
            )
            for n, token in enumerate(tokens[1:], start=1)
        ]
        return harness

    def _signed_in_session(self, h: Harness) -> BrowserSession:
        """A browser session of the probe user, checked to be signed in before any fault."""
        rows = h.owner_query(
            "SELECT u.tenant_id, u.id FROM user_account u JOIN tenant t ON t.id = u.tenant_id "
            "WHERE t.slug = %(s)s AND u.email = %(e)s",
            {"s": TENANT, "e": PROBE_USER},
        )
        if not rows:
            raise ChaosError(f"user {PROBE_USER} is missing")
        tenant_id, user_id = (uuid.UUID(str(v)) for v in rows[0])
        session = sign_in(self.runtime, tenant_id, TENANT, user_id)
        answer = ask(h.web_port, session)
        if not answer.signed_in:
            raise ChaosError(f"the suite's browser session is not signed in: the inbox answers {answer.text}")
        return session

    def start_load(self) -> None:
        for client in self.clients:
            client.start()
        assert self.pings is not None
        self.pings.start()

    def stop_load(self) -> None:
        for client in self.clients:
            client.stop()
        assert self.pings is not None
        self.pings.stop()
        for client in self.clients:
            client.join(timeout=60)
        self.pings.join(timeout=60)


def _api_error_bound(settings: Any) -> float:
    """How soon an API request must fail while PostgreSQL cannot answer: the product's statement timeout
    (its client gives up one second after it, ``TSUNAGU_DB_STATEMENT_TIMEOUT_SECONDS``) plus 2 s."""
    return float(getattr(settings, "db_statement_timeout_seconds", 10.0)) + 2.0


def _free_web_port() -> int:
    from .cluster import free_port

    return free_port()


def _tenant_id(owner_dsn: str) -> uuid.UUID:
    import psycopg

    with psycopg.connect(owner_dsn, connect_timeout=5) as conn:
        row = conn.execute("SELECT id FROM tenant WHERE slug = %s", (TENANT,)).fetchone()
    if row is None:
        raise ChaosError(f"tenant {TENANT!r} is missing after the sync")
    return uuid.UUID(str(row[0]))


def drain(h: Harness, cap: float) -> datetime:
    """Wait until nothing is left in the outbox and every timer due has fired (or ``cap``); the cutoff."""
    deadline = time.monotonic() + cap
    while time.monotonic() < deadline:
        now = datetime.now(UTC)
        try:
            rows = h.owner_query(
                "SELECT (SELECT count(*) FROM outbox_message WHERE processed_at IS NULL), "
                "(SELECT count(*) FROM timer WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at <= %(n)s)",
                {"n": now - timedelta(seconds=3)},
            )
        except Exception as exc:
            log(f"drain: {type(exc).__name__}: {exc}")
            time.sleep(1)
            continue
        pending, due = int(rows[0][0]), int(rows[0][1])
        if pending == 0 and due == 0:
            log("drained: outbox empty, every due timer fired")
            return now - timedelta(seconds=3)
        time.sleep(0.5)
    log(f"drain: gave up after {cap:.0f} s")
    return datetime.now(UTC) - timedelta(seconds=3)


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    faults: list[Fault] = standard_faults(options.stop_seconds, options.freeze_seconds, options.backlog)
    if options.faults:
        unknown = sorted(set(options.faults) - {f.key for f in faults})
        if unknown:
            print(f"unknown fault(s): {', '.join(unknown)}", file=sys.stderr)
            return 2
        faults = [f for f in faults if f.key in options.faults]

    def _terminate(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, _terminate)
    started_wall = datetime.now(UTC)
    load_before = load_average()
    t0 = time.monotonic()
    run = Run(options)
    passed = False
    try:
        harness = run.setup()
        pg_version = log_versions(run.cluster)
        sampler = CpuSampler(lambda: [pid] if (pid := run.cluster.postmaster_pid()) else [])
        sampler.start()
        run.start_load()
        load_started = time.monotonic()
        log(
            f"load: {options.clients} clients, {options.pings_per_second:.0f} pings/s; warm-up {options.warmup:.0f} s"
        )
        time.sleep(options.warmup)
        results: list[FaultResult] = []
        for fault in faults:
            results.append(run_fault(harness, fault))
            time.sleep(options.calm)
        run.stop_load()
        load_seconds = time.monotonic() - load_started
        cutoff = drain(harness, options.drain_cap)
        cpu = sampler.stop()
        totals = run_checks(harness.urls.owner_dsn, run.ledger, cutoff)
        windows = [(f.started, f.window_end) for f in results]
        calm = [e for e in run.ledger.outside(windows) if e.outcome in ERRORS or e.outcome == "4xx"]
        failures = [f"{c.name}: {c.failure}" for c in run.clients if c.failure]
        info = RunInfo(
            started=started_wall,
            seconds=time.monotonic() - t0,
            commit=commit(),
            machine=machine(),
            postgres=pg_version,
            redis=_redis_version(run.redis.port),
            recovery_bound=options.recovery_bound,
            calm_errors=len(calm),
            calm_samples=[f"{e.source} {e.outcome}: {e.detail}"[:200] for e in calm[:5]],
            crashes={p.name: len(p.crashes) for p in run.processes},
            completions_per_s=len(run.ledger.completions) / load_seconds if load_seconds else 0.0,
            harness_failures=failures,
            log_counts=_log_counts(run.processes),
            exceptions=_exceptions(run.processes),
            load_before=load_before,
            load_after=load_average(),
            cpu=cpu.describe(),
        )
        passed = (
            totals.passed
            and not calm
            and not failures
            and all(f.passed(options.recovery_bound) for f in results)
        )
        text = render(totals, results, info, options.recovery_cap)
        path = write(text, as_data(totals, results, info))
        print(text)
        log(f"report written to {path.relative_to(REPO_ROOT)}")
    except KeyboardInterrupt:
        log("interrupted: stopping everything the suite started")
        return 130
    except ChaosError as exc:
        log(f"harness error: {exc}")
        return 2
    finally:
        run.close(keep=options.keep or not passed)
        signal.signal(signal.SIGTERM, previous)
    log(f"{'PASSED' if passed else 'FAILED'} in {time.monotonic() - t0:.0f} s")
    return 0 if passed else 1


#: (process, what to count, the text that marks it in that process's log)
LOG_PATTERNS = (
    ("web", "gunicorn worker timeouts", "WORKER TIMEOUT"),
    ("web", "web tracebacks", "Traceback"),
    ("worker", "worker tracebacks", "Traceback"),
    ("beat", "beat tracebacks", "Traceback"),
)


def _log_counts(processes: list[ManagedProcess]) -> dict[str, int]:
    texts = {p.name: p.log_text() for p in processes}
    return {label: texts.get(name, "").count(marker) for name, label, marker in LOG_PATTERNS}


def _exceptions(processes: list[ManagedProcess], per_process: int = 3) -> list[str]:
    """The distinct exceptions the processes' logs end their tracebacks with (first few of each)."""
    found: list[str] = []
    for proc in processes:
        seen: dict[str, int] = {}
        for chunk in proc.log_text().split("Traceback (most recent call last):")[1:]:
            line = next((ln for ln in chunk.splitlines() if ln and not ln[0].isspace()), "")
            key = line[:120]
            seen[key] = seen.get(key, 0) + 1
        for line, count in list(seen.items())[:per_process]:
            found.append(f"{proc.name} ({count}×): {line}")
    return found


def _redis_version(port: int) -> str:
    import redis

    try:
        info: Any = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2).info("server")
        return str(info.get("redis_version", "?"))
    except redis.RedisError:
        return "?"
