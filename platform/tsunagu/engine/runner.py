"""Commands on process instances: start, complete a task, fire a timer, deliver a message.

Each command is load → apply → save on one ``ProcessInstance`` row inside the caller's transaction, and
returns a plain :class:`CommandResult`: the user tasks that became ready and the ones that went away, the
timers that started waiting, the side effects to queue, the current stage, and whether (and where) the
process ended. The engine writes only its own tables — the instance row and the ``timer`` rows — and knows
nothing of cases, inboxes or roles: the caller applies the result (``cases.advance``).

``ProcessInstance.version`` is the optimistic lock: a concurrent writer makes the flush fail with
``StaleDataError``; callers that lock the row first (``lock_instance``) never see it on PostgreSQL.

What changed is computed from the workflow before and after the command (one pass over the task dictionaries,
not the tree walks of ``get_tasks``), so the caller needs no query of its projection to know it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select, update
from sqlalchemy.orm import object_session

from ..core.db import utcnow
from ..core.errors import Conflict
from ..core.session import TenantSession
from .definitions import LoadedDeployment
from .errors import EngineFault
from .models import ProcessInstance, Timer
from .serialization import SpecRef

COMPLETED_STAGE = "完了"


@dataclass(frozen=True)
class ReadyTask:
    """A user task that became ready: what a projection of it needs."""

    id: uuid.UUID
    element: str
    title: str
    lane: str
    form_key: str
    due_in_days: int | None


@dataclass(frozen=True)
class WaitingTimer:
    task_id: uuid.UUID
    element: str
    due_at: datetime


@dataclass
class CommandResult:
    instance: ProcessInstance
    workflow: BpmnWorkflow
    #: user tasks that became ready during the command
    ready: list[ReadyTask] = field(default_factory=list)
    #: user tasks that were ready before and are not now (the completed one included)
    gone: list[uuid.UUID] = field(default_factory=list)
    #: timers that started waiting (the engine wrote their ``timer`` rows)
    timers: list[WaitingTimer] = field(default_factory=list)
    side_effects: list[dict[str, Any]] = field(default_factory=list)
    stage: str = ""
    #: the process finished during this command, at ``end_event`` (``end_closed``, ``end_referred``, ...)
    ended: bool = False
    end_event: str = ""


@dataclass
class _Snapshot:
    ready: dict[uuid.UUID, Task]
    waiting_names: set[str]


def _all_tasks(workflow: BpmnWorkflow) -> Iterator[Task]:
    yield from list(workflow.tasks.values())
    for sub in list(workflow.subprocesses.values()):
        yield from list(sub.tasks.values())


def _snapshot(workflow: BpmnWorkflow) -> _Snapshot:
    ready: dict[uuid.UUID, Task] = {}
    waiting: set[str] = set()
    for task in _all_tasks(workflow):
        state = task.state
        if state == TaskState.READY and task.task_spec.manual:
            ready[task.id] = task
        elif state == TaskState.WAITING and task.task_spec.bpmn_name:
            waiting.add(task.task_spec.bpmn_name)
    return _Snapshot(ready, waiting)


def _waiting_timers(workflow: BpmnWorkflow) -> dict[uuid.UUID, WaitingTimer]:
    from .events import waiting_timers

    return {
        p.task_id: WaitingTimer(p.task_id, p.spec_id, p.due_at)
        for p in waiting_timers(workflow)
        if p.due_at is not None
    }


def _properties(task: Task) -> dict[str, str]:
    ext = getattr(task.task_spec, "extensions", None) or {}
    props = ext.get("properties") or {}
    return dict(props) if isinstance(props, dict) else {}


def _ready_task(task: Task) -> ReadyTask:
    props = _properties(task)
    due = props.get("dueInDays", "")
    return ReadyTask(
        id=task.id,
        element=task.task_spec.bpmn_id or task.task_spec.name,
        title=task.task_spec.bpmn_name or task.task_spec.name,
        lane=task.task_spec.lane or "",
        form_key=props.get("formKey", ""),
        due_in_days=int(due) if due.isdigit() else None,
    )


def _stage(workflow: BpmnWorkflow, snap: _Snapshot) -> str:
    if snap.ready:
        return " / ".join(sorted({t.task_spec.bpmn_name or t.task_spec.name for t in snap.ready.values()}))
    if workflow.is_completed():
        return COMPLETED_STAGE
    return " / ".join(sorted(snap.waiting_names))


def _end_event(workflow: BpmnWorkflow) -> str:
    ends = [
        t
        for t in workflow.tasks.values()
        if t.state == TaskState.COMPLETED and isinstance(t.task_spec, EndEvent)
    ]
    ends.sort(key=lambda t: t.last_state_change)
    return str(ends[-1].task_spec.bpmn_id) if ends else ""


# --- helpers kept for the engine floor benchmark and tests ----------------------------------------------------


def ready_user_tasks(workflow: BpmnWorkflow) -> list[Task]:
    return list(_snapshot(workflow).ready.values())


def current_stage(workflow: BpmnWorkflow) -> str:
    return _stage(workflow, _snapshot(workflow))


def running_calls(workflow: BpmnWorkflow) -> frozenset[str]:
    """The ``calledElement`` of every call activity now running (aliases as written: ``meeting``).

    A running call activity is a task with a live subworkflow that has not finished; the domain layer asks
    this to know that a case sits in its meeting (no ready task of its own, waiting on another lane)."""
    called: set[str] = set()
    for task_id, sub in list(workflow.subprocesses.items()):
        task = workflow.get_task_from_id(task_id)
        if task is None or task.state & TaskState.FINISHED_MASK or sub.is_completed():
            continue
        name = getattr(task.task_spec, "spec", None)
        if isinstance(name, str):
            called.add(name)
    return frozenset(called)


def end_event_reached(workflow: BpmnWorkflow) -> str:
    """The id of the top-level end event the finished workflow reached (``end_closed``, ``end_referred``, ...)."""
    return _end_event(workflow)


# --- state ------------------------------------------------------------------------------------------------


def build_workflow(deployment: LoadedDeployment, process_id: str, meeting_process: str) -> BpmnWorkflow:
    from .spiff import SafeScriptEngine, resolve_specs

    spec, subprocess_specs = resolve_specs(
        deployment.bundle, process_id, aliases={"meeting": meeting_process}
    )
    return BpmnWorkflow(spec, subprocess_specs, script_engine=SafeScriptEngine())


def spec_ref(instance: ProcessInstance) -> SpecRef:
    """What the instance's row refers to for its definitions: deployment, process, meeting binding."""
    return SpecRef.of(instance.deployment_id, instance.process_id, {"meeting": instance.meeting_process})


