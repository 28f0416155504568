"""Moving a running instance to another deployed version, with SpiffWorkflow 3's own migration support.

SpiffWorkflow aligns the task specs of two versions of a process (``SpecDiff``: by BPMN id first, then by
structure), maps an instance's tasks onto the new specs (``WorkflowDiff``) and re-predicts the branches of its
ready and waiting tasks (``migrate_workflow``). What it does not decide is *whether* an instance should move;
that is the policy here, the same for the dry run and the run (:func:`check`):

* the instance must be running or suspended, and the target a different deployment holding its process;
* a task that is active now (ready, waiting, started) must still exist in the new version (``removed``) and
  must not have changed in what it is — its type, name, lane, form, timer or message (``changed``; edges to
  new successors are not a change of the task, re-predicting them is what the migration does);
* every task the instance still holds must resolve in the new version: the migrated state is written with a
  reference to the new deployment and read back (a real round trip, not an estimate), and the ready user
  tasks after must be the ones before — so the inbox and the case need no other change.

The dry run runs all of this on a throwaway copy of the workflow; :func:`migrate` runs it on the locked row
and saves it like any other command (``runner._finish``: stage, timers, the result the caller applies).
A waiting timer keeps its due time: its task's internal data is restored after Spiff re-predicted it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, migrate_workflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from ..core.errors import Conflict
from ..core.session import TenantSession
from .definitions import LoadedDeployment, load_deployment
from .models import Deployment, ProcessInstance
from .runner import CommandResult, _finish, _load, _snapshot, _waiting_timers, load, spec_ref

#: attributes of an active task's spec whose change does not block a move (its edges are re-predicted)
_IGNORED_CHANGES = frozenset({"inputs", "outputs", "documentation", "description"})
_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
MOVABLE_STATUSES = ("running", "suspended")


@dataclass
class Reason:
    """Why an instance cannot move (``code``: ``not_running`` | ``same_version`` | ``process_missing`` |
    ``task_removed`` | ``task_replaced`` | ``task_changed`` | ``subprocess_removed`` | ``state_mismatch``)."""

    code: str
    message: str
    element: str = ""
    element_name: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "message": self.message,
            "element": self.element,
            "element_name": self.element_name,
        }


@dataclass
class Check:
    """The dry run's answer for one instance."""

    instance_id: uuid.UUID
    instance_version: int
    from_deployment: uuid.UUID
    to_deployment: uuid.UUID
    reasons: list[Reason] = field(default_factory=list)
    #: element ids of the tasks that are active now
    active: list[str] = field(default_factory=list)

    @property
    def movable(self) -> bool:
        return not self.reasons


@dataclass
class _Plan:
    workflow: BpmnWorkflow
    check: Check


def _name(spec: Any) -> str:
    return str(getattr(spec, "bpmn_name", None) or "")


def _element(spec: Any) -> str:
    return str(getattr(spec, "bpmn_id", None) or getattr(spec, "name", "") or "")


def _registry() -> Any:
    from .spiff import full_serializer

    return full_serializer().registry


def _target_specs(target: LoadedDeployment, instance: ProcessInstance) -> tuple[Any, dict[str, Any]] | None:
    from .errors import DefinitionError
    from .spiff import resolve_specs

    try:
        return resolve_specs(target.bundle, instance.process_id, {"meeting": instance.meeting_process})
    except DefinitionError:
        return None


def _review(check: Check, diff: WorkflowDiff, spec_diff: SpecDiff, where: str) -> None:
    """Add the reasons the tasks of one (sub)workflow give against moving."""
    changed = spec_diff.changed
    for task in diff.removed:
        if task.has_state(_ACTIVE):
            check.reasons.append(
                Reason(
                    "task_removed",
                    f"現在のステップ「{_name(task.task_spec) or _element(task.task_spec)}」が新しい版にありません"
                    f" / the current step '{_element(task.task_spec)}' was removed{where}",
                    _element(task.task_spec),
                    _name(task.task_spec),
                )
            )
        else:
            check.reasons.append(
                Reason(
                    "task_removed",
                    f"通過済みまたは予定のステップ「{_name(task.task_spec) or _element(task.task_spec)}」が"
                    f"新しい版にありません / the step '{_element(task.task_spec)}' the instance still holds "
                    f"was removed{where}",
                    _element(task.task_spec),
                    _name(task.task_spec),
                )
            )
    for task in diff.changed:
        if not task.has_state(_ACTIVE):
            continue
        keys = sorted(set(changed.get(task.task_spec, [])) - _IGNORED_CHANGES)
        new = diff.alignment.get(task)
        if new is not None and new.name != task.task_spec.name:
            # Spiff aligned it by its place in the flow with a step of another id: the step was replaced
            check.reasons.append(
                Reason(
                    "task_replaced",
                    f"現在のステップ「{_name(task.task_spec) or _element(task.task_spec)}」は新しい版で"
                    f"「{_name(new) or _element(new)}」に置き換えられています / the current step "
                    f"'{_element(task.task_spec)}' was replaced by '{_element(new)}'{where}",
                    _element(task.task_spec),
                    _name(task.task_spec),
                )
            )
        elif keys:
            check.reasons.append(
                Reason(
                    "task_changed",
                    f"現在のステップ「{_name(task.task_spec) or _element(task.task_spec)}」が変更されています"
                    f"（{', '.join(keys)}） / the current step '{_element(task.task_spec)}' changed"
                    f" ({', '.join(keys)}){where}",
                    _element(task.task_spec),
                    _name(task.task_spec),
                )
            )


