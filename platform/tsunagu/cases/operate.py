"""Operator commands on a case's process: retry an incident, suspend, resume, terminate, migrate.

The instance operations of the admin pages (``admin.operations``) change instances only here, and here only
through the engine's commands and :func:`advance.apply_result` — the same projection, history and closure as
the advance path — so the inbox and the case timeline follow every operation. Each function locks the
instance row first (the lock every command on an instance takes), works in the caller's transaction and
records the step on the case's timeline.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ..core.db import utcnow
from ..core.errors import Conflict, NotFound, Unprocessable
from ..core.session import TenantSession
from ..engine import services as engine
from ..identity.services import Principal
from .advance import apply_result, complete_task, context_of, record_event
from .models import Case

INSTANCE_NOT_FOUND = "プロセスインスタンスが見つかりません / process instance not found"


def lock(session: TenantSession, instance_id: uuid.UUID) -> engine.ProcessInstance:
    instance = engine.lock_instance(session, instance_id)
    if instance is None:
        raise NotFound(INSTANCE_NOT_FOUND)
    return instance


def _case(session: TenantSession, instance: engine.ProcessInstance) -> Case | None:
    if instance.case_id is None:
        return None
    return session.get(Case, (instance.tenant_id, instance.case_id))


def _event(session: TenantSession, case: Case | None, kind: str, actor: Principal, **details: Any) -> None:
    if case is not None:
        titles = {
            "suspended": "一時停止",
            "resumed": "再開",
            "terminated": "強制終了",
            "migrated": "版の移行",
        }
        record_event(
            session, case.id, kind, title=titles.get(kind, kind), actor_id=actor.user_id, details=details
        )


def suspend(session: TenantSession, actor: Principal, instance_id: uuid.UUID, reason: str) -> dict[str, Any]:
    instance = lock(session, instance_id)
    parked = engine.suspend(session, instance)
    _event(session, _case(session, instance), "suspended", actor, reason=reason)
    return {"status": instance.status, "timers_parked": parked}


def resume(session: TenantSession, actor: Principal, instance_id: uuid.UUID, reason: str) -> dict[str, Any]:
    instance = lock(session, instance_id)
    released = engine.resume(session, instance)
    _event(session, _case(session, instance), "resumed", actor, reason=reason)
    return {"status": instance.status, "timers_released": released}


def terminate(
    session: TenantSession, actor: Principal, instance_id: uuid.UUID, reason: str
) -> dict[str, Any]:
    """Cancel the process and its open tasks; the case closes with outcome ``terminated``."""
    instance = lock(session, instance_id)
    case = _case(session, instance)
    result = engine.terminate(session, instance)
    apply_result(session, case, result, context_of(session, case))
    if case is not None and case.status == "open":
        case.status = "closed"
        case.closed_at = utcnow()
        case.outcome = "terminated"
    _event(session, case, "terminated", actor, reason=reason)
    return {"status": instance.status, "tasks_cancelled": len(result.gone)}


def migrate(
    session: TenantSession,
    actor: Principal,
    instance_id: uuid.UUID,
    target: engine.Deployment,
    *,
    expected_version: int | None,
    reason: str,
) -> dict[str, Any]:
    """Move the instance to ``target`` (409 ``migration_refused`` with the reasons when it cannot)."""
    instance = lock(session, instance_id)
    from_deployment = instance.deployment_id
    case = _case(session, instance)
    result = engine.migrate_instance(session, instance, target, expected_version=expected_version)
    apply_result(session, case, result, context_of(session, case))
    _event(
        session,
        case,
        "migrated",
        actor,
        reason=reason,
        from_deployment=str(from_deployment),
        to_deployment=str(target.id),
        to_version=target.version,
    )
    return {"status": instance.status, "deployment_id": str(target.id), "version": target.version}


def dry_run(
    session: TenantSession, instance: engine.ProcessInstance, target: engine.Deployment
) -> engine.MigrationCheck:
    return engine.check_migration(session, instance, target)


@dataclass
class RetryOutcome:
    command: str
    detail: str


def retry(session: TenantSession, actor: Principal, incident: engine.Incident) -> RetryOutcome:
    """Re-run what an incident recorded. A failed completion is submitted again with the data it carried
    (422 ``workflow_error`` and a new incident if it fails again); a failed timer goes back to beat, which
    fires it on its next poll; other commands cannot be re-run here (422)."""
    if incident.resolved_at is not None:
        raise Conflict("この障害は解決済みです / the incident is already resolved", code="incident_resolved")
    instance = lock(session, incident.process_instance_id)
    command = incident.context.get("command") or incident.command
    if command == "complete_task":
        task_id = incident.context.get("task_id")
        if not task_id:
            raise Unprocessable("再実行できる情報がありません / the incident holds nothing to re-run")
        engine.require_running(instance)
        engine.resolve_incident(session, incident)
        complete_task(
            session,
            actor,
            uuid.UUID(str(task_id)),
            dict(incident.context.get("data") or {}),
            retry_of=incident.id,
        )
        return RetryOutcome(command, "completed")
    if command == "fire_timer" and incident.context.get("timer_id"):
        engine.resolve_incident(session, incident, release_timer=instance.status == "running")
        return RetryOutcome(command, "timer_released")
    raise Unprocessable(
        f"この種類の障害（{command}）は再実行できません。定義を直して版を移行してください"
        f" / a failed '{command}' cannot be re-run; fix the definition and migrate",
        code="not_retryable",
    )
