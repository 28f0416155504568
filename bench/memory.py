"""Level 5, memory — and the ``/proc`` readings the other levels use (RSS, CPU time of processes).

* The gunicorn web worker: ``VmHWM`` (peak resident set) of each worker after the HTTP run, next to its
  ``VmRSS`` when it had just started (before its first request).
* The Celery worker: ``celery -A tsunagu.jobs worker --pool solo`` on a queue of its own, fed through the
  real outbox relay (``core.outbox.relay_pending`` → Redis → worker → ``process_message``) with the service
  tasks the HTTP run queued plus ``core.ping`` messages; ``VmHWM`` after it drained them, next to its RSS
  when it became ready.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from tsunagu.config import REPO_ROOT, Settings
from tsunagu.core.runtime import Runtime

from . import BenchError, log, ratio

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# --- /proc ------------------------------------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """``VmRSS``/``VmHWM``/``VmPeak`` of a process, in KiB (empty when the process is gone)."""
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM", "VmPeak", "VmSize"):
                    values[key] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return {}
    return values


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            raw = fh.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm may contain spaces: it sits between the first "(" and the last ")".
    head, _, tail = raw.rpartition(")")
    comm = head.partition("(")[2]
    return [comm, *tail.split()]


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (by scanning ``/proc``, which needs no kernel option)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields and len(fields) > 2 and fields[2] == str(pid):
            found.append(int(entry))
    return sorted(found)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, in seconds (0 when it is gone)."""
    fields = _stat_fields(pid)
    if not fields or len(fields) < 14:
        return 0.0
    # after comm: state(1) ppid(2) ... utime is field 14 of stat, i.e. index 12 here, stime index 13
    return (int(fields[12]) + int(fields[13])) / CLK_TCK


def processes_named(name: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields and fields[0] == name:
                pids.append(int(entry))
    return pids


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


def machine_cpu() -> tuple[float, float]:
    """``(busy, total)`` jiffies of all CPUs since boot, from ``/proc/stat``."""
    with open("/proc/stat", encoding="ascii") as fh:
        parts = fh.readline().split()[1:]
    values = [float(v) for v in parts[:8]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values)
    return total - idle, total


def kib_to_mib(kib: int | float | None) -> float:
    return float(kib or 0) / 1024.0


# --- gunicorn ---------------------------------------------------------------------------------------------


def web_memory(idle: dict[int, dict[str, int]], master_pid: int) -> dict[str, Any]:
    """Peak RSS of each gunicorn worker after the run, against its RSS just after it started."""
    workers = []
    for pid in children(master_pid):
        status = proc_status(pid)
        start = idle.get(pid, {})
        workers.append(
            {
                "pid": pid,
                "start_rss_mib": kib_to_mib(start.get("VmRSS")),
                "peak_rss_mib": kib_to_mib(status.get("VmHWM")),
                "rss_mib": kib_to_mib(status.get("VmRSS")),
            }
        )
    master = proc_status(master_pid)
    peak = max((w["peak_rss_mib"] for w in workers), default=0.0)
    start_rss = max((w["start_rss_mib"] for w in workers), default=0.0)
    return {
        "workers": workers,
        "master_peak_rss_mib": kib_to_mib(master.get("VmHWM")),
        "worker_peak_rss_mib": peak,
        "worker_start_rss_mib": start_rss,
        "ratio_to_start": ratio(peak, start_rss),
    }


# --- Celery -----------------------------------------------------------------------------------------------


def _wait(check: Callable[[], Any], what: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
    env.update({k: v for k, v in settings.extra.items() if k.startswith("TSUNAGU_")})
    return env


def _outbox_counts(owner_dsn: str) -> tuple[int, int]:
    with psycopg.connect(owner_dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE processed_at IS NOT NULL), count(*) FROM outbox_message"
        ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _delete_queue(settings: Settings) -> None:
    from kombu import Exchange, Queue

    from tsunagu.jobs import close_publishers, publisher_for

    name = settings.celery_queue
    try:
        with publisher_for(settings).connection_for_write() as connection:
            queue = Queue(name, Exchange(name, type="direct"), routing_key=name)(connection.default_channel)
            queue.declare()
            queue.delete()
    finally:
        close_publishers()


def run_celery(
    runtime: Runtime,
    owner_dsn: str,
    tenant_id: Any,
    pings: int,
    log_dir: Path,
    timeout: float = 120.0,
    progress: Callable[[str], None] = log,
) -> dict[str, Any]:
    """Start a solo-pool Celery worker on the bench queue, push the outbox through it, read its peak RSS."""
    import tsunagu.jobs  # noqa: F401 - registers the outbox's Celery publisher, as beat does
    from tsunagu.core.outbox import PING_TOPIC, enqueue, relay_pending
    from tsunagu.core.session import transaction

    settings = runtime.settings
    if not settings.redis_url:
        raise BenchError("the Celery level needs Redis (--redis-url)")
    queue = settings.celery_queue
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "celery-worker.log"
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tsunagu.jobs",
        "worker",
        "-Q",
        queue,
        "--pool",
        "solo",
        "--concurrency",
        "1",
        "-l",
        "info",
        "-n",
        f"{queue}@%h",
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
    ]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=worker_env(settings), stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        _wait(
            lambda: process.poll() is not None or " ready." in log_path.read_text(errors="replace"),
            "the Celery worker to start",
            60,
        )
        if process.poll() is not None:
            raise BenchError(f"the Celery worker exited with {process.returncode}: see {log_path}")
        idle = proc_status(process.pid)
        with transaction(runtime.sessions, tenant_id) as session:
            for n in range(pings):
                enqueue(session, PING_TOPIC, {"n": n})
        _done, total = _outbox_counts(owner_dsn)
        t0 = time.perf_counter()
        cpu0 = cpu_seconds(process.pid)
        relayed = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sent = relay_pending(runtime, limit=1000)
            relayed += sent
            processed, total = _outbox_counts(owner_dsn)
            if processed >= total:
                break
            if not sent:
                time.sleep(0.1)
        elapsed = time.perf_counter() - t0
        processed, total = _outbox_counts(owner_dsn)
        cpu = cpu_seconds(process.pid) - cpu0
        peak = proc_status(process.pid)
        if processed < total:
            progress(f"celery: only {processed} of {total} outbox messages processed in {timeout:.0f} s")
        start_rss = kib_to_mib(idle.get("VmRSS"))
        peak_rss = kib_to_mib(peak.get("VmHWM"))
        result: dict[str, Any] = {
            "queue": queue,
            "messages": total,
            "processed": processed,
            "relayed": relayed,
            "seconds": elapsed,
            "messages_per_s": processed / elapsed if elapsed > 0 else 0.0,
            "worker_cpu_ms_per_message": (cpu * 1000.0 / processed) if processed else 0.0,
            "start_rss_mib": start_rss,
            "peak_rss_mib": peak_rss,
            "ratio_to_start": ratio(peak_rss, start_rss),
        }
        progress(
            f"celery: {processed}/{total} messages in {elapsed:.1f} s, worker peak RSS "
            f"{result['peak_rss_mib']:.0f} MiB"
        )
        return result
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _delete_queue(settings)
