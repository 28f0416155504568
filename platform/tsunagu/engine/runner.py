"""Commands on process instances: start, complete a task, fire a timer, deliver a message.

Each command is load → apply → save inside the caller's transaction. ``ProcessInstance.version`` is the
optimistic lock: a concurrent writer makes the flush fail with ``StaleDataError``, which the caller retries or
answers with 409. After every command the projections are brought up to date in the same transaction:
``HumanTask`` rows for ready user tasks, ``Timer`` rows for waiting timers, outbox rows for service tasks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.orm import object_session

from ..core.db import utcnow
from ..core.errors import Conflict
from ..core.session import TenantSession
from ..identity.models import role_for_lane
from ..inbox.models import HumanTask
from .definitions import LoadedDeployment
from .models import ProcessInstance, Timer
from .serialization import SpecRef


@dataclass
class CommandResult:
    instance: ProcessInstance
    workflow: BpmnWorkflow
    new_tasks: list[HumanTask] = field(default_factory=list)
    side_effects: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class TaskContext:
    """What the projection copies onto every HumanTask of an instance."""

    case_id: uuid.UUID | None
    org_unit_id: uuid.UUID | None
    person_name: str = ""
    person_kana: str = ""


def _properties(task: Any) -> dict[str, str]:
    ext = getattr(task.task_spec, "extensions", None) or {}
    props = ext.get("properties") or {}
    return dict(props) if isinstance(props, dict) else {}


def ready_user_tasks(workflow: BpmnWorkflow) -> list[Any]:
    return list(workflow.get_tasks(state=TaskState.READY, manual=True))


def waiting_timer_tasks(workflow: BpmnWorkflow) -> list[tuple[Any, datetime]]:
    from .events import waiting_timers

    found = []
    for pending in waiting_timers(workflow):
        if pending.due_at is not None:
            found.append((workflow.get_task_from_id(pending.task_id), pending.due_at))
    return found


def build_workflow(deployment: LoadedDeployment, process_id: str, meeting_process: str) -> BpmnWorkflow:
    from .spiff import SafeScriptEngine, resolve_specs

    spec, subprocess_specs = resolve_specs(
        deployment.bundle, process_id, aliases={"meeting": meeting_process}
    )
    return BpmnWorkflow(spec, subprocess_specs, script_engine=SafeScriptEngine())


def run_engine(workflow: BpmnWorkflow) -> list[dict[str, Any]]:
    """``do_engine_steps`` collecting the service-task side effects instead of running them."""
    from .spiff import collect_side_effects

    with collect_side_effects() as effects:
        workflow.do_engine_steps()
    return list(effects)


def sync_projection(
    session: TenantSession, instance: ProcessInstance, workflow: BpmnWorkflow, ctx: TaskContext
) -> list[HumanTask]:
    """Make the HumanTask and Timer rows of ``instance`` match the workflow. Returns newly ready tasks."""
    tenant_id = session.require_tenant_id()
    now = utcnow()
    ready = {t.id: t for t in ready_user_tasks(workflow)}
    existing = {
        h.id: h
        for h in session.execute(
            select(HumanTask).where(HumanTask.process_instance_id == instance.id, HumanTask.state == "ready")
        ).scalars()
    }
    for task_id, human in existing.items():
        if task_id not in ready:
            human.state = "cancelled"
            human.completed_at = now
    created: list[HumanTask] = []
    for task_id, task in ready.items():
        if task_id in existing:
            continue
        props = _properties(task)
        lane = task.task_spec.lane or ""
        role = role_for_lane(lane) or ""
        due_at = None
        if props.get("dueInDays", "").isdigit():
            due_at = now + timedelta(days=int(props["dueInDays"]))
        human = HumanTask(
            tenant_id=tenant_id,
            id=task_id,
            process_instance_id=instance.id,
            case_id=ctx.case_id,
            org_unit_id=ctx.org_unit_id,
            element=task.task_spec.bpmn_id or task.task_spec.name,
            title=task.task_spec.bpmn_name or task.task_spec.name,
            lane=lane,
            role=role,
            candidate_roles=[role] if role else [],
            form_key=props.get("formKey", ""),
            due_at=due_at,
            person_name=ctx.person_name,
            person_kana=ctx.person_kana,
        )
        session.add(human)
        created.append(human)

    waiting = {task.id: (task, due) for task, due in waiting_timer_tasks(workflow)}
    timers = {
        t.task_id: t
        for t in session.execute(
            select(Timer).where(
                Timer.process_instance_id == instance.id,
                Timer.fired_at.is_(None),
                Timer.cancelled_at.is_(None),
            )
        ).scalars()
    }
    for task_id, timer in timers.items():
        # No longer waiting: its boundary's activity finished, an interrupting event took the path away, or
        # Spiff fired it itself while running engine steps past its due time. Either way beat must not fire it.
        if task_id not in waiting:
            timer.cancelled_at = now
    for task_id, (task, due) in waiting.items():
        if task_id in timers:
            continue
        session.add(
            Timer(
                tenant_id=tenant_id,
                process_instance_id=instance.id,
                task_id=task_id,
                element=task.task_spec.bpmn_id or task.task_spec.name,
                due_at=due,
            )
        )
    return created


def spec_ref(instance: ProcessInstance) -> SpecRef:
    """What the instance's row refers to for its definitions: deployment, process, meeting binding."""
    return SpecRef.of(instance.deployment_id, instance.process_id, {"meeting": instance.meeting_process})