def _plan(session: TenantSession, instance: ProcessInstance, target: Deployment) -> _Plan | Check:
    """Migrate a fresh copy of the instance's workflow; the copy and the check, or the check alone when the
    instance cannot move (nothing was changed)."""
    check = Check(instance.id, instance.version, instance.deployment_id, target.id)
    if instance.status not in MOVABLE_STATUSES:
        check.reasons.append(
            Reason(
                "not_running",
                f"実行中ではありません（{instance.status}） / the instance is {instance.status}",
            )
        )
        return check
    if target.id == instance.deployment_id:
        check.reasons.append(Reason("same_version", "既にこの版で動いています / already on this version"))
        return check
    loaded = load_deployment(session, target.id)
    specs = _target_specs(loaded, instance)
    if specs is None:
        check.reasons.append(
            Reason(
                "process_missing",
                f"新しい版にプロセス {instance.process_id} がありません / version {loaded.version} lacks "
                f"process '{instance.process_id}'",
            )
        )
        return check
    new_spec, new_subprocess_specs = specs
    try:
        workflow = load(instance)
    except Exception as exc:  # a state that no longer loads: an incident's business, not a migration's
        check.reasons.append(
            Reason("state_mismatch", f"状態を読み込めません / the state does not load: {type(exc).__name__}")
        )
        return check
    check.active = sorted(
        {_element(t.task_spec) for t in workflow.get_tasks(state=_ACTIVE) if t.task_spec.bpmn_id}
    )
    registry = _registry()
    top_spec_diff = SpecDiff(registry, workflow.spec, new_spec)
    top_diff = WorkflowDiff(workflow, top_spec_diff)
    _review(check, top_diff, top_spec_diff, "")
    sub_diffs: list[tuple[Any, WorkflowDiff, Any]] = []
    old_names = {id(spec): name for name, spec in workflow.subprocess_specs.items()}
    for sub in workflow.subprocesses.values():
        name = old_names.get(id(sub.spec), sub.spec.name)
        new_sub_spec = new_subprocess_specs.get(name)
        if new_sub_spec is None:
            check.reasons.append(
                Reason(
                    "subprocess_removed",
                    f"実行中のサブプロセス {name} が新しい版にありません / the running subprocess '{name}' "
                    "is not in the new version",
                    name,
                )
            )
            continue
        sub_spec_diff = SpecDiff(registry, sub.spec, new_sub_spec)
        sub_diff = WorkflowDiff(sub, sub_spec_diff)
        _review(check, sub_diff, sub_spec_diff, f" (in {name})")
        sub_diffs.append((sub, sub_diff, new_sub_spec))
    if check.reasons:
        return check
    ready_before = {t.id: _element(t.task_spec) for t in _snapshot(workflow).ready.values()}
    _apply(workflow, top_diff, new_spec, new_subprocess_specs, sub_diffs)
    reason = _round_trip(session, instance, workflow, target.id, ready_before)
    if reason is not None:
        check.reasons.append(reason)
        return check
    return _Plan(workflow, check)


def _apply(
    workflow: BpmnWorkflow,
    top_diff: WorkflowDiff,
    new_spec: Any,
    new_subprocess_specs: Mapping[str, Any],
    sub_diffs: list[tuple[Any, WorkflowDiff, Any]],
) -> None:
    kept = {t.id: (t.state, dict(t.internal_data), t.data) for t in workflow.get_tasks(state=_ACTIVE)}
    workflow.subprocess_specs = dict(new_subprocess_specs)
    migrate_workflow(top_diff, workflow, new_spec)
    for sub, diff, spec in sub_diffs:
        migrate_workflow(diff, sub, spec)
    # Spiff re-predicted the active tasks' branches and reset their data; keep what they held (a waiting
    # timer's due time, the data a ready task started with).
    for task_id, (state, internal, data) in kept.items():
        task = workflow.get_task_from_id(task_id) if task_id in workflow.tasks else None
        if task is None:
            for sub in workflow.subprocesses.values():
                if task_id in sub.tasks:
                    task = sub.tasks[task_id]
                    break
        if task is not None and task.state == state:
            task.internal_data = internal
            task.data = data


