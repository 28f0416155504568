"""The transactional outbox: side effects written as rows in the caller's transaction, relayed after commit.

DESIGN 2.4 "Outbox". A service that wants background work (a BPMN service task, a notification) calls
:func:`enqueue` with the session it is already writing through. The row commits or rolls back with
everything else, so a rolled-back request never sends anything and a committed one never loses its job.

Delivery is at least once, the effect exactly once:

* :func:`relay_pending` (beat, or the demo's background thread) finds undispatched rows across tenants through
  a narrow path, locks each one in a tenant-bound transaction with ``FOR UPDATE SKIP LOCKED``, marks it
  dispatched and publishes the Celery task *before* that transaction commits. Two relays racing on the same
  row: one gets the lock, the other skips it. A publish whose commit then fails is re-sent later, and the
  consumer's check below makes the duplicate harmless.
* :func:`process_message` (the worker, or inline in the demo) locks the row, returns if it is already
  processed, runs the topic's handler and sets ``processed_at`` — all in one transaction, so a message
  delivered twice has its effect once.

A handler that raises is rolled back; the error is kept in ``last_error`` and the message is made due again
with a growing delay, up to :data:`MAX_ATTEMPTS`. A message dispatched long ago and still unprocessed (the
broker lost it) is re-sent after :data:`STALE_AFTER`.

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
from typing import TYPE_CHECKING, Any

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

from .db import Base, TenantScoped, UTCDateTime, new_id, utcnow
from .session import TenantSession, transaction

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger("tsunagu.outbox")

#: The Celery task that carries a message to a worker: JSON args ``[tenant_id, message_id]``.
PROCESS_TASK = "tsunagu.outbox.process"
#: Built-in topic for tests and operations: its handler writes one :class:`JobReceipt`.
PING_TOPIC = "core.ping"

MAX_ATTEMPTS = 8
STALE_AFTER = timedelta(minutes=15)
RETRY_BASE = timedelta(seconds=10)
RETRY_MAX = timedelta(hours=1)
#: Payloads carry IDs, never documents or personal data; a large payload is a mistake, caught early.
MAX_PAYLOAD_BYTES = 8192
MAX_RELAY_BATCH = 1000

_PENDING_WHERE = "dispatched_at IS NULL AND processed_at IS NULL"
_IN_FLIGHT_WHERE = "dispatched_at IS NOT NULL AND processed_at IS NULL"


class OutboxMessage(TenantScoped, Base):
    """One side effect to run after its transaction commits: a topic and a payload of IDs."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        CheckConstraint("dispatch_count >= 0", name="dispatch_count"),
        # The relay's two scans, kept small: only rows not yet dispatched / not yet processed are indexed.
        Index(
            "ix_outbox_message_pending",
            "available_at",
            postgresql_where=text(_PENDING_WHERE),
            sqlite_where=text(_PENDING_WHERE),
        ),
        Index(
            "ix_outbox_message_in_flight",
            "dispatched_at",
            postgresql_where=text(_IN_FLIGHT_WHERE),
            sqlite_where=text(_IN_FLIGHT_WHERE),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    topic: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    dispatch_count: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
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


# --- consuming ------------------------------------------------------------------------------------------


class Outcome(enum.StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"  # already processed: a redelivery, nothing done
    MISSING = "missing"  # no such message for this tenant
    FAILED = "failed"  # the handler raised; rolled back and scheduled again (or given up)


def process_message(runtime: Runtime, tenant_id: uuid.UUID, message_id: uuid.UUID) -> Outcome:
    """Run a message's handler exactly once: lock, check, handle and mark in one tenant-bound transaction."""
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
            handler_for(message.topic)(session, message)
            message.processed_at = utcnow()
            message.last_error = None
    except Exception as exc:
        log.exception("outbox message %s of tenant %s failed", message_id, tenant_id)
        _record_failure(runtime, tenant_id, message_id, exc)
        return Outcome.FAILED
    return Outcome.PROCESSED


def retry_delay(attempts: int) -> timedelta:
    """10 s, 20 s, 40 s, ... capped at an hour."""
    return min(RETRY_BASE * (2 ** max(attempts - 1, 0)), RETRY_MAX)


def _record_failure(runtime: Runtime, tenant_id: uuid.UUID, message_id: uuid.UUID, exc: Exception) -> None:
    with transaction(runtime.sessions, tenant_id) as session:
        message = session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.tenant_id == tenant_id, OutboxMessage.id == message_id)
            .with_for_update()
        ).scalar_one_or_none()
        if message is None or message.processed_at is not None:
            return
        message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if message.dispatch_count < MAX_ATTEMPTS:
            message.dispatched_at = None  # due again for the relay, after a growing delay
            message.available_at = utcnow() + retry_delay(message.dispatch_count)
        else:
            log.error("outbox message %s gave up after %d attempts", message_id, message.dispatch_count)


