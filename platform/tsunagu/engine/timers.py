"""Due BPMN timers (fired by beat through ``cases``). Never Celery ETA: timers live in the ``timer`` table.

Finding due timers crosses tenants, so it goes through one narrow path: on PostgreSQL the
``tsunagu_due_timers`` SECURITY DEFINER function returns only ``(tenant_id, id)`` pairs. Each timer is then
claimed in its own tenant-bound transaction: the instance row first (the lock every command on an instance
takes first, so a timer and a task completion of one case queue instead of deadlocking), then the timer row
with ``FOR UPDATE SKIP LOCKED`` and the conditions that make a second claim find nothing — so any number of
pollers fire every due timer exactly once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text

from ..core.db import utcnow
from ..core.runtime import Runtime
from ..core.session import TenantSession, transaction
from .models import Incident, ProcessInstance, Timer
from .runner import lock_instance


def due_timer_ids(runtime: Runtime, now: datetime, limit: int = 100) -> list[tuple[uuid.UUID, uuid.UUID]]:
    with runtime.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.execute(
                text("SELECT tenant_id, id FROM tsunagu_due_timers(:now, :lim)"), {"now": now, "lim": limit}
            )
        else:
            rows = conn.execute(
                text(
                    "SELECT tenant_id, id FROM timer WHERE fired_at IS NULL AND cancelled_at IS NULL "
                    "AND claimed_at IS NULL AND due_at <= :now ORDER BY due_at LIMIT :lim"
                ),
                {"now": now, "lim": limit},
            )
        return [(uuid.UUID(str(t)), uuid.UUID(str(i))) for t, i in rows]


@dataclass
class ClaimedTimer:
    timer: Timer
    instance: ProcessInstance


def claim_due_timer(session: TenantSession, timer_id: uuid.UUID, now: datetime) -> ClaimedTimer | None:
    """Lock the timer's instance, then claim the timer if it is still due and nobody else holds it.

    A timer whose instance is no longer running is cancelled (and ``None`` returned).
    """
    instance_id = session.execute(
        select(Timer.process_instance_id).where(Timer.id == timer_id)
    ).scalar_one_or_none()
    if instance_id is None:
        return None
    instance = lock_instance(session, instance_id)
    timer = session.execute(
        select(Timer)
        .where(
            Timer.id == timer_id,
            Timer.fired_at.is_(None),
            Timer.cancelled_at.is_(None),
            Timer.claimed_at.is_(None),
        )
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if timer is None or timer.due_at > now:
        return None
    timer.claimed_at = now  # a suspended instance's timer stays parked like this until it is resumed
    if instance is not None and instance.status == "suspended":
        return None
    if instance is None or instance.status != "running":
        timer.cancelled_at = now
        return None
    return ClaimedTimer(timer, instance)


def park_timer(session: TenantSession, timer_id: uuid.UUID, now: datetime) -> None:
    """Hold a failed timer back from beat until its incident is retried."""
    timer = session.get(Timer, (session.require_tenant_id(), timer_id))
    if timer is not None:
        timer.claimed_at = now


def retry_incident(runtime: Runtime, tenant_id: uuid.UUID, incident_id: uuid.UUID) -> None:
    """Resolve the incident; a timer incident puts its timer back in the queue (the next poll fires it)."""
    with transaction(runtime.sessions, tenant_id) as session:
        incident = session.get(Incident, (tenant_id, incident_id))
        if incident is None or incident.resolved_at is not None:
            return
        timer_id = incident.context.get("timer_id")
        if timer_id:
            timer = session.get(Timer, (tenant_id, uuid.UUID(timer_id)))
            if timer is not None:
                timer.claimed_at = None
        incident.resolved_at = utcnow()
