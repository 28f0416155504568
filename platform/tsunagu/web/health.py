"""The readiness probe (``/readyz``): an answer within two seconds, whatever state PostgreSQL and Redis are in.

Each check has its own connection with short limits, separate from the request pool (whose connections may all
be waiting on a stuck database): PostgreSQL with a 2 s connect, 1 s statement and 1 s client-side round trip;
Redis with 1 s socket timeouts. Both run at once in a small thread pool and are read after
:data:`BUDGET_SECONDS`; a check still running then counts as failed, and finishes (bounded by its own limits)
in the background.

What the answer means:

* **200 ``ok``** — the database and the broker answer.
* **200 ``degraded``** — the database answers, the broker does not: pages and the API work; background work
  (outbox delivery, notifications) waits in PostgreSQL and resumes when Redis returns. Taking the pod out of
  service would not help, so readiness stays green.
* **503 ``unavailable``** — the database does not answer: this process cannot serve a request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ..config import Settings
from ..core.db import DatabaseTimeouts, make_engine

BUDGET_SECONDS = 1.5
EXTENSION = "tsunagu.readiness"
PROBE_TIMEOUTS = DatabaseTimeouts(
    connect=2.0, statement=1.0, lock=1.0, idle_in_transaction=5.0, ping=1.0, round_trip_margin=0.0
)
BROKER_DOWN = "background work delayed; pages and the API are served"


@dataclass(frozen=True)
class Report:
    status: str
    checks: dict[str, str]

    @property
    def http_status(self) -> int:
        return 503 if self.status == "unavailable" else 200


class Readiness:
    def __init__(self, settings: Settings) -> None:
        self.engine: Engine = make_engine(
            settings.database_url, pool_size=1, max_overflow=1, timeouts=PROBE_TIMEOUTS
        )
        self.redis: Any = None
        if settings.redis_url:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            # No retries (redis-py retries ten times by default): one try, one second, one answer.
            self.redis = redis.Redis.from_url(
                settings.redis_url, socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 0)
            )
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tsunagu-readyz")

    def _database(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def _broker(self) -> None:
        self.redis.ping()

    def check(self) -> Report:
        probes: dict[str, Callable[[], None]] = {"database": self._database}
        if self.redis is not None:
            probes["broker"] = self._broker
        futures: dict[str, Future[None]] = {name: self.pool.submit(fn) for name, fn in probes.items()}
        wait_for_futures(futures.values(), timeout=BUDGET_SECONDS)
        checks: dict[str, str] = {}
        for name, future in futures.items():
            if not future.done():
                checks[name] = f"timeout: no answer within {BUDGET_SECONDS:g} s"
            elif (exc := future.exception()) is not None:
                checks[name] = f"unreachable: {type(exc).__name__}"
            else:
                checks[name] = "ok"
        if self.redis is None:
            checks["broker"] = "in-process (no Redis configured)"
        if checks["database"] != "ok":
            status = "unavailable"
        elif checks["broker"].startswith(("timeout", "unreachable")):
            status = "degraded"
            checks["broker"] += f" — {BROKER_DOWN}"
        else:
            status = "ok"
        return Report(status=status, checks=checks)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.engine.dispose()
        if self.redis is not None:
            self.redis.close()


_lock = threading.Lock()


def readiness(app: Flask) -> Readiness:
    """The app's probe, built on first use (no connection is made at start-up)."""
    probe: Readiness | None = app.extensions.get(EXTENSION)
    if probe is None:
        with _lock:
            probe = app.extensions.get(EXTENSION)
            if probe is None:
                probe = app.extensions[EXTENSION] = Readiness(app.extensions["tsunagu"].settings)
    return probe
