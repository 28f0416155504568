"""The transactional outbox: side effects written as rows in the caller's transaction, relayed after commit.

DESIGN 2.4 "Outbox". A service that wants background work (a BPMN service task, a notification) calls
:func:`enqueue` with the session it is already writing through. The row commits or rolls back with
everything else, so a rolled-back request never sends anything and a committed one never loses its job.

Delivery is at least once, the effect exactly once:

* :func:`relay_pending` (beat, or the demo's background thread) finds due rows across tenants through a
  narrow path, locks a tenant's rows in one tenant-bound transaction with ``FOR UPDATE SKIP LOCKED``, marks
  them dispatched and publishes them through the registered :class:`Publisher` *before* it commits.
  Two relays racing on the same row: one gets the lock, the other skips it. A publish whose commit then fails
  is re-sent later, and the consumer's check below makes the duplicate harmless.
* :func:`process_message` (the worker, or inline in the demo) locks the row, returns if it is already
  processed, runs the topic's handler and sets ``processed_at`` — all in one transaction, so a message
  delivered twice has its effect once.

``available_at`` is when the relay next sends a message: at first when it was enqueued (or after its delay);
on dispatch, ``settings.outbox_redeliver_seconds`` later (doubling with each re-send of the same message, up
to :data:`MAX_REDELIVER_FACTOR` times). A message published and still unprocessed then is sent again — but
only while nothing is waiting in the broker's queue: a message behind a backlog is not lost, only late, and
re-sending it would multiply the backlog. When the queue is empty, an unprocessed message past its time was
lost (by the broker, or with a killed worker that held it), and is sent again within seconds. A message in
flight :data:`MAX_REDELIVER_FACTOR` × the redelivery time is sent again whatever the queue holds. Consumers
are idempotent, so redelivery costs a duplicate at most, and the broker's own visibility timeout no longer
matters.

Failures, two kinds:

* **The database cannot be reached** (to run the handler or to record its failure): :func:`process_message`
  raises :class:`DeliveryDeferred` and the worker retries the task with backoff; the task is never
  acknowledged as done without the row saying so.
* **The handler raises** (a bug, a refused request): rolled back; ``attempts`` and ``last_error`` are
  recorded and the message is due again after a growing delay. After ``settings.outbox_max_attempts`` it is a
  **dead letter** (``dead_at``): logged at ERROR, never sent again until an operator retries it
  (``tsunagu outbox dead-letters`` / ``tsunagu outbox retry``), counted on ``/operator/``
  (:mod:`tsunagu.core.outbox_admin`).

Core knows no transport: the worker side (``tsunagu.jobs``) registers the Celery publisher with
:func:`set_publisher`. Without a broker (the demo) messages are processed inline after the relay's commit.

Handlers are registered with ``@handler("topic")`` in a module's ``tasks.py`` (``tsunagu.<module>.tasks``);
:func:`load_handlers` imports those modules before the first message is processed.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import json
import logging
import pkgutil
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ColumnElement,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    and_,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, TenantScoped, UTCDateTime, is_database_unavailable, new_id, utcnow
from .session import TenantSession, transaction

if TYPE_CHECKING:
    from ..config import Settings
    from .runtime import Runtime

log = logging.getLogger("tsunagu.outbox")

#: The Celery task that carries a message to a worker: JSON args ``[tenant_id, message_id]``.
PROCESS_TASK = "tsunagu.outbox.process"
#: Built-in topic for tests and operations: its handler writes one :class:`JobReceipt`.
PING_TOPIC = "core.ping"

#: The redelivery wait doubles with each re-send of a message nobody processed, up to this many times.
MAX_REDELIVER_FACTOR = 16
RETRY_BASE = timedelta(seconds=10)
RETRY_MAX = timedelta(hours=1)
#: Payloads carry IDs, never documents or personal data; a large payload is a mistake, caught early.
MAX_PAYLOAD_BYTES = 8192
MAX_RELAY_BATCH = 1000

# The relay's scan and the operators' list, kept small: only rows still to do / given up are indexed.
_DUE_WHERE = "processed_at IS NULL AND dead_at IS NULL"
_DEAD_WHERE = "dead_at IS NOT NULL AND processed_at IS NULL"


class OutboxMessage(TenantScoped, Base):
    """One side effect to run after its transaction commits: a topic and a payload of IDs."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        CheckConstraint("dispatch_count >= 0", name="dispatch_count"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index(
            "ix_outbox_message_due",
            "available_at",
            postgresql_where=text(_DUE_WHERE),
            sqlite_where=text(_DUE_WHERE),
        ),
        Index(
            "ix_outbox_message_dead",
            "dead_at",
            postgresql_where=text(_DEAD_WHERE),
            sqlite_where=text(_DEAD_WHERE),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    topic: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When the relay sends it next (first send, retry after a failure, or redelivery if still unprocessed).
    available_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Times published to the broker.
    dispatch_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Handler runs that failed (rolled back); ``settings.outbox_max_attempts`` of them make a dead letter.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Set when the message was given up (a dead letter); cleared by ``outbox_admin.retry_dead_letter``.
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class JobReceipt(TenantScoped, Base):
    """Proof that a ``core.ping`` message had its effect: at most one row per message, by primary key."""

    __tablename__ = "job_receipt"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "message_id"], ["outbox_message.tenant_id", "outbox_message.id"], ondelete="CASCADE"
        ),
    )

    message_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    topic: Mapped[str] = mapped_column(String(100))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- producing ------------------------------------------------------------------------------------------


