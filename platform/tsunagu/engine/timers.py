"""Firing due BPMN timers (beat). Never Celery ETA: timers live in the ``timer`` table.

Finding due timers crosses tenants, so it goes through one narrow path: on PostgreSQL the
``tsunagu_due_timers`` SECURITY DEFINER function returns only ``(tenant_id, id)`` pairs. Each timer is then
fired in its own tenant-bound transaction that locks the row with ``FOR UPDATE SKIP LOCKED``, so any number
of pollers fire every due timer exactly once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import select, text

from ..core.db import is_database_unavailable, utcnow
from ..core.runtime import Runtime
from ..core.session import transaction
from .models import Incident, ProcessInstance, Timer

log = logging.getLogger("tsunagu.timers")


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


def fire_one(runtime: Runtime, tenant_id: uuid.UUID, timer_id: uuid.UUID, now: datetime) -> bool:
    """Fire one timer if it is still due and nobody else holds it. Engine errors become incidents; an
    unavailable database is raised and leaves the timer due."""
    from ..cases import services as cases
    from . import runner

    try:
        with transaction(runtime.sessions, tenant_id) as session:
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
                return False
            timer.claimed_at = now
            instance = session.get(ProcessInstance, (tenant_id, timer.process_instance_id))
            if instance is None or instance.status != "running":
                timer.cancelled_at = now
                return False
            case = cases.get_case(session, instance.case_id) if instance.case_id else None
            ctx = (
                cases.task_context(session, case)
                if case
                else runner.TaskContext(case_id=None, org_unit_id=None)
            )
            result = runner.fire_timer(session, instance, timer, ctx, now)
            if case is not None:
                cases.record_event(
                    session,
                    case.id,
                    "timer_fired",
                    element=timer.element,
                    title="タイマー",
                    details={"due_at": timer.due_at.isoformat()},
                )
                cases.apply_result(session, case, result)
            return True
    except Exception as exc:
        if is_database_unavailable(exc):
            # Not the process's fault: the claim was rolled back with everything else, so the timer is still
            # due and the next poll fires it (an incident would park it until someone retried it by hand).
            # Raised, so the poll stops here instead of waiting on the database once per due timer.
            raise
        log.exception("timer %s of tenant %s failed", timer_id, tenant_id)
        record_incident(runtime, tenant_id, timer_id, exc, now)
        return False


def record_incident(
    runtime: Runtime, tenant_id: uuid.UUID, timer_id: uuid.UUID, exc: Exception, now: datetime
) -> None:
    with transaction(runtime.sessions, tenant_id) as session:
        timer = session.get(Timer, (tenant_id, timer_id))
        if timer is None:
            return
        timer.claimed_at = now  # parked until an operator retries the incident
        session.add(
            Incident(
                tenant_id=tenant_id,
                process_instance_id=timer.process_instance_id,
                element=timer.element,
                command="fire_timer",
                context={"timer_id": str(timer.id)},
                message=f"{type(exc).__name__}: {exc}"[:2000],
            )
        )


def fire_due_timers(runtime: Runtime, now: datetime | None = None, limit: int = 100) -> int:
    """Fire every timer due at ``now`` (default: the current time). Returns how many fired here."""
    now = now or utcnow()
    fired = 0
    for tenant_id, timer_id in due_timer_ids(runtime, now, limit):
        if fire_one(runtime, tenant_id, timer_id, now):
            fired += 1
    return fired


def retry_incident(runtime: Runtime, tenant_id: uuid.UUID, incident_id: uuid.UUID) -> None:
    """Put the incident's timer back in the queue; the next poll fires it again."""
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
