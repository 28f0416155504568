"""Timers and messages on a SpiffWorkflow 3.2 ``BpmnWorkflow``.

Timers. When a timer event (intermediate catch, boundary or start-of-subprocess) becomes WAITING, Spiff
evaluates its expression once through the script engine and stores the result in the task's internal data
under ``event_value``: for ``timeDate`` the evaluated ISO datetime string, for ``timeDuration`` the
*absolute* due time (``now + duration``, ISO string), for ``timeCycle`` a dict with ``next``. Spiff fires a
timer itself whenever ``do_engine_steps()``/``refresh_timers()`` run after the wall clock passed that time.
``timer_due_at`` reads the stored value (for the ``timer`` table); ``fire_timer`` fires one now regardless of
the clock by setting the ``event_fired`` flag that ``has_fired`` returns.

Messages. A waiting message catcher (intermediate catch event, boundary event, receive task, event-based
gateway branch) registers in ``workflow.event_manager``. ``deliver_message`` builds a ``BpmnEvent`` with the
waiting task's own ``MessageEventDefinition`` (Spiff matches by class and name) and lets the event manager
catch it. The payload lands in ``task.data[messageVariable]`` (``spiffworkflow:messageVariable``) — without a
message variable Spiff keeps the payload out of task data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PendingTimer:
    task_id: UUID
    spec_id: str
    due_at: datetime | None


def _timer_definition(task: Task) -> TimerEventDefinition | None:
    definition = getattr(task.task_spec, "event_definition", None)
    return definition if isinstance(definition, TimerEventDefinition) else None


def timer_due_at(task: Task) -> datetime | None:
    """When a waiting timer task is due (aware UTC datetime), or None if not a timer / not yet evaluated."""
    definition = _timer_definition(task)
    value = task._get_internal_data("event_value") if definition is not None else None
    if value is None:
        return None
    try:
        if isinstance(definition, CycleTimerEventDefinition):
            if not isinstance(value, Mapping) or value.get("cycles") == 0:
                return None
            return datetime.fromisoformat(value["next"]).astimezone(UTC)
        if isinstance(definition, TimeDateEventDefinition):
            parsed = TimerEventDefinition.parse_time_or_duration(value)
            return parsed if isinstance(parsed, datetime) else None
        if isinstance(definition, DurationTimerEventDefinition):
            return TimerEventDefinition.get_datetime(value)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return None


def _event_tasks(workflow: BpmnWorkflow) -> Iterator[Task]:
    # The top workflow's event manager holds the waiting catchers of every subprocess too.
    return iter(list(workflow.event_manager.tasks.values()))


def waiting_timers(workflow: BpmnWorkflow) -> list[PendingTimer]:
    """Every waiting timer in the workflow (subprocesses included) with its due time."""
    return [
        PendingTimer(task.id, task.task_spec.bpmn_id or task.task_spec.name, timer_due_at(task))
        for task in _event_tasks(workflow)
        if _timer_definition(task) is not None and task.state == TaskState.WAITING
    ]


def fire_timer(workflow: BpmnWorkflow, task_id: UUID | str, *, advance: bool = True) -> bool:
    """Fire the waiting timer ``task_id`` now, whatever the wall clock says. False if it is not waiting
    (already fired, cancelled, or not a timer) — so a timer row drained twice is harmless."""
    try:
        task = workflow.get_task_from_id(UUID(str(task_id)))
    except (TaskNotFoundException, ValueError):
        return False
    definition = _timer_definition(task)
    if definition is None or task.state != TaskState.WAITING:
        return False
    if isinstance(definition, CycleTimerEventDefinition):
        value = task._get_internal_data("event_value")
        if isinstance(value, dict):
            value["next"] = _EPOCH.isoformat()
            task._set_internal_data(event_value=value)
    else:
        task._set_internal_data(event_fired=True)
    task.task_spec._update(task)
    if advance:
        workflow.do_engine_steps()
    return True


def _message_definitions(definition: Any) -> Iterator[Any]:
    if isinstance(definition, MessageEventDefinition):
        yield definition
    for child in getattr(definition, "event_definitions", None) or ():  # event-based gateway / multiple
        yield from _message_definitions(child)


def waiting_messages(workflow: BpmnWorkflow) -> set[str]:
    """Names of the messages the workflow is currently waiting for."""
    return {
        definition.name
        for task in _event_tasks(workflow)
        for definition in _message_definitions(getattr(task.task_spec, "event_definition", None))
    }


def deliver_message(
    workflow: BpmnWorkflow,
    name: str,
    payload: Any = None,
    *,
    correlations: Mapping[str, Any] | None = None,
    advance: bool = True,
) -> bool:
    """Deliver message ``name`` to whatever in ``workflow`` waits for it. False when nothing waits.

    ``payload`` should be JSON (a dict when the message has correlation properties). With ``advance`` the
    workflow runs its engine steps afterwards (call it inside ``collect_side_effects``).
    """
    for task in _event_tasks(workflow):
        for definition in _message_definitions(getattr(task.task_spec, "event_definition", None)):
            if definition.name != name:
                continue
            event = BpmnEvent(definition, payload=payload, correlations=dict(correlations or {}))
            if workflow.event_manager.catch(event, internal=False) > 0:
                if advance:
                    workflow.do_engine_steps()
                return True
    return False
