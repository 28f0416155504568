"""SQLAlchemy base, the ``TenantScoped`` mixin and the engines.

Tenant isolation has three layers (DESIGN 2.3):

1. every tenant-owned table has ``tenant_id`` leading its primary key and every unique constraint, and
   composite foreign keys, so a row can never point into another tenant;
2. the ORM adds ``tenant_id = :bound`` to every query of a tenant-scoped model (``session.py``);
3. on PostgreSQL, row-level security keyed on ``app.tenant_id``, set per transaction, stops whatever gets
   past the first two — the application role owns nothing and cannot bypass it.

The application's engines also bound every wait for PostgreSQL (:class:`DatabaseTimeouts`): the server cancels
a statement or a lock wait that takes too long, and the client gives up on a server that does not answer at
all (stopped with SIGSTOP, cut off by the network), where no server-side timeout can fire. Either way the
caller gets an error it can classify with :func:`is_database_unavailable`, never a hang.
"""

from __future__ import annotations

import json
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, ForeignKey, MetaData, TypeDecorator, Uuid, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

if TYPE_CHECKING:
    from ..config import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every database.

    PostgreSQL stores ``timestamptz``. SQLite has no time zones: values are stored as naive UTC and come back
    marked UTC, so application code only ever sees aware datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC timestamp column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TenantScoped:
    """Mixin for every tenant-owned table.

    ``tenant_id`` is not null, indexed, and the first column of the primary key, so lookups are
    ``session.get(Model, (tenant_id, id))`` and every composite key and unique constraint leads with it.
    Tables using the mixin are listed in :func:`tenant_tables` and get row-level security in migrations.
    """

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(
            Uuid,
            ForeignKey("tenant.id", ondelete="RESTRICT"),
            primary_key=True,
            nullable=False,
            index=True,
            sort_order=-100,
        )


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def tenant_tables() -> list[str]:
    """Names of every table holding tenant data: the ones that must carry row-level security."""
    return sorted(t.name for t in Base.metadata.sorted_tables if "tenant_id" in t.c)


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class DatabaseTimeouts:
    """How long an engine's PostgreSQL connections may wait, in seconds (``TSUNAGU_DB_*``)."""

    connect: float = 5.0
    #: ``statement_timeout``: the server cancels a statement running longer.
    statement: float = 10.0
    #: ``lock_timeout``: the server gives up waiting for a row or table lock.
    lock: float = 5.0
    #: ``idle_in_transaction_session_timeout``: the server ends a session that left a transaction open.
    idle_in_transaction: float = 60.0
    #: The check of a pooled connection before it is handed out (one empty query).
    ping: float = 2.0
    #: The client's own limit on one round trip. A second longer than the statement timeout, so a server that
    #: is merely slow cancels the statement itself (a clean error, the connection stays usable) and the client
    #: only cuts the connection of a server that cannot answer at all.
    round_trip_margin: float = 1.0

    @property
    def round_trip(self) -> float:
        return self.statement + self.round_trip_margin

    @classmethod
    def from_settings(cls, settings: Settings) -> DatabaseTimeouts:
        return cls(
            connect=settings.db_connect_timeout_seconds,
            statement=settings.db_statement_timeout_seconds,
            lock=settings.db_lock_timeout_seconds,
            idle_in_transaction=settings.db_idle_in_transaction_timeout_seconds,
        )

    def server_options(self) -> str:
        """The ``options`` startup parameter that sets the server-side limits for the whole session."""

        def ms(seconds: float) -> int:
            return max(1, round(seconds * 1000))

        return (
            f"-c statement_timeout={ms(self.statement)} -c lock_timeout={ms(self.lock)} "
            f"-c idle_in_transaction_session_timeout={ms(self.idle_in_transaction)}"
        )


def make_engine(
    url: str,
    *,
    pool_size: int | None = None,
    echo: bool = False,
    timeouts: DatabaseTimeouts | None = None,
    max_overflow: int | None = None,
) -> Engine:
    """An engine for ``url``. With ``timeouts`` (the application's engines; never the migration role's, whose
    DDL may legitimately run long) every PostgreSQL connection carries the limits described above."""
    # JSON columns as compact UTF-8 (「相談受付」, not "\u76f8..."): a third of the bytes for Japanese text.
    kwargs: dict[str, Any] = {"echo": echo, "future": True, "json_serializer": compact_json}
    postgres = not url.startswith("sqlite")
    if not postgres:
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        # With timeouts, the checkout hook below pings with its own short limit instead.
        kwargs["pool_pre_ping"] = timeouts is None
        if pool_size is not None:
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = 0 if max_overflow is None else max_overflow
    engine = create_engine(url, **kwargs)
    if not postgres:
        _configure_sqlite(engine)
    elif timeouts is not None:
        _configure_postgres_timeouts(engine, timeouts)
    return engine