def _round_trip(
    session: TenantSession,
    instance: ProcessInstance,
    workflow: BpmnWorkflow,
    target_id: uuid.UUID,
    ready_before: dict[uuid.UUID, str],
) -> Reason | None:
    from .serialization import SpecRef, resolver_for
    from .spiff import dumps, loads

    ref = SpecRef.of(target_id, instance.process_id, {"meeting": instance.meeting_process})
    try:
        restored = loads(dumps(workflow, ref), resolver_for(session))
    except Exception as exc:  # a task whose spec the new version lacks: Spiff cannot read the state back
        return Reason(
            "state_mismatch",
            f"新しい版では状態を復元できません / the state does not load on the new version: "
            f"{type(exc).__name__}: {exc}"[:500],
        )
    ready_after = {t.id: _element(t.task_spec) for t in _snapshot(restored).ready.values()}
    if ready_after != ready_before:
        return Reason(
            "state_mismatch",
            "移行すると作業中のタスクが変わります / the ready tasks would change: "
            f"{sorted(ready_before.values())} → {sorted(ready_after.values())}",
        )
    return None


def check(session: TenantSession, instance: ProcessInstance, target: Deployment) -> Check:
    """The dry run for one instance: whether it can move to ``target`` and why not. Changes nothing."""
    planned = _plan(session, instance, target)
    return planned.check if isinstance(planned, _Plan) else planned


class MigrationRefused(Conflict):
    """409: the instance cannot move (the reasons are in ``details``), or it changed since the dry run."""

    code = "migration_refused"


def migrate(
    session: TenantSession,
    instance: ProcessInstance,
    target: Deployment,
    *,
    expected_version: int | None = None,
) -> CommandResult:
    """Move the (locked) instance to ``target``; the result is applied by the caller like any command's.

    ``expected_version`` is the instance version the dry run saw: a command that ran since then may have
    moved the instance to a step that cannot move, so a different version is refused (409), not re-checked
    silently.
    """
    if expected_version is not None and instance.version != expected_version:
        raise MigrationRefused(
            "ドライラン後にインスタンスが変わりました。もう一度ドライランしてください"
            " / the instance changed since the dry run; run it again",
            code="changed_since_dry_run",
            details={"expected_version": expected_version, "version": instance.version},
        )
    planned = _plan(session, instance, target)
    if not isinstance(planned, _Plan):
        raise MigrationRefused(
            "この版には移行できません / the instance cannot move to this version",
            details={"reasons": [r.as_dict() for r in planned.reasons]},
        )
    # the state as stored, for the timers and tasks "before"; then the migrated copy is what is saved
    before_workflow = _load("migrate", instance)
    before, timers_before = _snapshot(before_workflow), _waiting_timers(before_workflow)
    instance.deployment_id = target.id
    assert spec_ref(instance).deployment_id == target.id
    return _finish(session, instance, planned.workflow, before, timers_before, [])


@dataclass
class VersionDiff:
    """What changed in one process between two deployments (element ids and names)."""

    process_id: str
    added: list[dict[str, str]]
    removed: list[dict[str, str]]
    changed: list[dict[str, Any]]


def _label(spec: Any) -> dict[str, str]:
    return {"element": _element(spec), "name": _name(spec)}


def diff_versions(
    session: TenantSession, from_deployment: Deployment, to_deployment: Deployment, process_id: str
) -> VersionDiff:
    """Spiff's ``SpecDiff`` of ``process_id`` between two deployments (the BPMN elements only: Spiff's own
    helper specs, start/end markers, are left out)."""
    from .errors import DefinitionError
    from .spiff import resolve_specs

    specs = []
    for row in (from_deployment, to_deployment):
        loaded = load_deployment(session, row.id)
        try:
            specs.append(resolve_specs(loaded.bundle, process_id)[0])
        except DefinitionError:
            raise Conflict(
                f"版 {row.version} にプロセス {process_id} がありません / version {row.version} lacks "
                f"process '{process_id}'",
                code="process_missing",
            ) from None
    diff = SpecDiff(_registry(), specs[0], specs[1])
    old, new = specs[0].task_specs, specs[1].task_specs
    # by id, as people read a diagram: a step Spiff aligned by its place in the flow with a step of another
    # id is one removed and one added (the dry run reports it as replaced)
    return VersionDiff(
        process_id=process_id,
        added=[_label(s) for n, s in new.items() if n not in old and getattr(s, "bpmn_id", None)],
        removed=[_label(s) for n, s in old.items() if n not in new and getattr(s, "bpmn_id", None)],
        changed=[
            {**_label(s), "attributes": sorted(set(keys) - _IGNORED_CHANGES)}
            for s, keys in diff.changed.items()
            if getattr(s, "bpmn_id", None) and s.name in new and set(keys) - _IGNORED_CHANGES
        ],
    )