def save(instance: ProcessInstance, workflow: BpmnWorkflow) -> None:
    """The one place an instance's state is written: compacted (``compaction``), then stored with its
    definitions by reference (``serialization``)."""
    from .compaction import compact
    from .spiff import dumps

    compact(workflow)
    instance.serialized = dumps(workflow, spec_ref(instance))
    if workflow.is_completed():
        instance.status = "completed"
        instance.completed_at = utcnow()


def load(instance: ProcessInstance) -> BpmnWorkflow:
    """The instance's workflow, deserialized from its row; its specs come from the per-process cache.

    Deserializing is most of the engine floor's cost; a per-process cache of workflows keyed by instance
    version was tried and measured (``make bench``): with cases interleaved it rarely hit, and holding the
    large object graphs made the garbage collector cost more than the deserializing it saved.
    """
    from .serialization import resolver_for
    from .spiff import loads

    session = object_session(instance)
    return loads(instance.serialized, resolver_for(session) if session is not None else None)


def start_instance(
    session: TenantSession,
    deployment: LoadedDeployment,
    process_id: str,
    meeting_process: str,
    data: dict[str, Any],
    ctx: TaskContext,
    instance_id: uuid.UUID | None = None,
) -> CommandResult:
    workflow = build_workflow(deployment, process_id, meeting_process)
    workflow.data.update(data)
    start = workflow.get_tasks(state=TaskState.READY)
    for task in start:
        task.data.update(data)
    effects = run_engine(workflow)
    instance = ProcessInstance(
        tenant_id=session.require_tenant_id(),
        id=instance_id or uuid.uuid4(),
        deployment_id=deployment.id,
        process_id=process_id,
        meeting_process=meeting_process,
        case_id=ctx.case_id,
        serialized="",
    )
    save(instance, workflow)
    session.add(instance)
    session.flush()
    created = sync_projection(session, instance, workflow, ctx)
    return CommandResult(instance=instance, workflow=workflow, new_tasks=created, side_effects=effects)


def complete_user_task(
    session: TenantSession,
    instance: ProcessInstance,
    task_id: uuid.UUID,
    data: dict[str, Any],
    ctx: TaskContext,
) -> CommandResult:
    from SpiffWorkflow.exceptions import TaskNotFoundException

    workflow = load(instance)
    try:
        task = workflow.get_task_from_id(task_id)
    except TaskNotFoundException:
        task = None
    if task is None or task.state != TaskState.READY:
        raise Conflict("このタスクは既に完了しています / the task is no longer ready", code="task_not_ready")
    task.set_data(**data)
    with_effects: list[dict[str, Any]] = []
    from .spiff import collect_side_effects

    with collect_side_effects() as effects:
        task.run()
        workflow.do_engine_steps()
    with_effects.extend(effects)
    save(instance, workflow)
    created = sync_projection(session, instance, workflow, ctx)
    return CommandResult(instance=instance, workflow=workflow, new_tasks=created, side_effects=with_effects)


def fire_timer(
    session: TenantSession, instance: ProcessInstance, timer: Timer, ctx: TaskContext, now: datetime
) -> CommandResult:
    from .events import fire_timer as spiff_fire_timer
    from .spiff import collect_side_effects

    workflow = load(instance)
    with collect_side_effects() as collected:
        spiff_fire_timer(workflow, timer.task_id, advance=True)
    effects = list(collected)
    timer.fired_at = now
    save(instance, workflow)
    created = sync_projection(session, instance, workflow, ctx)
    return CommandResult(instance=instance, workflow=workflow, new_tasks=created, side_effects=effects)


def deliver_message(
    session: TenantSession, instance: ProcessInstance, name: str, payload: dict[str, Any], ctx: TaskContext
) -> CommandResult | None:
    from .events import deliver_message as spiff_deliver
    from .spiff import collect_side_effects

    workflow = load(instance)
    with collect_side_effects() as effects:
        delivered = spiff_deliver(workflow, name, payload, advance=True)
    if not delivered:
        return None
    save(instance, workflow)
    created = sync_projection(session, instance, workflow, ctx)
    return CommandResult(instance=instance, workflow=workflow, new_tasks=created, side_effects=list(effects))


def current_stage(workflow: BpmnWorkflow) -> str:
    ready = ready_user_tasks(workflow)
    if ready:
        return " / ".join(sorted({t.task_spec.bpmn_name or t.task_spec.name for t in ready}))
    if workflow.is_completed():
        return "完了"
    waiting = [t for t in workflow.get_tasks(state=TaskState.WAITING) if t.task_spec.bpmn_name]
    if waiting:
        return " / ".join(sorted({t.task_spec.bpmn_name for t in waiting}))
    return ""


def end_event_reached(workflow: BpmnWorkflow) -> str:
    """The id of the top-level end event the finished workflow reached (``end_closed``, ``end_referred``, ...)."""
    from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent

    ends = [
        t
        for t in workflow.get_tasks(state=TaskState.COMPLETED)
        if t.workflow is workflow and isinstance(t.task_spec, EndEvent)
    ]
    ends.sort(key=lambda t: t.last_state_change)
    return str(ends[-1].task_spec.bpmn_id) if ends else ""