def save(instance: ProcessInstance, workflow: BpmnWorkflow) -> None:
    """The one place the workflow state is written to its row: compacted (``compaction``), then stored with
    its definitions by reference (``serialization``)."""
    from .compaction import compact
    from .spiff import dumps

    compact(workflow)
    instance.serialized = dumps(workflow, spec_ref(instance))
    if workflow.is_completed():
        instance.status = "completed"
        instance.completed_at = utcnow()


def load(instance: ProcessInstance) -> BpmnWorkflow:
    """The instance's workflow, deserialized from its row (the one place it is read); its specs come from
    the per-process cache (``serialization.SPEC_CACHE``).

    Deserializing is most of the engine floor's cost; a per-process cache of workflows keyed by instance
    version was tried and measured (``make bench``): with cases interleaved it rarely hit, and holding the
    large object graphs made the garbage collector cost more than the deserializing it saved.
    """
    from .serialization import resolver_for
    from .spiff import loads

    session = object_session(instance)
    return loads(instance.serialized, resolver_for(session) if session is not None else None)


def _load(command: str, instance: ProcessInstance) -> BpmnWorkflow:
    try:
        return load(instance)
    except Exception as exc:  # a state that no longer deserializes is an engine error like any other
        raise EngineFault.from_exception(command, exc) from exc


def lock_instance(session: TenantSession, instance_id: uuid.UUID) -> ProcessInstance | None:
    """The instance row, locked for this transaction (PostgreSQL): every command on it queues here."""
    return session.execute(
        select(ProcessInstance).where(ProcessInstance.id == instance_id).with_for_update()
    ).scalar_one_or_none()


# --- commands -----------------------------------------------------------------------------------------------


class InstanceSuspended(Conflict):
    """409: an operator suspended the instance (``admin`` instance operations); nothing runs until resumed."""

    code = "instance_suspended"


def require_running(instance: ProcessInstance) -> None:
    """Commands run only on running instances: a suspended one refuses (409 ``instance_suspended``), a
    finished or terminated one too (409 ``not_running``)."""
    if instance.status == "suspended":
        raise InstanceSuspended(
            "このケースのプロセスは管理者により一時停止中です / the process is suspended by an administrator"
        )
    if instance.status != "running":
        raise Conflict(
            f"このケースのプロセスは実行中ではありません（{instance.status}） / the process is not running",
            code="not_running",
        )


def _run(command: str, step: Any) -> list[dict[str, Any]]:
    """Run ``step`` collecting service-task side effects; any failure inside the workflow is an EngineFault."""
    from .spiff import collect_side_effects

    with collect_side_effects() as effects:
        try:
            step()
        except Conflict:
            raise
        except Exception as exc:
            raise EngineFault.from_exception(command, exc) from exc
    return list(effects)