def enqueue(
    session: TenantSession,
    topic: str,
    payload: dict[str, Any] | None = None,
    *,
    delay: timedelta | None = None,
) -> OutboxMessage:
    """Add a message to the caller's transaction; nothing is sent unless and until it commits."""
    if not topic or len(topic) > 100:
        raise ValueError(f"outbox topic must be 1 to 100 characters, got {topic!r}")
    payload = dict(payload or {})
    encoded = json.dumps(payload, ensure_ascii=False)  # a non-JSON value fails here, not in the worker
    if len(encoded.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(
            f"outbox payload for {topic!r} exceeds {MAX_PAYLOAD_BYTES} bytes: send IDs, not data"
        )
    now = utcnow()
    message = OutboxMessage(
        tenant_id=session.require_tenant_id(),
        id=new_id(),
        topic=topic,
        payload=payload,
        created_at=now,
        available_at=now + delay if delay else now,
        dispatch_count=0,
        attempts=0,
    )
    session.add(message)
    return message


# --- handlers -------------------------------------------------------------------------------------------

Handler = Callable[[TenantSession, OutboxMessage], None]

_handlers: dict[str, Handler] = {}
_handlers_loaded = False
_load_lock = threading.Lock()


class UnknownTopic(LookupError):
    """No handler is registered for a message's topic (a module's ``tasks.py`` is missing or not deployed)."""


def handler(topic: str) -> Callable[[Handler], Handler]:
    """Register ``fn(session, message)`` for ``topic``; it runs in the message's tenant-bound transaction."""

    def register(fn: Handler) -> Handler:
        existing = _handlers.get(topic)
        if existing is not None and _qualname(existing) != _qualname(fn):
            raise ValueError(f"outbox topic {topic!r} already handled by {_qualname(existing)}")
        _handlers[topic] = fn
        return fn

    return register


def _qualname(fn: Handler) -> str:
    return f"{fn.__module__}.{getattr(fn, '__qualname__', repr(fn))}"


def load_handlers() -> None:
    """Import every ``tsunagu.<module>.tasks`` once, so each module's ``@handler`` registrations exist."""
    global _handlers_loaded
    if _handlers_loaded:
        return
    with _load_lock:
        if _handlers_loaded:
            return
        import tsunagu

        for info in pkgutil.iter_modules(tsunagu.__path__):
            if not info.ispkg:
                continue
            name = f"tsunagu.{info.name}.tasks"
            if importlib.util.find_spec(name) is not None:
                importlib.import_module(name)
        _handlers_loaded = True


def handler_for(topic: str) -> Handler:
    fn = _handlers.get(topic)
    if fn is None:
        load_handlers()
        fn = _handlers.get(topic)
    if fn is None:
        raise UnknownTopic(f"no outbox handler for topic {topic!r}")
    return fn


@handler(PING_TOPIC)
def _ping(session: TenantSession, message: OutboxMessage) -> None:
    session.add(JobReceipt(tenant_id=message.tenant_id, message_id=message.id, topic=message.topic))


# --- publishing -----------------------------------------------------------------------------------------


class Publisher(Protocol):
    """The transport the relay hands messages to (``tsunagu.jobs.CeleryPublisher``)."""

    def publish(self, settings: Settings, tenant_id: uuid.UUID, message_id: uuid.UUID) -> None:
        """Hand ``(tenant_id, message_id)`` to the broker of ``settings``; raise if it cannot take it."""

    def waiting(self, settings: Settings) -> int | None:
        """How many messages wait in the broker's queue, ``None`` when it cannot tell."""


_publisher: Publisher | None = None


def set_publisher(publisher: Publisher | None) -> Publisher | None:
    """Register the transport the relay publishes through (``tsunagu.jobs`` registers Celery's); returns the
    previous one."""
    global _publisher
    previous, _publisher = _publisher, publisher
    return previous


def _registered_publisher() -> Publisher:
    if _publisher is None:
        raise RuntimeError(
            "no outbox publisher registered: import tsunagu.jobs (the worker side) before relaying to a broker"
        )
    return _publisher


# --- consuming ------------------------------------------------------------------------------------------


class Outcome(enum.StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"  # already processed: a redelivery, nothing done
    MISSING = "missing"  # no such message for this tenant
    DEAD = "dead"  # a dead letter: not run until an operator retries it
    FAILED = (
        "failed"  # the handler raised; rolled back, recorded, and scheduled again (or made a dead letter)
    )


class DeliveryDeferred(Exception):
    """The database could not be reached to run a message or to record its failure: nothing is known to have
    happened, so the transport must deliver it again (the worker retries the task with backoff)."""


def process_message(runtime: Runtime, tenant_id: uuid.UUID, message_id: uuid.UUID) -> Outcome:
    """Run a message's handler exactly once: lock, check, handle and mark in one tenant-bound transaction.

    Raises :class:`DeliveryDeferred` when the outcome could not be written down (the database is unreachable).
    """
    try:
        with transaction(runtime.sessions, tenant_id) as session:
            message = session.execute(
                select(OutboxMessage)
                .where(OutboxMessage.tenant_id == tenant_id, OutboxMessage.id == message_id)
                .with_for_update()  # a concurrent delivery waits here, then sees processed_at
            ).scalar_one_or_none()
            if message is None:
                log.warning("outbox message %s of tenant %s not found", message_id, tenant_id)
                return Outcome.MISSING
            if message.processed_at is not None:
                log.info("outbox message %s (%s) already processed", message_id, message.topic)
                return Outcome.DUPLICATE
            if message.dead_at is not None:
                log.warning("outbox message %s (%s) is a dead letter: not run", message_id, message.topic)
                return Outcome.DEAD
            handler_for(message.topic)(session, message)
            message.processed_at = utcnow()
            message.last_error = None
    except Exception as exc:
        if is_database_unavailable(exc):
            log.warning(
                "outbox message %s of tenant %s: database unavailable (%s)", message_id, tenant_id, exc
            )
        else:
            log.exception("outbox message %s of tenant %s failed", message_id, tenant_id)
        try:
            _record_failure(runtime, tenant_id, message_id, exc)
        except Exception as record_exc:
            if is_database_unavailable(record_exc):
                raise DeliveryDeferred(
                    f"outbox message {message_id} of tenant {tenant_id}: database unavailable ({record_exc})"
                ) from record_exc
            raise
        return Outcome.FAILED
    return Outcome.PROCESSED


def retry_delay(attempts: int) -> timedelta:
    """After the n-th failure: 10 s, 20 s, 40 s, ... capped at an hour."""
    return min(RETRY_BASE * (2 ** max(attempts - 1, 0)), RETRY_MAX)


def redeliver_delay(settings: Settings, redeliveries: int) -> timedelta:
    """How long after a publish the relay sends a still-unprocessed message again: ``outbox_redeliver_seconds``,
    doubled for each earlier re-send of it, at most :data:`MAX_REDELIVER_FACTOR` times."""
    factor = min(2 ** max(redeliveries, 0), MAX_REDELIVER_FACTOR)
    return timedelta(seconds=settings.outbox_redeliver_seconds * factor)


def _record_failure(runtime: Runtime, tenant_id: uuid.UUID, message_id: uuid.UUID, exc: Exception) -> None:
    max_attempts = runtime.settings.outbox_max_attempts
    with transaction(runtime.sessions, tenant_id) as session:
        message = session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.tenant_id == tenant_id, OutboxMessage.id == message_id)
            .with_for_update()
        ).scalar_one_or_none()
        if message is None or message.processed_at is not None or message.dead_at is not None:
            return
        now = utcnow()
        message.attempts += 1
        message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        message.dispatched_at = None
        if message.attempts >= max_attempts:
            message.dead_at = now
            log.error(
                "outbox message %s (%s) of tenant %s is a dead letter after %d failed attempts: %s "
                "(tsunagu outbox dead-letters; tsunagu outbox retry %s)",
                message_id,
                message.topic,
                tenant_id,
                message.attempts,
                message.last_error,
                message_id,
            )
        else:
            message.available_at = now + retry_delay(message.attempts)


