"""Instance operations (Camunda Operate / spiff-arena's instance pages): find instances, look at one, repair.

Reading: :func:`list_instances` (by definition version, state, open incident), :func:`instance_detail`
(diagram position, incidents, history, the operations run on it) and :func:`visible_variables` — the one
place that decides whether the workflow's variables are shown (tenant administrators only for now; the
sharing issue routes it through its legal-basis decision).

Operating: :func:`run` wraps every operation (retry, suspend, resume, terminate, migrate): it checks the
reason, runs the operation in a savepoint, and records an :class:`AdminOperation` — who, when, what, why and
the outcome — in the request's transaction when it applied, in a transaction of its own when it was refused
or failed (so the attempt is on record even though nothing else changed). The changes themselves go through
``cases.services.operate``: the one place a case's instance changes outside the advance path.

Migration: :func:`dry_run` checks each instance against the target version (nothing changes) and says why
an instance cannot move; :func:`migrate_bulk` moves exactly the movable ones, each in its own savepoint
with the instance version the dry run saw (optimistic locking: one that changed since is left alone and
reported), and records one operation per instance.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import func, select

from ..audit import services as audit
from ..cases import services as cases
from ..core.errors import AppError, NotFound, ValidationFailed
from ..core.session import TenantSession, independent_transaction
from ..engine import services as engine
from ..identity import permissions
from ..identity.principal import Principal
from .models import AdminOperation

T = TypeVar("T")

STATES = ("running", "suspended", "completed", "terminated", "error")
ACTIONS = ("retry", "suspend", "resume", "terminate", "migrate")
REASON_MAX = 1000
INSTANCE_NOT_FOUND = cases.operate.INSTANCE_NOT_FOUND


# ---- reading -------------------------------------------------------------------------------------------------


@dataclass
class InstanceRow:
    instance: engine.ProcessInstance
    version: int
    open_incidents: int


def list_instances(
    session: TenantSession,
    *,
    version: int | None = None,
    state: str | None = None,
    incident: bool | None = None,
    limit: int = 200,
    offset: int = 0,
) -> tuple[list[InstanceRow], int]:
    """Instances filtered by deployed version, state and whether they have an open incident; newest change
    first. Returns a page of rows and the total."""
    open_count = (
        select(func.count(engine.Incident.id))
        .where(
            engine.Incident.tenant_id == engine.ProcessInstance.tenant_id,
            engine.Incident.process_instance_id == engine.ProcessInstance.id,
            engine.Incident.resolved_at.is_(None),
        )
        .correlate(engine.ProcessInstance)
        .scalar_subquery()
    )
    stmt = select(engine.ProcessInstance, engine.Deployment.version, open_count).join(
        engine.Deployment,
        (engine.Deployment.tenant_id == engine.ProcessInstance.tenant_id)
        & (engine.Deployment.id == engine.ProcessInstance.deployment_id),
    )
    if version is not None:
        stmt = stmt.where(engine.Deployment.version == version)
    if state is not None:
        stmt = stmt.where(engine.ProcessInstance.status == state)
    if incident is True:
        stmt = stmt.where(open_count > 0)
    elif incident is False:
        stmt = stmt.where(open_count == 0)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(
        stmt.order_by(engine.ProcessInstance.updated_at.desc(), engine.ProcessInstance.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return [InstanceRow(i, v, int(n or 0)) for i, v, n in rows], int(total)


def get_instance(session: TenantSession, instance_id: uuid.UUID) -> engine.ProcessInstance:
    instance = engine.get_instance(session, instance_id)
    if instance is None:
        raise NotFound(INSTANCE_NOT_FOUND)
    return instance


def get_deployment(session: TenantSession, version: int) -> engine.Deployment:
    row = session.execute(
        select(engine.Deployment).where(engine.Deployment.version == version)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"版 {version} はありません / version {version} not found")
    return row


def versions(session: TenantSession) -> list[tuple[engine.Deployment, int]]:
    """Every deployed version with how many instances are running (or suspended) on it, newest first."""
    counts = dict(
        session.execute(
            select(engine.ProcessInstance.deployment_id, func.count())
            .where(engine.ProcessInstance.status.in_(("running", "suspended")))
            .group_by(engine.ProcessInstance.deployment_id)
        ).all()
    )
    rows = session.execute(select(engine.Deployment).order_by(engine.Deployment.version.desc())).scalars()
    return [(row, int(counts.get(row.id, 0))) for row in rows]


def visible_variables(actor: Principal, instance: engine.ProcessInstance) -> dict[str, Any] | None:
    """The workflow's variables if ``actor`` may see them, else ``None``. The one place this is decided."""
    if not permissions.can(actor, "instance.variables"):
        return None
    return engine.workflow_data(instance)


