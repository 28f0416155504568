"""SpiffWorkflow integration, in memory: safe engine, parser, aliases, DMN and the serializer."""

from __future__ import annotations

from typing import Any

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from tests.engine.helpers import bundle, fixture_files, process, round_trip, round_trip_state
from tsunagu.engine import spiff
from tsunagu.engine.errors import DefinitionError


def start(name: str, process_id: str | None = None, **aliases: str) -> BpmnWorkflow:
    loaded = spiff.load_definitions(fixture_files(name))
    spec, subprocess_specs = spiff.resolve_specs(loaded, process_id or name, aliases or None)
    workflow = spiff.new_workflow(spec, subprocess_specs)
    with spiff.collect_side_effects():
        workflow.do_engine_steps()
    return workflow


def ready(workflow: BpmnWorkflow) -> list[Task]:
    return list(workflow.get_tasks(state=TaskState.READY, manual=True))


def complete(workflow: BpmnWorkflow, task: Task, **data: Any) -> list[dict[str, Any]]:
    task.set_data(**data)
    with spiff.collect_side_effects() as effects:
        task.run()
        workflow.do_engine_steps()
    return effects


def test_support_process_runs_end_to_end_with_the_safe_engine() -> None:
    workflow = start("support")
    (intake,) = ready(workflow)
    assert (intake.task_spec.bpmn_id, intake.task_spec.lane) == ("intake", "相談支援員")
    assert intake.task_spec.extensions["properties"]["formKey"] == "intake"

    effects = complete(workflow, intake, score=4, flags=[], client_name="山田", monitoring_interval="P30D")
    # The service task queued its side effect instead of running anything.
    assert effects == [
        {
            "operation": "schedule_meeting",
            "params": {"scope": "adhoc", "purpose": "支援計画の検討: 山田"},
            "task_id": effects[0]["task_id"],
            "task_spec": "request_meeting",
        }
    ]
    assert workflow.data == {} or "meeting_request" not in workflow.data
    waiting = workflow.get_tasks(state=TaskState.WAITING)
    assert [t.task_spec.bpmn_id for t in waiting] == ["meeting_decided"]

    assert spiff.deliver_message(workflow, "nobody_waits_for_this", {}) is False
    with spiff.collect_side_effects():
        assert spiff.deliver_message(workflow, "meeting_decided", {"decision": "approve"}) is True
    (timer,) = spiff.waiting_timers(workflow)
    assert timer.spec_id == "monitoring_wait"
    assert ready(workflow) == []

    with spiff.collect_side_effects():
        assert spiff.fire_timer(workflow, timer.task_id) is True
    (review,) = ready(workflow)
    assert review.task_spec.bpmn_id == "review"
    assert review.data["decision"] == {"decision": "approve"}
    assert review.data["meeting_request"] == {"queued": True, "operation": "schedule_meeting"}
    complete(workflow, review, notes="順調")
    assert workflow.is_completed()


def test_gateway_default_path_skips_the_meeting() -> None:
    workflow = start("support")
    (intake,) = ready(workflow)
    effects = complete(workflow, intake, score=1, flags=[], client_name="x", monitoring_interval="P1D")
    assert effects == []
    assert workflow.is_completed()


def test_unsafe_runtime_data_in_a_condition_fails_as_a_workflow_error() -> None:
    workflow = start("support")
    (intake,) = ready(workflow)
    intake.set_data(score="high", flags=[], client_name="x")
    with pytest.raises(WorkflowTaskException, match="cannot evaluate"):
        intake.run()
        workflow.do_engine_steps()


def test_service_task_outside_a_collector_fails_instead_of_losing_the_effect() -> None:
    workflow = start("support")
    (intake,) = ready(workflow)
    intake.set_data(score=5, flags=[], client_name="x")
    intake.run()
    with pytest.raises(WorkflowTaskException, match="no side-effect collector"):
        workflow.do_engine_steps()


def test_service_parameters_are_checked_at_runtime_too() -> None:
    workflow = start("support")
    (intake,) = ready(workflow)
    engine = workflow.script_engine
    with spiff.collect_side_effects() as effects:
        with pytest.raises(WorkflowTaskException, match="must be of type str"):
            engine.call_service(intake, operation_name="notify", operation_params={"template": {"value": 1}})
        with pytest.raises(WorkflowTaskException, match="unknown service operation"):
            engine.call_service(intake, operation_name="shell", operation_params={})
    assert effects == []


def test_script_engine_refuses_to_execute_scripts() -> None:
    workflow = start("support")
    (intake,) = ready(workflow)
    with pytest.raises(WorkflowTaskException, match="scripts are not allowed"):
        workflow.script_engine.execute(intake, "import os")
    with pytest.raises(Exception, match="scripts are not allowed"):
        workflow.script_engine.environment.execute("x = 1", {})


