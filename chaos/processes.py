"""The product's three processes, started as an operator starts them: ``tsunagu serve|worker|beat``.

Each runs in its own session (process group), so ``kill -9`` of "the worker" reaches the Celery main process
and its pool children at once, as when a container or machine dies; nothing outside the groups the harness
started is ever signalled. A :class:`Supervisor` thread plays the part of systemd or Kubernetes: a process
that exits by itself is counted and started again after a second.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import ChaosError, log

REPO_ROOT = Path(__file__).resolve().parents[1]
#: The ``tsunagu`` console script of the interpreter running the harness (the project's ``.venv``).
TSUNAGU = str(Path(sys.executable).with_name("tsunagu"))


def product_env(settings: Mapping[str, str]) -> dict[str, str]:
    """The environment of a product process: the machine's, without any outer ``TSUNAGU_*``, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
    env.update(settings)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_cli(env: Mapping[str, str], *args: str, timeout: float = 180) -> str:
    """``tsunagu ARGS`` to completion; returns its standard output, raises with its error output."""
    result = subprocess.run(  # noqa: S603 - our own console script and arguments
        [TSUNAGU, *args],
        cwd=REPO_ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise ChaosError(
            f"tsunagu {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()[-1500:]}"
        )
    return result.stdout


@dataclass
class ManagedProcess:
    """One long-running ``tsunagu`` command with its log file."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    ready: Callable[[ManagedProcess], bool]
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    crashes: list[float] = field(default_factory=list)
    #: set while the harness itself has stopped or killed the process (the supervisor leaves it alone)
    held: bool = False

    @property
    def pid(self) -> int:
        if self.process is None:
            raise ChaosError(f"{self.name} is not running")
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        """Start the process and wait until it is ready."""
        self.spawn()
        self.wait_ready(timeout)

    def spawn(self) -> None:
        """Start the process (its output appended to its log file); does not wait."""
        log_file = self.log_path.open("ab")
        try:
            log_file.write(
                f"\n===== chaos: start {self.name} #{self.starts + 1} at {time.time():.3f}\n".encode()
            )
            log_file.flush()
            self.process = subprocess.Popen(  # noqa: S603 - our own console script and arguments
                [TSUNAGU, *self.args],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log_file.close()
        self.starts += 1
        self.held = False

    def wait_ready(self, timeout: float = 60.0) -> None:
        if self.process is None:
            raise ChaosError(f"{self.name} was never started")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ChaosError(f"{self.name} exited with {self.process.returncode}: see {self.log_path}")
            if self.ready(self):
                return
            time.sleep(0.1)
        raise ChaosError(f"{self.name} was not ready within {timeout:.0f} s: see {self.log_path}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def last_start_log(self) -> str:
        return self.log_text().rsplit("===== chaos: start", 1)[-1]

    def kill9(self) -> None:
        """``kill -9`` of the process group: the process and all its children, with no chance to clean up."""
        self.held = True
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the group, then SIGKILL after ``timeout``."""
        self.held = True
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
        # pool children left behind by a parent that exited first
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def http_ok(port: int, path: str = "/healthz", timeout: float = 2.0) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def web(env: dict[str, str], log_dir: Path, port: int, workers: int = 2) -> ManagedProcess:
    """``tsunagu serve`` — gunicorn ``tsunagu.app:create_app()`` with ``workers`` sync workers."""
    return ManagedProcess(
        "web",
        ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env,
        log_dir / "web.log",
        ready=lambda _p: http_ok(port),
    )


def worker(env: dict[str, str], log_dir: Path) -> ManagedProcess:
    """``tsunagu worker`` — the Celery worker on the queue of ``TSUNAGU_CELERY_QUEUE``."""
    return ManagedProcess(
        "worker",
        ["worker", "--hostname", "chaos@%h"],
        env,
        log_dir / "worker.log",
        ready=lambda p: " ready." in p.last_start_log(),
    )


def beat(env: dict[str, str], log_dir: Path) -> ManagedProcess:
    """``tsunagu beat`` — relays the outbox and fires due BPMN timers every ``TSUNAGU_BEAT_INTERVAL_SECONDS``."""
    return ManagedProcess(
        "beat", ["beat"], env, log_dir / "beat.log", ready=lambda p: "beat started" in p.last_start_log()
    )


class Supervisor:
    """Restarts a process that exited by itself (after ``delay`` seconds) and counts it as a crash."""

    def __init__(self, processes: list[ManagedProcess], delay: float = 1.0) -> None:
        self.processes = processes
        self.delay = delay
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="chaos-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            for proc in self.processes:
                if proc.held or proc.process is None or proc.process.poll() is None:
                    continue
                code = proc.process.returncode
                proc.crashes.append(time.monotonic())
                log(f"supervisor: {proc.name} exited by itself ({code}); restarting in {self.delay:.0f} s")
                if self._stop.wait(self.delay):
                    return
                try:
                    proc.start()
                except ChaosError as exc:
                    log(f"supervisor: {proc.name} did not come back: {exc}")