@dataclass
class InstanceDetail:
    instance: engine.ProcessInstance
    version: int
    case_id: uuid.UUID | None
    #: element ids of the ready user tasks and waiting timers: the token position
    position: list[str]
    ready: list[Any]
    incidents: list[engine.Incident]
    history: list[Any]
    operations: list[AdminOperation]
    variables: dict[str, Any] | None
    user_names: dict[uuid.UUID, str] = field(default_factory=dict)
    highlight: list[str] = field(default_factory=list)


def instance_detail(session: TenantSession, actor: Principal, instance_id: uuid.UUID) -> InstanceDetail:
    instance = get_instance(session, instance_id)
    deployment = session.get(engine.Deployment, (instance.tenant_id, instance.deployment_id))
    ready = list(
        session.execute(
            select(cases.HumanTask)
            .where(cases.HumanTask.process_instance_id == instance.id, cases.HumanTask.state == "ready")
            .order_by(cases.HumanTask.created_at)
        ).scalars()
    )
    timers = session.execute(
        select(engine.Timer.element).where(
            engine.Timer.process_instance_id == instance.id,
            engine.Timer.fired_at.is_(None),
            engine.Timer.cancelled_at.is_(None),
        )
    ).scalars()
    position = sorted({t.element for t in ready} | set(timers))
    incidents = list(
        session.execute(
            select(engine.Incident)
            .where(engine.Incident.process_instance_id == instance.id)
            .order_by(engine.Incident.resolved_at.is_not(None), engine.Incident.created_at.desc())
        ).scalars()
    )
    operations = list(
        session.execute(
            select(AdminOperation)
            .where(AdminOperation.process_instance_id == instance.id)
            .order_by(AdminOperation.at.desc())
            .limit(200)
        ).scalars()
    )
    history = cases.history(session, instance.case_id) if instance.case_id else []
    ids = {o.actor_id for o in operations if o.actor_id} | {e.actor_id for e in history if e.actor_id}
    detail = InstanceDetail(
        instance=instance,
        version=deployment.version if deployment else 0,
        case_id=instance.case_id,
        position=position,
        ready=ready,
        incidents=incidents,
        history=history,
        operations=operations,
        variables=visible_variables(actor, instance),
        user_names=cases.user_names(session, ids),
    )
    if position:
        try:
            detail.highlight = cases.highlight_ids(diagram_xml(session, instance), position)
        except NotFound:
            detail.highlight = []
    return detail


def diagram_xml(session: TenantSession, instance: engine.ProcessInstance) -> str:
    return cases.instance_diagram_xml(session, instance)


# ---- operating -----------------------------------------------------------------------------------------------


def check_reason(reason: Any, *, required: bool = True) -> str:
    if not isinstance(reason, str) or (required and not reason.strip()):
        raise ValidationFailed(
            "理由を入力してください / a reason is required", details={"reason": ["理由は必須です / required"]}
        )
    reason = reason.strip()
    if len(reason) > REASON_MAX:
        raise ValidationFailed(
            f"理由は{REASON_MAX}文字以内です / the reason is too long",
            details={"reason": [f"{REASON_MAX}文字以内 / at most {REASON_MAX} characters"]},
        )
    return reason


def _record(
    session: TenantSession,
    actor: Principal,
    instance: engine.ProcessInstance | None,
    action: str,
    reason: str,
    outcome: str,
    message: str = "",
    details: dict[str, Any] | None = None,
) -> AdminOperation:
    row = AdminOperation(
        tenant_id=session.require_tenant_id(),
        process_instance_id=instance.id if instance else None,
        case_id=instance.case_id if instance else None,
        actor_id=actor.user_id,
        action=action,
        reason=reason,
        outcome=outcome,
        message=message[:4000],
        details=details or {},
    )
    session.add(row)
    session.flush()
    audit.record_instance_operation(session, actor, row)
    return row