# --- relaying -------------------------------------------------------------------------------------------


def _dispatchable(now: datetime) -> ColumnElement[bool]:
    """The relay's condition, the same as in ``tsunagu_outbox_pending`` (migration 0002)."""
    m = OutboxMessage
    return and_(
        m.processed_at.is_(None),
        or_(
            and_(m.dispatched_at.is_(None), m.available_at <= now),
            and_(m.dispatched_at < now - STALE_AFTER, m.dispatch_count < MAX_ATTEMPTS),
        ),
    )


def pending_messages(runtime: Runtime, limit: int = 100) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """``(tenant_id, message_id)`` of messages due for dispatch, across tenants; IDs only.

    On PostgreSQL the application role cannot see across tenants, so this goes through the one
    ``SECURITY DEFINER`` function of migration 0002. SQLite (the demo) has no row-level security.
    """
    limit = max(0, min(limit, MAX_RELAY_BATCH))
    with runtime.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.execute(
                text("SELECT tenant_id, id FROM tsunagu_outbox_pending(:lim, :stale, :attempts)"),
                {"lim": limit, "stale": int(STALE_AFTER.total_seconds()), "attempts": MAX_ATTEMPTS},
            ).all()
        else:
            m = OutboxMessage
            rows = conn.execute(
                select(m.tenant_id, m.id).where(_dispatchable(utcnow())).order_by(m.available_at).limit(limit)
            ).all()
    return [(uuid.UUID(str(tid)), uuid.UUID(str(mid))) for tid, mid in rows]


#: Publishes one message id to the broker: ``publish(settings, tenant_id, message_id)``. Core knows no Celery:
#: ``tsunagu.jobs`` registers its publisher when it is imported (beat, the worker and the app import it).
Publisher = Callable[[Any, uuid.UUID, uuid.UUID], None]
_registered_publisher: Publisher | None = None


def set_publisher(publish: Publisher) -> None:
    global _registered_publisher
    _registered_publisher = publish


def _publisher() -> Publisher:
    if _registered_publisher is None:
        raise RuntimeError("no outbox publisher registered: import tsunagu.jobs before relaying to a broker")
    return _registered_publisher


def relay_pending(runtime: Runtime, limit: int = 100) -> int:
    """Dispatch up to ``limit`` due messages; returns how many this call dispatched.

    With a broker, each message is published to ``settings.celery_queue`` while its row is locked and marked,
    just before the commit. Without one (the demo), the messages are processed inline after the commit.
    """
    settings = runtime.settings
    dispatched: list[tuple[uuid.UUID, uuid.UUID]] = []
    for tenant_id, message_id in pending_messages(runtime, limit):
        with transaction(runtime.sessions, tenant_id) as session:
            if not _claim(session, tenant_id, message_id):
                continue  # another relay holds it or got there first
            if settings.uses_broker:
                _publisher()(settings, tenant_id, message_id)
        dispatched.append((tenant_id, message_id))
    if not settings.uses_broker:
        for tenant_id, message_id in dispatched:
            process_message(runtime, tenant_id, message_id)
    if dispatched:
        log.info("relayed %d outbox message(s)", len(dispatched))
    return len(dispatched)


def _claim(session: TenantSession, tenant_id: uuid.UUID, message_id: uuid.UUID) -> bool:
    m = OutboxMessage
    now = utcnow()
    key = and_(m.tenant_id == tenant_id, m.id == message_id)
    locked = session.execute(
        select(m.id).where(key, _dispatchable(now)).with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if locked is None:
        return False
    # Conditional as well as locked: SQLite has no row locks, and the condition keeps the claim atomic there.
    result = session.execute(
        update(m)
        .where(key, _dispatchable(now))
        .values(dispatched_at=now, dispatch_count=m.dispatch_count + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