def test_environment_used_for_correlations_is_safe() -> None:
    environment = spiff.SafeScriptEngine().environment
    assert environment.evaluate("case['id']", {"case": {"id": 7}}) == 7
    with pytest.raises(Exception, match="attribute access"):
        environment.evaluate("case.__class__", {"case": {}})


def test_parser_itself_refuses_script_tasks() -> None:
    script = """<bpmn:scriptTask id="s"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>"""
    with pytest.raises(DefinitionError) as info:
        spiff.load_definitions(bundle(process(script)))
    (problem,) = info.value.problems
    assert problem.element_id == "s"
    assert "script tasks are not allowed" in problem.message


def test_load_definitions_reports_spiff_errors_as_problems() -> None:
    with pytest.raises(DefinitionError) as info:
        spiff.load_definitions({"t.bpmn": process().replace(b'targetRef="end" />', b'targetRef="x" />')})
    assert info.value.problems[0].file == "t.bpmn"


def test_meeting_alias_resolves_to_the_tenants_choice() -> None:
    loaded = spiff.load_definitions(fixture_files("alias"))
    assert loaded.top_level_ids == ["casework", "meeting_hybrid", "meeting_scheduled"]
    assert loaded.subprocess_specs["casework"]["meeting"] is None  # the alias: not a process
    assert loaded.subprocess_specs["casework"]["prepare"] is not None  # an embedded subprocess
    for choice in ("meeting_hybrid", "meeting_scheduled"):
        spec, subprocess_specs = spiff.resolve_specs(loaded, "casework", {"meeting": choice})
        assert subprocess_specs["meeting"].name == choice
        assert set(subprocess_specs) == {"meeting", "prepare"}
        workflow = spiff.new_workflow(spec, subprocess_specs)
        workflow.do_engine_steps()
        (task,) = ready(workflow)
        assert task.task_spec.bpmn_id == f"record_{choice.removeprefix('meeting_')}"
        # The choice is part of the serialized instance: a later tenant change does not affect it.
        restored = round_trip(workflow)
        (task,) = ready(restored)
        complete(restored, task)
        assert restored.is_completed()


def test_default_alias_is_hybrid_and_unknown_targets_fail() -> None:
    loaded = spiff.load_definitions(fixture_files("alias"))
    assert spiff.resolve_specs(loaded, "casework")[1]["meeting"].name == "meeting_hybrid"
    with pytest.raises(DefinitionError, match="cannot resolve"):
        spiff.resolve_specs(loaded, "casework", {"meeting": "meeting_daily"})
    with pytest.raises(DefinitionError, match="not found"):
        spiff.resolve_specs(loaded, "nope")


@pytest.mark.parametrize(
    ("data", "route", "days"),
    [
        ({"urgency": "high", "issue_count": 0, "agency": "none"}, "adhoc", 3),
        ({"urgency": "low", "issue_count": 3, "agency": "housing"}, "hybrid", 14),
        ({"urgency": "low", "issue_count": 5, "agency": "police"}, "none", 0),
        ({"urgency": "low", "issue_count": 2, "agency": "police"}, "scheduled", 30),
    ],
)
def test_dmn_table_cells_evaluate_through_the_safe_engine(
    data: dict[str, Any], route: str, days: int
) -> None:
    loaded = spiff.load_definitions(fixture_files("routing"))
    spec, subprocess_specs = spiff.resolve_specs(loaded, "routing")
    workflow = spiff.new_workflow(spec, subprocess_specs)
    workflow.get_tasks(state=TaskState.READY)[0].set_data(**data)
    workflow.do_engine_steps()
    assert workflow.is_completed()
    assert (workflow.data["route"], workflow.data["days"]) == (route, days)


def test_serializer_round_trip_keeps_state_and_counts_deserializations() -> None:
    workflow = start("support")
    (intake,) = ready(workflow)
    complete(workflow, intake, score=4, flags=[], client_name="x", monitoring_interval="P30D")
    state, resolve = round_trip_state(workflow)
    assert isinstance(state, str)
    assert f'"serializer_version":"{spiff.SERIALIZER_VERSION}"' in state
    before = spiff.deserialize_count()
    restored = spiff.loads(state, resolve)
    assert spiff.deserialize_count() == before + 1
    assert isinstance(restored.script_engine, spiff.SafeScriptEngine)
    assert [t.task_spec.bpmn_id for t in restored.get_tasks(state=TaskState.WAITING)] == ["meeting_decided"]
    assert round_trip_state(restored)[0] == state


def test_dates_in_task_data_survive_serialization() -> None:
    from datetime import date

    workflow = start("support")
    ready(workflow)[0].data["review_on"] = date(2026, 4, 1)
    assert ready(round_trip(workflow))[0].data["review_on"] == date(2026, 4, 1)
