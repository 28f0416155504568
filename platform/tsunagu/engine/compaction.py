"""Keeping a workflow's state bounded over a case's life (run before every save).

SpiffWorkflow keeps every task it ever ran: each monthly monitoring round adds four tasks to the delivery
subprocess, each re-plan a new delivery subprocess, meeting subprocess and a chain of twenty tasks. Nothing
in the engine reads them again once they are behind the frontier of the process — the case's history is in
the case timeline (``case_event``, one row per step with the form submitted), written in the same
transaction as the step. So before each save the workflow drops, conservatively:

1. **finished subprocesses** — a subprocess whose calling task (call activity, embedded subprocess) is
   finished: its data was copied back to the calling task when it completed (or it was cancelled);
2. **completed links of task chains** — a completed task whose only child is completed too is cut out and
   its child re-parented to its parent. The data of the child is its own (Spiff stores it as a delta from
   whichever parent it has), so nothing read later changes.

What is never removed, because Spiff reads it again: the root of each task tree; the last task of each
workflow (its data is what a subprocess returns); tasks that are not completed, or whose child is not
completed (a predicted or waiting child inherits its parent's data when it becomes ready); any task with
more than one child (splits, boundary events and their attached events); join gateways (parallel,
inclusive, boundary-event and end joins look at their own instances and at their parents to count tokens)
and the parents of joins; the split task a structured join looks for (``find_ancestor``); and tasks that
still own a subprocess. Removing only *interior links of completed chains* keeps every ancestor relation
between the tasks that remain, which is all that loop detection in joins (``is_descendant_of``) uses.

The tests in ``tests/engine/test_compaction.py`` drive loops, parallel joins, boundary timers, messages,
meetings and re-plans through compaction after every command and compare with uncompacted runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.util.subworkflow import BpmnBaseWorkflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.util.task import TaskState


@dataclass
class Compacted:
    subprocesses: int = 0
    tasks: int = 0


def _split_names(workflow: BpmnBaseWorkflow) -> set[str]:
    """Names of task specs a structured join of this workflow looks for among its ancestors."""
    names: set[str] = set()
    for spec in workflow.spec.task_specs.values():
        split = getattr(spec, "split_task", None)
        if isinstance(split, str) and split:
            names.add(split)
    return names


def _finished(task: Any) -> bool:
    return bool(task.state & TaskState.FINISHED_MASK)


def _caller(workflow: BpmnWorkflow, task_id: Any) -> Any:
    try:
        return workflow.get_task_from_id(task_id)
    except TaskNotFoundException:
        return None


def drop_finished_subprocesses(workflow: BpmnWorkflow) -> int:
    """Delete every subprocess whose calling task has finished, and those started inside it."""
    removed = 0
    changed = True
    while changed:  # a subprocess whose caller was in a deleted subprocess goes in the next pass
        changed = False
        for task_id in list(workflow.subprocesses):
            caller = _caller(workflow, task_id)
            if caller is not None and not _finished(caller):
                continue
            for task in workflow.subprocesses.pop(task_id).tasks.values():
                workflow.event_manager.remove_task(task)
            removed += 1
            changed = True
    return removed


def collapse_completed_chains(workflow: BpmnBaseWorkflow, subprocess_owners: set[Any]) -> int:
    """Cut completed tasks out of completed chains in one workflow's task tree. Returns how many went."""
    splits = _split_names(workflow)
    last = workflow.last_task.id if workflow.last_task is not None else None
    tasks = workflow.tasks
    removed = 0
    for task in list(tasks.values()):
        if task.state != TaskState.COMPLETED or task._parent is None or len(task._children) != 1:
            continue
        if task.id == last or task.id in subprocess_owners:
            continue
        spec = task.task_spec
        if isinstance(spec, Join) or spec.name in splits:
            continue
        child = tasks.get(task._children[0])
        parent = tasks.get(task._parent)
        if child is None or parent is None or child.state != TaskState.COMPLETED:
            continue
        if isinstance(child.task_spec, Join):
            continue
        position = parent._children.index(task.id)
        parent._children[position] = child.id
        child._parent = parent.id
        del tasks[task.id]
        removed += 1
    return removed


def compact(workflow: BpmnWorkflow) -> Compacted:
    """Drop finished subprocesses, then collapse completed chains in every workflow left."""
    result = Compacted(subprocesses=drop_finished_subprocesses(workflow))
    owners = set(workflow.subprocesses)
    for wf in [workflow, *workflow.subprocesses.values()]:
        result.tasks += collapse_completed_chains(wf, owners)
    return result