class DatabaseUnavailable(Exception):
    """PostgreSQL could not do the work now (unreachable, restarting, too slow); worth retrying later."""


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not serve, rather than that the request or the code is wrong.

    Covers lost and refused connections, the statement, lock and idle timeouts above, deadlocks and
    serialization failures, and an exhausted connection pool: all retryable once the database recovers.
    """
    if isinstance(exc, DatabaseUnavailable | sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(
            exc, sa_exc.OperationalError | sa_exc.InterfaceError
        )
    return False


# --- PostgreSQL: server-side limits, the client's round-trip limit -----------------------------------------


def _configure_postgres_timeouts(engine: Engine, timeouts: DatabaseTimeouts) -> None:
    @event.listens_for(engine, "do_connect")
    def _connect(_dialect: Any, _record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        cparams.setdefault("connect_timeout", max(2, math.ceil(timeouts.connect)))
        cparams["options"] = " ".join(filter(None, [cparams.get("options"), timeouts.server_options()]))
        # Keepalives notice a peer that vanished (host down, connection dropped by a firewall) while idle.
        for key, value in (("keepalives", 1), ("keepalives_idle", 30), ("keepalives_interval", 10)):
            cparams.setdefault(key, value)
        cparams.setdefault("keepalives_count", 3)
        connection = _deadline_connection_class().connect(*cargs, **cparams)
        connection.tsunagu_round_trip = timeouts.round_trip
        return connection

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info["tsunagu_fresh"] = True

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # SQLAlchemy's pre-ping would wait a whole round trip (12 s) on a frozen server; this one waits
        # ``timeouts.ping``. A connection opened for this very checkout needs no ping.
        if record.info.pop("tsunagu_fresh", False):
            return
        import psycopg

        try:
            with dbapi_connection.tsunagu_round_trip_limit(timeouts.ping):
                dbapi_connection.execute(";")
        except psycopg.Error as exc:
            raise sa_exc.DisconnectionError(f"pooled connection failed its check: {exc}") from exc


_deadline_class: type[Any] | None = None


def _deadline_connection_class() -> type[Any]:
    """psycopg's connection, with the watchdog around every wait for the server (built on first use)."""
    global _deadline_class
    if _deadline_class is not None:
        return _deadline_class
    import psycopg

    class DeadlineConnection(psycopg.Connection):  # type: ignore[type-arg]
        #: Seconds one wait for the server may take (0: no limit).
        tsunagu_round_trip: float = 0.0

        @contextmanager
        def tsunagu_round_trip_limit(self, seconds: float) -> Iterator[None]:
            previous = self.tsunagu_round_trip
            self.tsunagu_round_trip = seconds
            try:
                yield
            finally:
                self.tsunagu_round_trip = previous

        def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
            # Every exchange with the server (execute, fetch, commit, rollback) waits here.
            limit = self.tsunagu_round_trip
            if limit <= 0:
                return super().wait(gen, *args, **kwargs)
            armed = _watchdog.arm(self, limit)
            try:
                return super().wait(gen, *args, **kwargs)
            except psycopg.Error as exc:
                if not armed.fired:
                    raise
                self.pgconn.finish()  # closed for good: the pool discards it
                raise psycopg.OperationalError(
                    f"the database did not answer within {limit:g} s (client-side limit)"
                ) from exc
            finally:
                _watchdog.disarm(armed)

    _deadline_class = DeadlineConnection
    return DeadlineConnection


class _Armed:
    __slots__ = ("connection", "deadline", "fired")

    def __init__(self, connection: Any, deadline: float) -> None:
        self.connection = connection
        self.deadline = deadline
        self.fired = False


class _Watchdog:
    """One thread per process. When a wait outlives its deadline, the connection's socket is shut down: the
    blocked call wakes with an error at once, whatever state the server is in (a frozen server cannot
    process a cancel request, and ``statement_timeout`` runs in the server)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._armed: dict[int, _Armed] = {}
        self._next = math.inf
        self._thread: threading.Thread | None = None

    def arm(self, connection: Any, seconds: float) -> _Armed:
        armed = _Armed(connection, time.monotonic() + seconds)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="tsunagu-db-watchdog", daemon=True)
                self._thread.start()
            self._armed[id(armed)] = armed
            if armed.deadline < self._next:
                self._next = armed.deadline
                self._cond.notify()
        return armed

    def disarm(self, armed: _Armed) -> None:
        with self._cond:
            self._armed.pop(id(armed), None)

    def _run(self) -> None:
        cond = self._cond
        with cond:
            while cond is self._cond:
                now = time.monotonic()
                for key, armed in list(self._armed.items()):
                    if armed.deadline <= now:
                        del self._armed[key]
                        armed.fired = True
                        _shut_down_socket(armed.connection)
                self._next = min((a.deadline for a in self._armed.values()), default=math.inf)
                cond.wait(None if self._next == math.inf else self._next - now)


def _shut_down_socket(connection: Any) -> None:
    try:
        duplicate = socket.socket(fileno=os.dup(connection.pgconn.socket))
    except Exception:  # already closed
        return
    try:
        duplicate.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        duplicate.close()  # closes the duplicate only; libpq still owns its descriptor


_watchdog = _Watchdog()
# A forked child (gunicorn, Celery prefork) has no watchdog thread: it starts its own on first use.
os.register_at_fork(after_in_child=_watchdog._reset)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
