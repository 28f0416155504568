"""Incidents: an engine error on an instance, recorded beside the command that failed, visible and retryable."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from ..core.session import TenantSession
from .errors import EngineFault
from .models import Incident


def record_incident(
    session: TenantSession,
    instance_id: uuid.UUID,
    fault: EngineFault,
    context: dict[str, Any],
) -> Incident:
    """Add the incident to ``session`` — the caller's *own* transaction, not the one that failed."""
    incident = Incident(
        tenant_id=session.require_tenant_id(),
        process_instance_id=instance_id,
        element=fault.element[:200],
        command=fault.command,
        context={"command": fault.command, "element_name": fault.element_name, **context},
        message=fault.error,
    )
    session.add(incident)
    session.flush()
    return incident


def open_incidents(session: TenantSession, instance_id: uuid.UUID) -> list[Incident]:
    return list(
        session.execute(
            select(Incident)
            .where(Incident.process_instance_id == instance_id, Incident.resolved_at.is_(None))
            .order_by(Incident.created_at)
        ).scalars()
    )


def resolve_incident(session: TenantSession, incident: Incident, *, release_timer: bool = True) -> None:
    """Mark ``incident`` resolved; a timer it parked goes back to beat (``release_timer``), which fires it on
    its next poll."""
    from ..core.db import utcnow
    from .models import Timer

    incident.resolved_at = utcnow()
    timer_id = incident.context.get("timer_id")
    if timer_id and release_timer:
        timer = session.get(Timer, (session.require_tenant_id(), uuid.UUID(str(timer_id))))
        if timer is not None and timer.fired_at is None and timer.cancelled_at is None:
            timer.claimed_at = None
