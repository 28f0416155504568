"""Keeping a workflow's state bounded over a case's life (run before every save).

SpiffWorkflow keeps every task it ever ran: each monthly monitoring round adds four tasks to the delivery
subprocess, each re-plan a new delivery subprocess, meeting subprocess and a chain of twenty tasks. Nothing
in the engine reads them again once they are behind the frontier of the process — the case's history is in
the case timeline (``case_event``, one row per step with the form submitted), written in the same
transaction as the step. So before each save the workflow drops, conservatively:

1. **finished subprocesses** — a subprocess whose calling task (call activity, embedded subprocess) is
   finished: its data was copied back to the calling task when it completed (or it was cancelled);
2. **the leaves of finished boundary structures** — a cancelled task (the boundary timer that did not fire,
   the interrupted activity) or a completed boundary-event join left beside a completed task whose path went
   on through another child;
3. **completed links of task chains** — a completed task whose only child is completed too is cut out and
   its child re-parented to its parent. The data of the child is its own (Spiff stores it as a delta from
   whichever parent it has), so nothing read later changes.

What is never removed, because Spiff reads it again: the root of each task tree; the last task of each
workflow (its data is what a subprocess returns); tasks that are not completed, or whose child is not
completed (a predicted or waiting child inherits its parent's data when it becomes ready); tasks with more
than one child; unstructured joins (parallel, inclusive, end joins count tokens by looking at every instance
of their spec and at their parents, and merge the data of finished ones) and the parents of such joins;
cancelled joins; the split a structured join that has not finished yet looks for (``find_ancestor``: the
boundary-event split of a running activity) and that split's branches; and tasks that still own a
subprocess. Removing only *interior links of completed chains* and finished leaves keeps every ancestor
relation between the tasks that remain, which is all that loop detection in joins (``is_descendant_of``)
uses. A re-plan therefore leaves nothing behind: each plan period starts from the same stored tasks.

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


def _unstructured_join(spec: Any) -> bool:
    """Parallel, inclusive and end joins: they count tokens by looking at every instance of their own spec
    (and merge the data of finished ones that are not their ancestors)."""
    return isinstance(spec, Join) and not getattr(spec, "split_task", None)


def live_splits(workflow: BpmnBaseWorkflow) -> set[Any]:
    """The split task instances that unfinished structured joins (boundary-event joins) will look for: the
    nearest ancestor with the split's name, and the branches below it."""
    live: set[Any] = set()
    for task in workflow.tasks.values():
        split = getattr(task.task_spec, "split_task", None)
        if isinstance(split, str) and split and not _finished(task):
            found = task.find_ancestor(split)
            if found is not None:
                live.add(found.id)
    return live


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


def _finished_boundary_join(task: Any, live: set[Any]) -> bool:
    """A completed structured join (Spiff leaves a boundary-event join as a completed leaf beside the path
    that went on) whose split no unfinished join looks for any more."""
    split = getattr(task.task_spec, "split_task", None)
    if not (isinstance(task.task_spec, Join) and isinstance(split, str) and split):
        return False
    found = task.find_ancestor(split)
    return found is None or found.id not in live


def drop_finished_leaves(workflow: BpmnBaseWorkflow, live: set[Any]) -> int:
    """Remove the leaves a finished boundary structure leaves behind — cancelled tasks (an interrupted
    activity, a boundary event that did not fire) and completed boundary-event joins — from a completed task
    whose path went on through another child, unless a structured join still counts that task's branches.
    Cancelled unstructured joins stay: unstructured joins read them."""
    tasks = workflow.tasks
    last = workflow.last_task.id if workflow.last_task is not None else None
    removed = 0
    for task in list(tasks.values()):
        if task._children or task.id == last:
            continue
        if task.state == TaskState.COMPLETED and not _finished_boundary_join(task, live):
            continue
        if task.state not in (TaskState.CANCELLED, TaskState.COMPLETED):
            continue
        if task.state == TaskState.CANCELLED and isinstance(task.task_spec, Join):
            continue
        parent = tasks.get(task._parent) if task._parent is not None else None
        if parent is None or parent.state != TaskState.COMPLETED or parent.id in live:
            continue
        siblings = [tasks[c] for c in parent._children if c != task.id and c in tasks]
        if not any(sibling.state == TaskState.COMPLETED for sibling in siblings):
            continue
        parent._children.remove(task.id)
        del tasks[task.id]
        removed += 1
    return removed


def collapse_completed_chains(
    workflow: BpmnBaseWorkflow, subprocess_owners: set[Any], live: set[Any] | None = None
) -> int:
    """Cut completed tasks out of completed chains in one workflow's task tree. Returns how many went."""
    live = live_splits(workflow) if live is None else live
    last = workflow.last_task.id if workflow.last_task is not None else None
    tasks = workflow.tasks
    removed = 0
    for task in list(tasks.values()):
        if task.state != TaskState.COMPLETED or task._parent is None or len(task._children) != 1:
            continue
        if task.id == last or task.id in subprocess_owners or task.id in live or task._parent in live:
            continue  # a live split's branches are what its boundary-event join inspects
        if _unstructured_join(task.task_spec):
            continue
        child = tasks.get(task._children[0])
        parent = tasks.get(task._parent)
        if child is None or parent is None or child.state != TaskState.COMPLETED:
            continue
        if _unstructured_join(child.task_spec):
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
        live = live_splits(wf)
        result.tasks += drop_finished_leaves(wf, live)
        result.tasks += collapse_completed_chains(wf, owners, live)
    return result
