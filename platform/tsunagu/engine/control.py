"""Operator commands on an instance: suspend, resume, terminate (the admin's instance operations).

* **suspend** — status ``suspended``: every command refuses (``runner.require_running``: 409) and the
  instance's open timers are parked (``claimed_at`` set, as an incident parks one), so beat does not fire them;
* **resume** — back to ``running``; the parked timers are released, except one an open incident still holds
  (that one waits for its retry). A timer that fell due meanwhile fires on the next poll;
* **terminate** — every open task is cancelled (Spiff's ``cancel``), the timers too; status ``terminated``.

The caller (``cases.operate``) locks the row first and applies the result (the inbox rows that went away).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select, update

from ..core.db import utcnow
from ..core.errors import Conflict
from ..core.session import TenantSession
from .models import Incident, ProcessInstance, Timer
from .runner import CommandResult, _load, _snapshot, save


def _open_timers() -> tuple[ColumnElement[bool], ...]:
    return (Timer.fired_at.is_(None), Timer.cancelled_at.is_(None))


def suspend(session: TenantSession, instance: ProcessInstance) -> int:
    """Suspend a running instance; returns how many timers were parked."""
    if instance.status != "running":
        raise Conflict(
            f"実行中のインスタンスだけを一時停止できます（{instance.status}） / only a running instance can be "
            "suspended",
            code="not_running",
        )
    instance.status = "suspended"
    parked = session.execute(
        update(Timer)
        .where(Timer.process_instance_id == instance.id, *_open_timers(), Timer.claimed_at.is_(None))
        .values(claimed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(parked.rowcount or 0)  # type: ignore[attr-defined]


def resume(session: TenantSession, instance: ProcessInstance) -> int:
    """Resume a suspended instance; returns how many timers went back to beat."""
    if instance.status != "suspended":
        raise Conflict(
            f"一時停止中ではありません（{instance.status}） / the instance is not suspended",
            code="not_suspended",
        )
    instance.status = "running"
    held = {
        str(context.get("timer_id"))
        for context in session.execute(
            select(Incident.context).where(
                Incident.process_instance_id == instance.id, Incident.resolved_at.is_(None)
            )
        ).scalars()
        if context.get("timer_id")
    }
    timers = session.execute(
        select(Timer).where(
            Timer.process_instance_id == instance.id, *_open_timers(), Timer.claimed_at.is_not(None)
        )
    ).scalars()
    released = 0
    for timer in timers:
        if str(timer.id) not in held:
            timer.claimed_at = None
            released += 1
    return released


def terminate(session: TenantSession, instance: ProcessInstance) -> CommandResult:
    """Cancel everything open in the instance; the result lists the user tasks that went away."""
    if instance.status not in ("running", "suspended"):
        raise Conflict(
            f"終了済みのインスタンスです（{instance.status}） / the instance has already ended",
            code="not_running",
        )
    workflow = _load("terminate", instance)
    before = _snapshot(workflow)
    workflow.cancel()
    save(instance, workflow)
    now = utcnow()
    instance.status = "terminated"
    instance.completed_at = now
    instance.stage = "強制終了"
    session.execute(
        update(Timer)
        .where(Timer.process_instance_id == instance.id, *_open_timers())
        .values(cancelled_at=now)
        .execution_options(synchronize_session=False)
    )
    return CommandResult(instance=instance, workflow=workflow, gone=list(before.ready), stage=instance.stage)
