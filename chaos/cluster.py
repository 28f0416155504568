"""The suite's own PostgreSQL cluster and Redis: temporary directories, free ports, stopped by PID.

:class:`PostgresCluster` runs ``initdb`` / ``pg_ctl`` from the PostgreSQL 15 binaries in a temporary data
directory with trust authentication, listening on 127.0.0.1 and a Unix socket inside that directory, on a
port nobody uses. PostgreSQL refuses to run as root, so when the harness is root the cluster runs as the
``postgres`` system user (``runuser``; ``CHAOS_PG_USER`` names another). :meth:`PostgresCluster.create_roles`
makes the two roles the product expects (``docs/production.md``): an owner that migrates and an application
role that owns nothing and is subject to row-level security.

:class:`RedisServer` runs ``redis-server`` on a free port in the foreground, as the harness's own child.

Both only ever signal processes they started: the postmaster's PID from its own ``postmaster.pid``, its
children found under ``/proc``, and Redis' PID from ``Popen``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis
from psycopg import sql

from . import ChaosError, log

PG_BIN = Path(os.environ.get("CHAOS_PG_BIN", "/usr/lib/postgresql/15/bin"))
OWNER_ROLE = "tsunagu_owner"
APP_ROLE = "tsunagu_app"
DATABASE = "tsunagu"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (from ``/proc/<pid>/task/*/children``)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.extend(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid``, children first."""
    out: list[int] = []
    queue = child_pids(pid)
    while queue:
        child = queue.pop(0)
        out.append(child)
        queue.extend(child_pids(child))
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state = _proc_state(pid)
    return state not in ("Z", "X")


def _proc_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "X"
    return stat.rsplit(")", 1)[1].split()[0]


@dataclass(frozen=True)
class DatabaseUrls:
    """The product's two connection URLs (SQLAlchemy form) and the superuser DSN of the cluster."""

    owner_url: str
    app_url: str
    admin_dsn: str

    @property
    def owner_dsn(self) -> str:
        return self.owner_url.replace("postgresql+psycopg://", "postgresql://")

    @property
    def app_dsn(self) -> str:
        return self.app_url.replace("postgresql+psycopg://", "postgresql://")


