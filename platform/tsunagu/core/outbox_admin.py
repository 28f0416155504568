"""The outbox for operators: dead letters (list, retry) and counts across tenants.

Finding them crosses tenants, so it goes through the narrow ``SECURITY DEFINER`` functions of migration 0010
(IDs or counts only); each message is then read or changed under its own tenant, like any other access.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select, text

from .db import utcnow
from .outbox import MAX_RELAY_BATCH, OutboxMessage
from .runtime import Runtime
from .session import transaction

log = logging.getLogger("tsunagu.outbox")


@dataclass(frozen=True)
class DeadLetter:
    tenant_id: uuid.UUID
    id: uuid.UUID
    topic: str
    attempts: int
    last_error: str | None
    created_at: datetime
    dead_at: datetime


@dataclass(frozen=True)
class OutboxHealth:
    """Counts across tenants: messages due or in flight (not yet processed), and dead letters."""

    unprocessed: int
    overdue: int
    dead_letters: int


def dead_letter_ids(runtime: Runtime, limit: int = 100) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """``(tenant_id, message_id)`` of dead letters across tenants, oldest first; IDs only (migration 0010)."""
    limit = max(0, min(limit, MAX_RELAY_BATCH))
    with runtime.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.execute(
                text("SELECT tenant_id, id FROM tsunagu_outbox_dead_letters(:lim)"), {"lim": limit}
            ).all()
        else:
            m = OutboxMessage
            rows = conn.execute(
                select(m.tenant_id, m.id)
                .where(m.dead_at.is_not(None), m.processed_at.is_(None))
                .order_by(m.dead_at)
                .limit(limit)
            ).all()
    return [(uuid.UUID(str(tid)), uuid.UUID(str(mid))) for tid, mid in rows]


def list_dead_letters(runtime: Runtime, limit: int = 100) -> list[DeadLetter]:
    """The dead letters with their topic and last error, each read under its own tenant."""
    letters: list[DeadLetter] = []
    for tenant_id, message_id in dead_letter_ids(runtime, limit):
        with transaction(runtime.sessions, tenant_id) as session:
            message = session.get(OutboxMessage, (tenant_id, message_id))
            if message is None or message.dead_at is None or message.processed_at is not None:
                continue
            letters.append(
                DeadLetter(
                    tenant_id=tenant_id,
                    id=message.id,
                    topic=message.topic,
                    attempts=message.attempts,
                    last_error=message.last_error,
                    created_at=message.created_at,
                    dead_at=message.dead_at,
                )
            )
    return letters


def retry_dead_letter(runtime: Runtime, tenant_id: uuid.UUID, message_id: uuid.UUID) -> bool:
    """Make a dead letter due again now, with a fresh count of attempts; ``False`` if it is not one."""
    with transaction(runtime.sessions, tenant_id) as session:
        message = session.execute(
            select(OutboxMessage)
            .where(OutboxMessage.tenant_id == tenant_id, OutboxMessage.id == message_id)
            .with_for_update()
        ).scalar_one_or_none()
        if message is None or message.dead_at is None or message.processed_at is not None:
            return False
        message.dead_at = None
        message.attempts = 0
        message.dispatched_at = None
        message.available_at = utcnow()
    log.info("outbox message %s of tenant %s retried by an operator", message_id, tenant_id)
    return True


def outbox_health(runtime: Runtime) -> OutboxHealth:
    """Counts for the operators' page; on PostgreSQL through the counting function of migration 0010."""
    with runtime.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            row = conn.execute(
                text("SELECT unprocessed, overdue, dead_letters FROM tsunagu_outbox_health()")
            ).one()
        else:
            m = OutboxMessage
            now = utcnow()
            due = and_(m.processed_at.is_(None), m.dead_at.is_(None))
            row = conn.execute(
                select(
                    select(func.count()).select_from(m).where(due).scalar_subquery(),
                    select(func.count()).select_from(m).where(due, m.available_at <= now).scalar_subquery(),
                    select(func.count())
                    .select_from(m)
                    .where(m.dead_at.is_not(None), m.processed_at.is_(None))
                    .scalar_subquery(),
                )
            ).one()
    return OutboxHealth(unprocessed=int(row[0]), overdue=int(row[1]), dead_letters=int(row[2]))
