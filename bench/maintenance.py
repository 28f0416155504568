"""What autovacuum does for a production server, done by the bench when the server's autovacuum is off.

A PostgreSQL in production runs autovacuum: it analyzes new and changed tables (so the planner knows their
sizes) and vacuums the dead row versions that every completion leaves behind (a completion updates the
process instance and its task rows). A server with ``autovacuum = off`` — this machine's shared development
server is configured so — does neither: a bench database then never gets statistics and its hot rows grow
long chains of dead versions, and PostgreSQL's CPU per completion grows with everything the earlier levels
wrote (measured: 34 ms at 1 client and 158 ms at 8 clients per completion, against a flat 3.4–4.0 ms on a
server with autovacuum on, same bench).

So, when — and only when — the server's autovacuum is off, the bench does its work itself: ``VACUUM
(ANALYZE)`` of the database before each timed level, and a stand-in thread that vacuums and analyzes the
tables a completion writes every ``interval`` seconds while the level runs. The stand-in's backend serves the
bench database, so its CPU is counted in the level's PostgreSQL CPU per completion, like an autovacuum worker's.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

import psycopg

#: The tables one completion writes (rows updated or inserted).
HOT_TABLES = ("process_instance", "human_task", "case_event", "timer", "outbox_message", "api_token")


def autovacuum_on(dsn: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT current_setting('autovacuum')").fetchone()
    return bool(row and row[0] == "on")


def vacuum_analyze(dsn: str, tables: tuple[str, ...] | None = None) -> float:
    """``VACUUM (ANALYZE)`` of ``tables`` (default: the whole database); returns the seconds it took."""
    t0 = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        if tables is None:
            conn.execute("VACUUM (ANALYZE)")
        else:
            for table in tables:
                conn.execute(f"VACUUM (ANALYZE) {table}")  # fixed table names (HOT_TABLES)
    return time.perf_counter() - t0


class AutovacuumStandIn:
    """While a level runs: vacuum + analyze the hot tables every ``interval`` s, if autovacuum is off."""

    def __init__(self, dsn: str, interval: float = 2.0) -> None:
        self.dsn = dsn
        self.interval = interval
        self.active = not autovacuum_on(dsn)
        self.runs = 0
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> AutovacuumStandIn:
        if self.active:
            self.seconds += vacuum_analyze(self.dsn)
            self._thread = threading.Thread(target=self._loop, daemon=True, name="bench-autovacuum")
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.seconds += vacuum_analyze(self.dsn, HOT_TABLES)
                self.runs += 1
            except psycopg.Error:
                continue  # a vacuum that loses a race with a lock waits for the next round

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)

    def summary(self) -> dict[str, object]:
        return {
            "server_autovacuum": not self.active,
            "stand_in_runs": self.runs,
            "stand_in_seconds": self.seconds,
        }