def run(
    session: TenantSession,
    actor: Principal,
    instance_id: uuid.UUID,
    action: str,
    reason: str,
    operation: Callable[[], dict[str, Any]],
    *,
    details: dict[str, Any] | None = None,
    savepoint: bool = True,
) -> dict[str, Any]:
    """Run ``operation`` on one instance and record it (see the module docstring). A refusal or failure is
    re-raised after it was recorded; with ``savepoint`` only the operation's own changes are undone (a bulk
    migration goes on with the next instance). A retry runs without one: the advance path's error policy
    rolls the whole unit of work back itself."""
    permissions.authorize(actor, "instance.operate")
    instance = get_instance(session, instance_id)
    ids = (instance.id, instance.case_id)

    def attempt() -> dict[str, Any]:
        outcome = operation()
        _record(session, actor, instance, action, reason, "ok", details={**(details or {}), **outcome})
        return outcome

    try:
        if not savepoint:
            return attempt()
        with session.begin_nested():
            return attempt()
    except AppError as exc:
        _record_apart(session, actor, ids, action, reason, exc, details)
        raise


def _record_apart(
    session: TenantSession,
    actor: Principal,
    ids: tuple[uuid.UUID, uuid.UUID | None],
    action: str,
    reason: str,
    exc: AppError,
    details: dict[str, Any] | None,
) -> None:
    outcome = "failed" if isinstance(exc, cases.WorkflowFailed) else "refused"
    with independent_transaction(session) as own:
        own.add(
            operation := AdminOperation(
                tenant_id=own.require_tenant_id(),
                process_instance_id=ids[0],
                case_id=ids[1],
                actor_id=actor.user_id,
                action=action,
                reason=reason,
                outcome=outcome,
                message=exc.message[:4000],
                details={**(details or {}), "code": exc.code, **_jsonable(exc.details)},
            )
        )
        own.flush()
        # Chained beside it — unless this transaction already holds the chain (a bulk migration that goes on
        # and commits): then in it, so the two never wait on each other.
        audit.record_instance_operation(session if audit.holds_chain(session) else own, actor, operation)


def _jsonable(details: dict[str, Any]) -> dict[str, Any]:
    import json

    try:
        json.dumps(details)
        return dict(details)
    except (TypeError, ValueError):
        return {"details": str(details)[:2000]}


def _incident(
    session: TenantSession, instance_id: uuid.UUID, incident_id: uuid.UUID | None
) -> engine.Incident:
    if incident_id is None:
        open_ = engine.open_incidents(session, instance_id)
        if not open_:
            raise NotFound("未解決の障害はありません / no open incident")
        return open_[0]
    incident = session.get(engine.Incident, (session.require_tenant_id(), incident_id))
    if incident is None or incident.process_instance_id != instance_id:
        raise NotFound("障害が見つかりません / incident not found")
    return incident


def retry(
    session: TenantSession,
    actor: Principal,
    instance_id: uuid.UUID,
    incident_id: uuid.UUID | None,
    reason: str,
) -> dict[str, Any]:
    incident = _incident(session, instance_id, incident_id)
    failed_id = incident.id

    def operation() -> dict[str, Any]:
        outcome = cases.operate.retry(session, actor, incident)
        return {"incident_id": str(failed_id), "command": outcome.command, "result": outcome.detail}

    try:
        return run(
            session,
            actor,
            instance_id,
            "retry",
            reason,
            operation,
            details={"incident_id": str(failed_id)},
            savepoint=False,
        )
    except cases.WorkflowFailed:
        # it failed again: the new incident (recorded by the advance path) takes this one's place
        with independent_transaction(session) as own:
            old = own.get(engine.Incident, (own.require_tenant_id(), failed_id))
            if old is not None and old.resolved_at is None:
                engine.resolve_incident(own, old, release_timer=False)
        raise


def suspend(session: TenantSession, actor: Principal, instance_id: uuid.UUID, reason: str) -> dict[str, Any]:
    return run(
        session, actor, instance_id, "suspend", reason,
        lambda: cases.operate.suspend(session, actor, instance_id, reason),
    )  # fmt: skip


def resume(session: TenantSession, actor: Principal, instance_id: uuid.UUID, reason: str) -> dict[str, Any]:
    return run(
        session, actor, instance_id, "resume", reason,
        lambda: cases.operate.resume(session, actor, instance_id, reason),
    )  # fmt: skip


def terminate(
    session: TenantSession, actor: Principal, instance_id: uuid.UUID, reason: str
) -> dict[str, Any]:
    return run(
        session, actor, instance_id, "terminate", reason,
        lambda: cases.operate.terminate(session, actor, instance_id, reason),
    )  # fmt: skip


# ---- migration -----------------------------------------------------------------------------------------------


