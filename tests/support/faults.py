"""A PostgreSQL cluster and a Redis server of the test's own, to stop, start and freeze (never the machine's).

    with own_postgres() as cluster:              # initdb into a new temporary directory, on a free port
        cluster.admin_url                         # postgresql://postgres@127.0.0.1:<port>/postgres
        cluster.stop(); cluster.start()           # pg_ctl, waiting until it is down / up
        with cluster.frozen(): ...                # SIGSTOP on its processes: it accepts TCP, answers nothing

    with own_redis(tmp_path) as server:           # redis-server without persistence, on a free port
        server.url; server.stop(); server.start()

Only processes these helpers started are signalled, by PID. PostgreSQL refuses to run as root, so when the
tests run as root the cluster runs as the ``postgres`` system user (``runuser``), in a directory of its own
under the system's temporary directory (pytest's is private to root).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PG_BIN = Path(os.environ.get("TSUNAGU_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
REDIS_SERVER = os.environ.get("TSUNAGU_TEST_REDIS_SERVER", shutil.which("redis-server") or "redis-server")
START_SECONDS = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    """Child processes of ``pid``, recursively, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: list[int] = []
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


class OwnPostgres:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.data = base / "data"
        self.port = free_port()
        self.log = base / "postgres.log"
        self._as_user: list[str] = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_user, *args], check=True, capture_output=True, timeout=START_SECONDS * 2)

    def init(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        if self._as_user:
            shutil.chown(self.base, user="postgres")
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        )
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start"
        )

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Every process of the cluster stopped: connections stay open and connects reach the kernel's
        backlog, but nothing answers — a hung server, which no server-side timeout can end."""
        postmaster = self.postmaster_pid()
        processes = [postmaster, *_descendants(postmaster)]
        for pid in processes:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in reversed(processes):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    base = Path(tempfile.mkdtemp(prefix="tsunagu-test-pg-"))
    cluster = OwnPostgres(base)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            for pid in [cluster.postmaster_pid(), *_descendants(cluster.postmaster_pid())]:
                os.kill(pid, signal.SIGCONT)
        with contextlib.suppress(Exception):
            cluster.stop()
        shutil.rmtree(base, ignore_errors=True)


class OwnRedis:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        log = (self.base / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.base)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + START_SECONDS
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {(self.base / 'redis.log').read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=START_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@contextlib.contextmanager
def own_redis(base: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(base)
    server.start()
    try:
        yield server
    finally:
        server.stop()