# --- relaying -------------------------------------------------------------------------------------------


def _dispatchable(now: datetime, in_flight_since: timedelta = timedelta(0)) -> ColumnElement[bool]:
    """The relay's condition, the same as in ``tsunagu_outbox_due`` (migration 0010): due, and if already
    published, published at least ``in_flight_since`` ago."""
    m = OutboxMessage
    return and_(
        m.processed_at.is_(None),
        m.dead_at.is_(None),
        m.available_at <= now,
        or_(m.dispatched_at.is_(None), m.dispatched_at <= now - in_flight_since),
    )


def _in_flight_since(settings: Settings, waiting: int | None) -> timedelta:
    """How long a published message must have been in flight to be re-sent, given the broker's queue."""
    if not waiting:  # empty, or unknown: an unprocessed message past its time was lost
        return timedelta(0)
    return timedelta(seconds=settings.outbox_redeliver_seconds * MAX_REDELIVER_FACTOR)


def pending_messages(
    runtime: Runtime, limit: int = 100, in_flight_since: timedelta = timedelta(0)
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """``(tenant_id, message_id)`` of messages due for dispatch, across tenants; IDs only.

    On PostgreSQL the application role cannot see across tenants, so this goes through the one
    ``SECURITY DEFINER`` function of migration 0010. SQLite (the demo) has no row-level security.
    """
    limit = max(0, min(limit, MAX_RELAY_BATCH))
    with runtime.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.execute(
                text("SELECT tenant_id, id FROM tsunagu_outbox_due(:lim, :since)"),
                {"lim": limit, "since": in_flight_since.total_seconds()},
            ).all()
        else:
            m = OutboxMessage
            rows = conn.execute(
                select(m.tenant_id, m.id)
                .where(_dispatchable(utcnow(), in_flight_since))
                .order_by(m.available_at)
                .limit(limit)
            ).all()
    return [(uuid.UUID(str(tid)), uuid.UUID(str(mid))) for tid, mid in rows]


def relay_pending(runtime: Runtime, limit: int = 100) -> int:
    """Dispatch up to ``limit`` due messages; returns how many this call dispatched.

    With a broker, messages are claimed and published in one transaction per tenant (their rows locked and
    marked, published just before the commit). Without one (the demo), they are processed inline after it.
    """
    settings = runtime.settings
    publisher = _registered_publisher() if settings.uses_broker else None
    since = _in_flight_since(settings, publisher.waiting(settings) if publisher is not None else 0)
    dispatched: list[tuple[uuid.UUID, uuid.UUID]] = []
    for tenant_id, message_ids in _by_tenant(pending_messages(runtime, limit, since)):
        with transaction(runtime.sessions, tenant_id) as session:
            claimed = _claim(session, settings, tenant_id, message_ids, since)  # what no other relay holds
            if publisher is not None:
                for message_id in claimed:
                    publisher.publish(settings, tenant_id, message_id)
        dispatched.extend((tenant_id, message_id) for message_id in claimed)
    if not settings.uses_broker:
        for tenant_id, message_id in dispatched:
            try:
                process_message(runtime, tenant_id, message_id)
            except DeliveryDeferred:
                log.warning("outbox message %s: database unavailable, sent again later", message_id)
    if dispatched:
        log.info("relayed %d outbox message(s)", len(dispatched))
    return len(dispatched)


def _by_tenant(
    messages: list[tuple[uuid.UUID, uuid.UUID]],
) -> list[tuple[uuid.UUID, list[uuid.UUID]]]:
    """Message ids grouped by tenant, tenants and messages in the order given (oldest due first)."""
    groups: dict[uuid.UUID, list[uuid.UUID]] = {}
    for tenant_id, message_id in messages:
        groups.setdefault(tenant_id, []).append(message_id)
    return list(groups.items())


def _claim(
    session: TenantSession,
    settings: Settings,
    tenant_id: uuid.UUID,
    message_ids: list[uuid.UUID],
    in_flight_since: timedelta,
) -> list[uuid.UUID]:
    """Lock and mark the messages still due that no other relay holds; their ids, in the order given."""
    m = OutboxMessage
    now = utcnow()
    mine = and_(m.tenant_id == tenant_id, m.id.in_(message_ids))
    due = _dispatchable(now, in_flight_since)
    locked = session.execute(
        select(m.id, m.dispatch_count, m.attempts).where(mine, due).with_for_update(skip_locked=True)
    ).all()
    # Publishes not followed by a recorded failure: how often each was sent and lost before.
    by_redeliveries: dict[int, list[uuid.UUID]] = {}
    for row in locked:
        by_redeliveries.setdefault(row.dispatch_count - row.attempts, []).append(row.id)
    claimed: set[uuid.UUID] = set()
    for redeliveries, ids in by_redeliveries.items():
        # Conditional as well as locked: SQLite has no row locks, and the condition keeps the claim atomic.
        result = session.execute(
            update(m)
            .where(m.tenant_id == tenant_id, m.id.in_(ids), due)
            .values(
                dispatched_at=now,
                dispatch_count=m.dispatch_count + 1,
                available_at=now + redeliver_delay(settings, redeliveries),
            )
            .returning(m.id)
            .execution_options(synchronize_session=False)
        )
        claimed.update(result.scalars())
    return [message_id for message_id in message_ids if message_id in claimed]