def _finish(
    session: TenantSession,
    instance: ProcessInstance,
    workflow: BpmnWorkflow,
    before: _Snapshot,
    timers_before: dict[uuid.UUID, WaitingTimer],
    effects: list[dict[str, Any]],
    *,
    fired: uuid.UUID | None = None,
) -> CommandResult:
    was_running = instance.status == "running"
    after = _snapshot(workflow)
    save(instance, workflow)
    stage = _stage(workflow, after)
    if instance.stage != stage:
        instance.stage = stage
    timers_after = _waiting_timers(workflow)
    started = [t for task_id, t in timers_after.items() if task_id not in timers_before]
    _write_timers(
        session, instance, started, [i for i in timers_before if i not in timers_after and i != fired]
    )
    ended = was_running and instance.status == "completed"
    return CommandResult(
        instance=instance,
        workflow=workflow,
        ready=[_ready_task(t) for task_id, t in after.ready.items() if task_id not in before.ready],
        gone=[task_id for task_id in before.ready if task_id not in after.ready],
        timers=started,
        side_effects=effects,
        stage=stage,
        ended=ended,
        end_event=_end_event(workflow) if ended else "",
    )


def _write_timers(
    session: TenantSession, instance: ProcessInstance, started: list[WaitingTimer], stopped: list[uuid.UUID]
) -> None:
    """Timer rows follow the workflow; written only when they change.

    A timer stops waiting when its boundary's activity finished, an interrupting event took the path away,
    or Spiff fired it itself while running engine steps past its due time: either way beat must not fire it.
    """
    tenant_id = session.require_tenant_id()
    if stopped:
        session.execute(
            update(Timer)
            .where(
                Timer.process_instance_id == instance.id,
                Timer.task_id.in_(stopped),
                Timer.fired_at.is_(None),
                Timer.cancelled_at.is_(None),
            )
            .values(cancelled_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    for timer in started:
        session.add(
            Timer(
                tenant_id=tenant_id,
                process_instance_id=instance.id,
                task_id=timer.task_id,
                element=timer.element,
                due_at=timer.due_at,
            )
        )


def start(
    session: TenantSession,
    deployment: LoadedDeployment,
    process_id: str,
    meeting_process: str,
    data: dict[str, Any],
    *,
    case_id: uuid.UUID | None = None,
    instance_id: uuid.UUID | None = None,
) -> CommandResult:
    workflow = build_workflow(deployment, process_id, meeting_process)
    workflow.data.update(data)
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(data)
    effects = _run("start", workflow.do_engine_steps)
    instance = ProcessInstance(
        tenant_id=session.require_tenant_id(),
        id=instance_id or uuid.uuid4(),
        deployment_id=deployment.id,
        process_id=process_id,
        meeting_process=meeting_process,
        case_id=case_id,
        status="running",
        serialized="",
        stage="",
    )
    session.add(instance)
    result = _finish(session, instance, workflow, _Snapshot({}, set()), {}, effects)
    session.flush()  # the instance row before the rows that refer to it
    return result


def complete_task(
    session: TenantSession, instance: ProcessInstance, task_id: uuid.UUID, data: dict[str, Any]
) -> CommandResult:
    from SpiffWorkflow.exceptions import TaskNotFoundException

    require_running(instance)
    workflow = _load("complete_task", instance)
    try:
        task = workflow.get_task_from_id(task_id)
    except TaskNotFoundException:
        task = None
    if task is None or task.state != TaskState.READY:
        raise Conflict("このタスクは既に完了しています / the task is no longer ready", code="task_not_ready")
    before, timers_before = _snapshot(workflow), _waiting_timers(workflow)

    def step() -> None:
        task.set_data(**data)
        task.run()
        workflow.do_engine_steps()

    effects = _run("complete_task", step)
    return _finish(session, instance, workflow, before, timers_before, effects)


def fire_timer(
    session: TenantSession, instance: ProcessInstance, timer: Timer, now: datetime
) -> CommandResult:
    from .events import fire_timer as spiff_fire_timer

    require_running(instance)
    workflow = _load("fire_timer", instance)
    before, timers_before = _snapshot(workflow), _waiting_timers(workflow)
    effects = _run("fire_timer", lambda: spiff_fire_timer(workflow, timer.task_id, advance=True))
    timer.fired_at = now
    return _finish(session, instance, workflow, before, timers_before, effects, fired=timer.task_id)


def deliver_message(
    session: TenantSession, instance: ProcessInstance, name: str, payload: dict[str, Any]
) -> CommandResult | None:
    """``None`` when nothing in the instance waits for ``name`` (nothing changed)."""
    from .events import deliver_message as spiff_deliver

    require_running(instance)
    workflow = _load("deliver_message", instance)
    before, timers_before = _snapshot(workflow), _waiting_timers(workflow)
    delivered: list[bool] = []
    effects = _run(
        "deliver_message", lambda: delivered.append(spiff_deliver(workflow, name, payload, advance=True))
    )
    if not delivered[0]:
        return None
    return _finish(session, instance, workflow, before, timers_before, effects)
