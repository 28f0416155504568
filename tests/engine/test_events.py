"""Timers and messages on SpiffWorkflow 3.2 workflows, fired at controlled times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from tests.engine.helpers import round_trip
from tests.engine.test_spiff import complete, ready, start
from tsunagu.engine import spiff
from tsunagu.engine.events import waiting_messages


def _to_monitoring_wait(interval: str = "P30D") -> tuple[BpmnWorkflow, datetime]:
    workflow = start("support")
    complete(workflow, ready(workflow)[0], score=4, flags=[], client_name="x", monitoring_interval=interval)
    before = datetime.now(UTC)
    with spiff.collect_side_effects():
        spiff.deliver_message(workflow, "meeting_decided", {"decision": "approve"})
    return workflow, before


def test_duration_timer_due_at_is_stored_when_it_starts_waiting() -> None:
    workflow, before = _to_monitoring_wait("P30D")
    (pending,) = spiff.waiting_timers(workflow)
    assert pending.due_at is not None
    assert before + timedelta(days=30) <= pending.due_at <= datetime.now(UTC) + timedelta(days=30)
    task = workflow.get_task_from_id(pending.task_id)
    assert spiff.timer_due_at(task) == pending.due_at


def test_due_at_survives_serialization() -> None:
    workflow, _ = _to_monitoring_wait("PT2H")
    restored = round_trip(workflow)
    assert spiff.waiting_timers(restored) == spiff.waiting_timers(workflow)


def test_timer_does_not_fire_before_it_is_due() -> None:
    workflow, _ = _to_monitoring_wait("P30D")
    workflow.refresh_timers()
    workflow.do_engine_steps()
    assert ready(workflow) == []


def test_fire_timer_fires_regardless_of_the_wall_clock_and_only_once() -> None:
    workflow, _ = _to_monitoring_wait("P1Y")
    (pending,) = spiff.waiting_timers(workflow)
    with spiff.collect_side_effects():
        assert spiff.fire_timer(workflow, pending.task_id) is True
        assert spiff.fire_timer(workflow, pending.task_id) is False
        assert spiff.fire_timer(workflow, "not-a-uuid") is False
    assert [t.task_spec.bpmn_id for t in ready(workflow)] == ["review"]


def _waiting_for_consent(deadline: str) -> BpmnWorkflow:
    workflow = start("deadline")
    assert waiting_messages(workflow) == {"consent_changed"}
    # The boundary timer's expression is evaluated when the user task becomes ready, so the deadline
    # must already be in the task data by then (a missing variable is a workflow error).
    workflow.get_tasks(state=TaskState.WAITING)[0].data["deadline"] = deadline
    return workflow


def test_boundary_time_date_timer_interrupts_the_user_task() -> None:
    workflow = _waiting_for_consent("2030-04-01T17:00:00+09:00")
    with spiff.collect_side_effects():
        assert spiff.deliver_message(workflow, "consent_changed", {"consent": True}) is True
    (respond,) = ready(workflow)
    assert respond.data["consent"] == {"consent": True}
    (pending,) = spiff.waiting_timers(workflow)
    assert pending.spec_id == "respond_deadline"
    assert pending.due_at == datetime(2030, 4, 1, 8, 0, tzinfo=UTC)

    with spiff.collect_side_effects():
        assert spiff.fire_timer(workflow, pending.task_id)
    assert [t.task_spec.bpmn_id for t in ready(workflow)] == ["escalate"]


def test_boundary_timer_in_the_past_fires_on_the_next_engine_step() -> None:
    workflow = _waiting_for_consent("2020-01-01T00:00:00+09:00")
    with spiff.collect_side_effects():
        spiff.deliver_message(workflow, "consent_changed", {})
    assert [t.task_spec.bpmn_id for t in ready(workflow)] == ["escalate"]


def test_completing_the_task_cancels_its_boundary_timer() -> None:
    workflow = _waiting_for_consent("2030-04-01T17:00:00+09:00")
    with spiff.collect_side_effects():
        spiff.deliver_message(workflow, "consent_changed", {})
    (pending,) = spiff.waiting_timers(workflow)
    complete(workflow, ready(workflow)[0])
    assert workflow.is_completed()
    assert spiff.waiting_timers(workflow) == []
    assert spiff.fire_timer(workflow, pending.task_id) is False


def test_message_is_not_caught_twice() -> None:
    workflow = _waiting_for_consent("2030-04-01T17:00:00+09:00")
    with spiff.collect_side_effects():
        assert spiff.deliver_message(workflow, "consent_changed", {}) is True
        assert spiff.deliver_message(workflow, "consent_changed", {}) is False