@dataclass
class DryRunRow:
    instance: engine.ProcessInstance
    from_version: int
    check: engine.MigrationCheck

    def as_dict(self) -> dict[str, Any]:
        return {
            "instance_id": str(self.instance.id),
            "case_id": str(self.instance.case_id) if self.instance.case_id else None,
            "instance_version": self.check.instance_version,
            "from_version": self.from_version,
            "status": self.instance.status,
            "stage": self.instance.stage,
            "active": self.check.active,
            "movable": self.check.movable,
            "reasons": [r.as_dict() for r in self.check.reasons],
        }


MAX_BATCH = 500


def _candidates(
    session: TenantSession, target: engine.Deployment, from_version: int | None, ids: list[uuid.UUID] | None
) -> list[tuple[engine.ProcessInstance, int]]:
    stmt = (
        select(engine.ProcessInstance, engine.Deployment.version)
        .join(
            engine.Deployment,
            (engine.Deployment.tenant_id == engine.ProcessInstance.tenant_id)
            & (engine.Deployment.id == engine.ProcessInstance.deployment_id),
        )
        .where(engine.ProcessInstance.deployment_id != target.id)
    )
    if ids is not None:
        stmt = stmt.where(engine.ProcessInstance.id.in_(ids))
    else:
        stmt = stmt.where(engine.ProcessInstance.status.in_(engine.MOVABLE_STATUSES))
    if from_version is not None:
        stmt = stmt.where(engine.Deployment.version == from_version)
    rows = session.execute(stmt.order_by(engine.ProcessInstance.created_at).limit(MAX_BATCH + 1)).all()
    if len(rows) > MAX_BATCH:
        raise ValidationFailed(
            f"一度に移行できるのは{MAX_BATCH}件までです。版や件数で絞ってください"
            f" / at most {MAX_BATCH} instances at a time; narrow the selection"
        )
    return [(i, v) for i, v in rows]


def dry_run(
    session: TenantSession,
    actor: Principal,
    target_version: int,
    *,
    from_version: int | None = None,
    instance_ids: list[uuid.UUID] | None = None,
) -> list[DryRunRow]:
    """Per instance: can it move to ``target_version``, and why not. Changes nothing."""
    permissions.authorize(actor, "instance.read")
    target = get_deployment(session, target_version)
    rows = []
    for instance, version in _candidates(session, target, from_version, instance_ids):
        rows.append(DryRunRow(instance, version, cases.operate.dry_run(session, instance, target)))
    movable = sum(1 for r in rows if r.check.movable)
    _record(
        session,
        actor,
        None,
        "migrate_dry_run",
        "",
        "ok",
        details={
            "target_version": target_version,
            "from_version": from_version,
            "movable": movable,
            "blocked": len(rows) - movable,
        },
    )
    return rows


@dataclass
class BulkResult:
    migrated: list[str] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"migrated": self.migrated, "skipped": self.skipped}


def migrate_one(
    session: TenantSession,
    actor: Principal,
    instance_id: uuid.UUID,
    target_version: int,
    reason: str,
    *,
    expected_version: int | None = None,
) -> dict[str, Any]:
    target = get_deployment(session, target_version)
    return run(
        session,
        actor,
        instance_id,
        "migrate",
        reason,
        lambda: cases.operate.migrate(
            session, actor, instance_id, target, expected_version=expected_version, reason=reason
        ),
        details={"to_version": target_version, "expected_version": expected_version},
    )


def migrate_bulk(
    session: TenantSession,
    actor: Principal,
    target_version: int,
    items: list[tuple[uuid.UUID, int | None]],
    reason: str,
) -> BulkResult:
    """Move each ``(instance id, version the dry run saw)``; one that cannot move (any more) is skipped
    with its reasons, the others are untouched by its failure (one savepoint per instance)."""
    permissions.authorize(actor, "instance.operate")
    if len(items) > MAX_BATCH:
        raise ValidationFailed(f"at most {MAX_BATCH} instances at a time / 一度に{MAX_BATCH}件まで")
    result = BulkResult()
    for instance_id, expected in items:
        try:
            migrate_one(session, actor, instance_id, target_version, reason, expected_version=expected)
        except AppError as exc:
            result.skipped.append(
                {"instance_id": str(instance_id), "code": exc.code, "message": exc.message, **exc.details}
            )
        else:
            result.migrated.append(str(instance_id))
    return result


def version_diff(
    session: TenantSession, from_version: int, to_version: int, process_id: str
) -> engine.VersionDiff:
    return engine.diff_versions(
        session, get_deployment(session, from_version), get_deployment(session, to_version), process_id
    )