class PostgresCluster:
    """A throw-away PostgreSQL cluster under ``root`` on a free port."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.data = root / "pgdata"
        self.socket_dir = root / "pgsock"
        self.log_path = root / "postgresql.log"
        self.port = port or free_port()
        self.run_as = _pg_user()
        self._frozen: list[int] = []

    # --- lifecycle ------------------------------------------------------------------------------------

    def init(self) -> None:
        """``initdb`` with trust authentication; the settings live in ``postgresql.conf`` so restarts keep them."""
        for path in (self.root, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            shutil.chown(self.root, self.run_as)
            shutil.chown(self.socket_dir, self.run_as)
        self._pg(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": "100",
            "shared_buffers": "64MB",
            "log_min_messages": "warning",
            "log_line_prefix": "'%m [%p] '",
        }
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# tsunagu chaos harness\n")
            for key, value in settings.items():
                conf.write(f"{key} = {value}\n")

    def start(self) -> None:
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.log_path))

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("stop", "-w", "-t", "60", "-m", mode)

    def restart(self, mode: str) -> None:
        """``pg_ctl restart -m fast|immediate``: stop in that mode, start again, wait until it accepts."""
        self._pg_ctl("restart", "-w", "-t", "60", "-m", mode, "-l", str(self.log_path))

    def postmaster_pid(self) -> int | None:
        try:
            first = (self.data / "postmaster.pid").read_text().split("\n", 1)[0]
        except OSError:
            return None
        pid = int(first) if first.strip().isdigit() else None
        return pid if pid is not None and alive(pid) else None

    def freeze(self) -> int:
        """SIGSTOP the postmaster, then every process under it (repeated until no new one appears)."""
        pid = self.postmaster_pid()
        if pid is None:
            raise ChaosError("PostgreSQL is not running: nothing to freeze")
        os.kill(pid, signal.SIGSTOP)
        self._frozen = [pid]
        for _ in range(5):
            new = [p for p in descendants(pid) if p not in self._frozen]
            if not new:
                break
            for child in new:
                try:
                    os.kill(child, signal.SIGSTOP)
                    self._frozen.append(child)
                except ProcessLookupError:
                    continue
        return len(self._frozen)

    def thaw(self) -> None:
        """SIGCONT every process :meth:`freeze` stopped, children first, the postmaster last."""
        for pid in reversed(self._frozen):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                continue
        self._frozen = []

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with psycopg.connect(self.admin_dsn(), connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.Error:
                time.sleep(0.2)
        raise ChaosError(f"PostgreSQL on port {self.port} did not accept connections within {timeout:.0f} s")

    def shutdown(self) -> None:
        """Stop the cluster whatever state it is in (also frozen); used by the harness's ``finally``."""
        if self._frozen:
            self.thaw()
        pid = self.postmaster_pid()
        if pid is None:
            return
        try:
            self.stop("immediate")
        except ChaosError:
            pass
        if alive(pid):
            os.kill(pid, signal.SIGKILL)

    # --- roles and URLs -------------------------------------------------------------------------------

    def admin_dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_roles(self) -> DatabaseUrls:
        """The owner and application roles and the product's database, as ``docs/production.md`` sets them up."""
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS").format(
                    sql.Identifier(OWNER_ROLE)
                )
            )
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS").format(
                    sql.Identifier(APP_ROLE)
                )
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(DATABASE), sql.Identifier(OWNER_ROLE)
                )
            )
        with psycopg.connect(self.admin_dsn(DATABASE), autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(OWNER_ROLE)))
            conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
            conn.execute(
                sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                    sql.Identifier(DATABASE), sql.Identifier(APP_ROLE)
                )
            )
        base = f"127.0.0.1:{self.port}/{DATABASE}"
        return DatabaseUrls(
            owner_url=f"postgresql+psycopg://{OWNER_ROLE}@{base}",
            app_url=f"postgresql+psycopg://{APP_ROLE}@{base}",
            admin_dsn=self.admin_dsn(DATABASE),
        )

    # --- running the binaries -------------------------------------------------------------------------

    def _pg_ctl(self, *args: str) -> None:
        self._pg("pg_ctl", "-D", str(self.data), *args)

    def _pg(self, binary: str, *args: str) -> None:
        command = [str(PG_BIN / binary), *args]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        result = subprocess.run(  # noqa: S603 - the PostgreSQL binaries with our own arguments
            command, capture_output=True, text=True, check=False, timeout=120
        )
        if result.returncode != 0:
            raise ChaosError(
                f"{binary} {' '.join(args[:1])} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-800:]}"
            )


def _pg_user() -> str | None:
    """The user PostgreSQL runs as: none (the harness's own) unless the harness runs as root."""
    if os.geteuid() != 0:
        return None
    return os.environ.get("CHAOS_PG_USER", "postgres")


class RedisServer:
    """``redis-server`` on 127.0.0.1:<free port>, in the foreground, as a child of the harness.

    Without persistence by default (``--save "" --appendonly no``): a restart loses every queued message,
    which is the hard case for the outbox (the relay must re-send). ``appendonly=True`` runs it as a
    deployment with an append-only file would (``appendfsync everysec``).
    """

    def __init__(self, root: Path, port: int | None = None, appendonly: bool = False) -> None:
        self.root = root
        self.port = port or free_port()
        self.appendonly = appendonly
        self.log_path = root / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.root),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "everysec",
            "--daemonize",
            "no",
            "--logfile",
            str(self.log_path),
        ]
        self.process = subprocess.Popen(  # noqa: S603 - redis-server with our own arguments
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1, socket_timeout=1)
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise ChaosError(
                        f"redis-server exited with {self.process.returncode}: see {self.log_path}"
                    )
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    time.sleep(0.1)
        finally:
            client.close()
        raise ChaosError(f"Redis on port {self.port} did not answer within {timeout:.0f} s")

    def kill(self) -> None:
        """``kill -9`` (a crash: nothing is flushed)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def shutdown(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def describe(cluster: PostgresCluster, redis_server: RedisServer) -> str:
    user = f" as {cluster.run_as}" if cluster.run_as else ""
    return f"PostgreSQL on 127.0.0.1:{cluster.port}{user} ({cluster.data}), Redis on 127.0.0.1:{redis_server.port}"


def log_versions(cluster: PostgresCluster) -> str:
    with psycopg.connect(cluster.admin_dsn(), connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    version = str(row[0]) if row else "?"
    log(f"PostgreSQL {version} ready on port {cluster.port}")
    return version
