"""Compaction before every save keeps a case's state bounded and changes nothing the engine does.

Every test runs the same commands on two copies of a workflow: one kept whole in memory (Spiff as is), one
compacted and stored/restored through the platform's serializer after *every* command, as ``runner.save`` /
``runner.load`` do. Both must offer the same ready tasks, wait for the same timers and messages, carry the
same data and end at the same end event — through loops (monitoring rounds), parallel and inclusive joins in
a loop, the plan-end boundary timer, the meeting and consent messages, and re-plans.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from tests.engine.helpers import fixture_files, round_trip_state
from tests.workflows import samples
from tests.workflows.driver import CaseDriver, FakeClock, decide_meeting, drive_to_delivery, drive_to_meeting
from tsunagu.engine import spiff
from tsunagu.engine.compaction import compact
from tsunagu.engine.serialization import ResolvedSpecs


def _store(workflow: BpmnWorkflow) -> tuple[BpmnWorkflow, int]:
    """Compact, store and restore ``workflow`` (keeping its script engine); returns it and the state size."""
    engine = workflow.script_engine
    compact(workflow)
    state, resolve = round_trip_state(workflow)
    restored = spiff.loads(state, resolve)  # type: ignore[arg-type]
    restored.script_engine = engine
    return restored, len(state.encode("utf-8"))


def _task_count(workflow: BpmnWorkflow) -> int:
    return len(workflow.tasks) + sum(len(sp.tasks) for sp in workflow.subprocesses.values())


def _observable(workflow: BpmnWorkflow) -> dict[str, Any]:
    """What the platform reads from a workflow after a command."""
    from tsunagu.engine.runner import current_stage, end_event_reached, ready_user_tasks

    ready = ready_user_tasks(workflow)
    return {
        "ready": sorted(t.task_spec.bpmn_id for t in ready),
        "ready_data": sorted(json.dumps(t.data, sort_keys=True, default=str) for t in ready),
        "timers": sorted(p.spec_id for p in spiff.waiting_timers(workflow)),
        "messages": sorted(spiff.waiting_messages(workflow)) if hasattr(spiff, "waiting_messages") else [],
        "stage": current_stage(workflow),
        "completed": workflow.is_completed(),
        "end": end_event_reached(workflow) if workflow.is_completed() else "",
        "last_data": json.dumps(
            workflow.last_task.data if workflow.last_task else {}, sort_keys=True, default=str
        ),
    }


class Twin:
    """Two CaseDrivers fed the same commands: ``whole`` never compacted, ``stored`` compacted and
    round-tripped after each command."""

    def __init__(self, clock: FakeClock, **kw: Any) -> None:
        self.whole = CaseDriver(clock=clock, **kw)
        self.stored = CaseDriver(clock=clock, **kw)
        self.sizes: list[int] = []
        self._save()

    def _save(self) -> None:
        self.stored.workflow, size = _store(self.stored.workflow)
        self.sizes.append(size)
        from tsunagu.engine.events import waiting_messages

        a, b = _observable(self.whole.workflow), _observable(self.stored.workflow)
        a["messages"] = sorted(waiting_messages(self.whole.workflow))
        b["messages"] = sorted(waiting_messages(self.stored.workflow))
        assert b == a

    def do(self, action: Callable[[CaseDriver], Any]) -> None:
        action(self.whole)
        action(self.stored)
        self._save()

    def complete(self, element: str, data: dict[str, Any]) -> None:
        self.do(lambda case: case.complete(element, data))

    def ready(self) -> list[str]:
        return self.stored.ready()


def _monitor(twin: Twin, clock: FakeClock, **kw: Any) -> None:
    clock.advance(days=31)
    twin.do(lambda case: case.refresh())
    assert twin.ready() == ["monitoring"]
    twin.complete("monitoring", samples.monitoring(**kw))


def _replan(twin: Twin) -> None:
    """From a ready evaluation: re-plan, back through assessment, plan, meeting and decision to delivery."""
    twin.complete("evaluation", samples.evaluation(evaluation_outcome="replan"))
    assert twin.ready() == ["assessment"]
    twin.complete("assessment", samples.assessment())
    if twin.ready() == ["emergency"]:
        twin.complete("emergency", samples.emergency_support())
    twin.complete("plan_draft", samples.plan(end_in_days=3000))
    twin.do(lambda case: decide_meeting(case, "approve"))
    if twin.ready() == ["support_decision"]:
        twin.complete("support_decision", samples.support_decision())
    else:
        twin.complete("support_confirmation", samples.support_confirmation())
    if twin.ready() == ["delivery_start"]:
        twin.complete("delivery_start", samples.progress_record())


def _to_delivery(twin: Twin, **kw: Any) -> None:
    twin.do(lambda case: drive_to_delivery(case, plan={"end_in_days": 3000, **kw}))


def test_monitoring_rounds_keep_the_state_flat_and_behave_as_uncompacted() -> None:
    with FakeClock() as clock:
        twin = Twin(clock, meeting="meeting_hybrid")
        _to_delivery(twin)
        _monitor(twin, clock)
        after_first, tasks_first = twin.sizes[-1], _task_count(twin.stored.workflow)
        for _ in range(35):
            _monitor(twin, clock)
        assert _task_count(twin.whole.workflow) > tasks_first + 4 * 35  # Spiff alone keeps every round
        assert _task_count(twin.stored.workflow) <= tasks_first + 2
        assert twin.sizes[-1] <= after_first * 1.1
        # The timer of the 37th round waits with its due time intact.
        due = [(p.spec_id, p.due_at) for p in spiff.waiting_timers(twin.stored.workflow)]
        assert due == [(p.spec_id, p.due_at) for p in spiff.waiting_timers(twin.whole.workflow)]
        assert all(at is not None for _, at in due)


def test_plan_end_boundary_timer_interrupts_a_compacted_delivery_loop() -> None:
    with FakeClock() as clock:
        twin = Twin(clock, meeting="meeting_scheduled")
        twin.do(lambda case: drive_to_delivery(case, plan={"end_in_days": 100}))
        for _ in range(3):
            _monitor(twin, clock)
        clock.advance(days=20)  # past plan_end_date: the interrupting boundary timer fires
        twin.do(lambda case: case.refresh())
        assert twin.ready() == ["evaluation"]
        assert not twin.stored.workflow.subprocesses  # the interrupted delivery subprocess was dropped
        twin.complete("evaluation", samples.evaluation(evaluation_outcome="close", follow_up=False))
        assert _observable(twin.stored.workflow)["end"] == "end_closed"


def test_two_replans_drop_finished_meetings_and_deliveries_and_reach_the_end() -> None:
    with FakeClock() as clock:
        twin = Twin(clock, meeting="meeting_hybrid")
        _to_delivery(twin)
        flat: list[int] = []
        for plan_period in range(3):
            _monitor(twin, clock)
            flat.append(_task_count(twin.stored.workflow))
            for _ in range(10):
                _monitor(twin, clock)
            _monitor(twin, clock, request_early_evaluation=True)
            assert twin.ready() == ["evaluation"]
            if plan_period < 2:
                _replan(twin)
                # Only the running delivery subprocess is kept; the meetings and earlier deliveries went.
                assert len(twin.stored.workflow.subprocesses) == 1
                assert len(twin.whole.workflow.subprocesses) == 2 * (plan_period + 2)
        # Each plan period starts from the same number of stored tasks: nothing of the earlier ones is kept.
        assert flat == [flat[0]] * 3, flat
        twin.complete("evaluation", samples.evaluation(evaluation_outcome="close", follow_up=False))
        assert twin.stored.workflow.is_completed()
        assert _observable(twin.stored.workflow)["end"] == "end_closed"
        # Three plan periods of 12 rounds and two re-plans: still about the size of the first period.
        assert max(twin.sizes) <= 1.5 * twin.sizes[len(twin.sizes) // 6]


@pytest.mark.parametrize("meeting", ["meeting_scheduled", "meeting_adhoc", "meeting_hybrid"])
def test_meeting_decided_message_reaches_a_compacted_meeting(meeting: str) -> None:
    with FakeClock() as clock:
        twin = Twin(clock, meeting=meeting)
        twin.do(lambda case: drive_to_meeting(case, plan={"end_in_days": 3000}))
        twin.do(lambda case: decide_meeting(case, "revise"))
        assert twin.ready() == ["plan_draft"]
        twin.complete("plan_draft", samples.plan(end_in_days=3000))
        twin.do(lambda case: decide_meeting(case, "approve"))
        assert twin.ready() in (["support_decision"], ["support_confirmation"])


def test_consent_withdrawn_after_many_compacted_rounds_ends_the_case() -> None:
    with FakeClock() as clock:
        twin = Twin(clock, meeting="meeting_scheduled")
        _to_delivery(twin)
        for _ in range(12):
            _monitor(twin, clock)
        twin.do(lambda case: case.send_message("consent_withdrawn", {"reason": "本人の申出"}))
        assert twin.stored.workflow.is_completed()
        assert _observable(twin.stored.workflow)["end"] == "end_withdrawn"
        assert spiff.waiting_timers(twin.stored.workflow) == []


def _loopjoin() -> tuple[BpmnWorkflow, BpmnWorkflow]:
    loaded = spiff.load_definitions(fixture_files("loopjoin"))
    spec, subs = spiff.resolve_specs(loaded, "loopjoin", {})
    made = []
    for _ in range(2):
        workflow = spiff.new_workflow(spec, subs)
        start = workflow.get_tasks(state=TaskState.READY)[0]
        start.set_data(rounds_left=6, want_c=False, want_d=False)
        workflow.do_engine_steps()
        made.append(workflow)
    return made[0], made[1]


def _run(workflow: BpmnWorkflow, element: str, **data: Any) -> BpmnWorkflow:
    (task,) = [
        t for t in workflow.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == element
    ]
    task.set_data(**data)
    task.run()
    workflow.do_engine_steps()
    return workflow


def _ready(workflow: BpmnWorkflow) -> list[str]:
    return sorted(t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY, manual=True))


def test_parallel_and_inclusive_joins_in_a_loop_wait_for_every_branch_after_compaction() -> None:
    whole, stored = _loopjoin()
    stored, _ = _store(stored)
    sizes = []
    for round_no in range(6):
        want_c, want_d = round_no % 2 == 0, round_no % 3 == 0
        for workflow_name in ("whole", "stored"):
            wf = whole if workflow_name == "whole" else stored
            assert _ready(wf) == ["a", "b"], (round_no, workflow_name)
        # One branch done, then a step in the other: the parallel join must still wait for that branch.
        whole, stored = _run(whole, "b"), _run(stored, "b")
        stored, _ = _store(stored)
        assert _ready(whole) == _ready(stored) == ["a"]
        whole, stored = _run(whole, "a"), _run(stored, "a")
        stored, _ = _store(stored)
        assert _ready(whole) == _ready(stored) == ["a2"]
        whole = _run(whole, "a2", want_c=want_c, want_d=want_d, rounds_left=5 - round_no)
        stored = _run(stored, "a2", want_c=want_c, want_d=want_d, rounds_left=5 - round_no)
        stored, size = _store(stored)
        expected = sorted([x for x, on in (("c", want_c), ("d", want_d)) if on])
        if expected:
            assert _ready(whole) == _ready(stored) == expected
            for element in expected:  # the inclusive join waits for each chosen branch
                whole, stored = _run(whole, element), _run(stored, element)
                stored, size = _store(stored)
        sizes.append(size)
        assert stored.last_task.data == whole.last_task.data
    assert whole.is_completed() and stored.is_completed()
    assert stored.data == whole.data
    assert len(stored.tasks) < len(whole.tasks)


def test_compaction_never_touches_the_shared_specs() -> None:
    """Specs are shared by every workflow restored from the cache: running and compacting cases leaves them
    exactly as parsed."""
    registry = spiff.full_serializer().registry
    with FakeClock() as clock:
        twin = Twin(clock, meeting="meeting_hybrid")
        specs = ResolvedSpecs.of(twin.stored.workflow.spec, twin.stored.workflow.subprocess_specs)
        before = json.dumps(
            [
                registry.convert(specs.spec),
                {k: registry.convert(v) for k, v in specs.subprocess_specs.items()},
            ],
            sort_keys=True,
            default=str,
        )
        _to_delivery(twin)
        for _ in range(3):
            _monitor(twin, clock)
        _monitor(twin, clock, request_early_evaluation=True)
        _replan(twin)
        after = json.dumps(
            [
                registry.convert(specs.spec),
                {k: registry.convert(v) for k, v in specs.subprocess_specs.items()},
            ],
            sort_keys=True,
            default=str,
        )
        assert after == before


def _pair(name: str) -> tuple[BpmnWorkflow, BpmnWorkflow]:
    loaded = spiff.load_definitions(fixture_files(name))
    spec, subs = spiff.resolve_specs(loaded, name, {})
    made = []
    for _ in range(2):
        workflow = spiff.new_workflow(spec, subs)
        workflow.do_engine_steps()
        made.append(workflow)
    return made[0], made[1]


def _fire(workflow: BpmnWorkflow, element: str) -> None:
    (pending,) = [p for p in spiff.waiting_timers(workflow) if p.spec_id == element]
    assert spiff.fire_timer(workflow, pending.task_id)


def test_a_non_interrupting_boundary_branch_runs_on_beside_its_activity_after_compaction() -> None:
    whole, stored = _pair("reminder")
    stored, _ = _store(stored)
    for wf in (whole, stored):
        _fire(wf, "remind")  # the reminder branch starts; the activity stays ready
    stored, _ = _store(stored)
    assert _ready(whole) == _ready(stored) == ["note", "work"]
    whole, stored = _run(whole, "note"), _run(stored, "note")
    stored, _ = _store(stored)
    assert _ready(whole) == _ready(stored) == ["work"]  # the boundary structure still waits for its activity
    whole, stored = _run(whole, "work"), _run(stored, "work")
    stored, _ = _store(stored)
    assert _ready(whole) == _ready(stored) == ["close"]
    assert spiff.waiting_timers(stored) == []
    whole, stored = _run(whole, "close"), _run(stored, "close")
    stored, _ = _store(stored)
    assert whole.is_completed() and stored.is_completed()
