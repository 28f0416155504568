from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.engine.helpers import FIXTURES, FORM, HEADER, bundle, fixture_files, form_task, process
from tsunagu.admin.commands import workflows_group
from tsunagu.cases.services import LANE_ROLES
from tsunagu.engine import validation
from tsunagu.engine.errors import Problem
from tsunagu.identity.models import role_for_lane

from .test_safe_xml import BILLION_LAUGHS, XXE

# The engine validates lanes with the lane→role rule its callers pass (identity's, wired by cases).
validate_bundle = partial(validation.validate_bundle, lanes=LANE_ROLES)


def validate_paths(paths: list[Path]) -> list[Problem]:
    return validation.validate_paths(paths, LANE_ROLES)


def _line_of(data: bytes, needle: str) -> int:
    return data.decode().splitlines().index(next(x for x in data.decode().splitlines() if needle in x)) + 1


def _only(problems: list[Problem], fragment: str) -> Problem:
    matching = [p for p in problems if fragment in p.message]
    assert matching, f"no problem mentions {fragment!r}: {problems}"
    return matching[0]


@pytest.mark.parametrize("name", ["support", "deadline", "alias", "routing"])
def test_fixture_bundles_are_valid(name: str) -> None:
    assert validate_bundle(fixture_files(name)) == []


def test_xxe_document_is_rejected() -> None:
    problem = _only(validate_bundle({"evil.bpmn": XXE}), "DOCTYPE")
    assert problem.file == "evil.bpmn"
    assert problem.line == 2


def test_billion_laughs_document_is_rejected() -> None:
    _only(validate_bundle({"lol.bpmn": BILLION_LAUGHS}), "entity expansion")


def test_doctype_is_rejected() -> None:
    _only(validate_bundle({"d.bpmn": b"<!DOCTYPE x>" + process()}), "DOCTYPE")


def test_file_over_the_size_cap_is_rejected() -> None:
    _only(validate_bundle(bundle(process()), max_bytes=500), "too large")


def test_script_task_is_rejected_with_line_and_id() -> None:
    script = """<bpmn:scriptTask id="run_python" scriptFormat="python">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>import os; os.system("id")</bpmn:script>
    </bpmn:scriptTask>"""
    problems = validate_bundle(bundle(process(script)))
    problem = _only(problems, "script tasks are not allowed")
    assert problem.element_id == "run_python"
    assert problem.line == _line_of(process(script), 'id="run_python"')
    assert len([p for p in problems if p.element_id == "run_python"]) == 1


@pytest.mark.parametrize("tag", ["preScript", "postScript"])
def test_pre_and_post_scripts_are_rejected(tag: str) -> None:
    task = form_task(extra=f"\n        <spiffworkflow:{tag}>x = 1</spiffworkflow:{tag}>")
    problem = _only(validate_bundle(bundle(process(task))), f"spiffworkflow:{tag} is not allowed")
    assert problem.element_id == "intake"


def test_camunda_script_listeners_are_rejected() -> None:
    extra = """
        <camunda:executionListener event="start"><camunda:script scriptFormat="groovy">x</camunda:script>
        </camunda:executionListener>"""
    problems = validate_bundle(bundle(process(form_task(extra=extra))))
    _only(problems, "camunda:executionListener is not allowed")
    _only(problems, "camunda:script is not allowed")


def test_code_attributes_of_other_engines_are_rejected() -> None:
    task = form_task().replace('name="タスク"', 'name="タスク" camunda:class="com.example.Evil"')
    _only(validate_bundle(bundle(process(task))), "attribute 'class'")


def _service(operation: str, params: str = "") -> str:
    return f"""<bpmn:serviceTask id="svc">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="{operation}"><spiffworkflow:parameters>{params}
        </spiffworkflow:parameters></spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>"""


def test_unknown_service_operation_is_rejected() -> None:
    problem = _only(validate_bundle(bundle(process(_service("run_shell")))), "unknown service operation")
    assert "'run_shell'" in problem.message
    assert problem.element_id == "svc"


def test_service_parameters_are_checked() -> None:
    params = """<spiffworkflow:parameter id="case_id" type="str" value="case_id" />
        <spiffworkflow:parameter id="role" type="str" value="x.__class__" />"""
    problems = validate_bundle(bundle(process(_service("notify", params))))
    _only(problems, "no parameter 'case_id'")
    _only(problems, "requires parameter 'template'")
    _only(problems, "attribute access is not allowed")


def test_missing_form_is_rejected() -> None:
    problem = _only(validate_bundle({"t.bpmn": process()}), "form 'forms/intake.form' not found")
    assert problem.element_id == "intake"


def test_form_can_come_from_the_tenants_deployed_forms() -> None:
    assert validate_bundle({"t.bpmn": process()}, forms_available={"intake"}) == []
    assert validate_bundle({"t.bpmn": process()}, forms_available=lambda key: key == "intake") == []


def test_user_task_without_form_key_is_rejected() -> None:
    task = form_task().replace('<spiffworkflow:property name="formKey" value="intake" />', "")
    _only(validate_bundle(bundle(process(task))), "user task has no form")


def test_form_that_is_not_json_is_rejected() -> None:
    files = {"t.bpmn": process(), "forms/intake.form": b"{not json"}
    problems = validate_bundle(files)
    _only(problems, "not valid JSON")
    _only(problems, "not found")


def _gateway_process(condition: str) -> bytes:
    middle = '<bpmn:exclusiveGateway id="gw" default="f2"><bpmn:incoming>f1</bpmn:incoming></bpmn:exclusiveGateway>'
    extra = f"""
    <bpmn:sequenceFlow id="f_cond" sourceRef="gw" targetRef="end">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>"""
    return process(middle, extra=extra)


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        ("score &gt;=", "invalid syntax"),
        ("__import__('os')", "function '__import__' is not allowed"),
        ("__import__('os').system('id')", "attribute access is not allowed"),
        ("score.__class__", "attribute access is not allowed"),
    ],
)
def test_unparseable_or_unsafe_condition_is_rejected(condition: str, fragment: str) -> None:
    problem = _only(validate_bundle({"t.bpmn": _gateway_process(condition)}), fragment)
    assert problem.element_id == "f_cond"
    assert problem.line is not None


def _timer_process(kind: str, body: str) -> bytes:
    middle = f"""<bpmn:intermediateCatchEvent id="wait">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="ted"><bpmn:{kind}>{body}</bpmn:{kind}></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>"""
    return process(middle)


@pytest.mark.parametrize(
    ("kind", "body", "fragment"),
    [
        ("timeDuration", "P30D", 'quote the literal: "P30D"'),
        ("timeDuration", '"30 days"', "not a valid ISO 8601"),
        ("timeDate", '"tomorrow"', "not a valid ISO 8601"),
        ("timeDuration", "interval.days", "attribute access"),
    ],
)
def test_bad_timer_expressions_are_rejected(kind: str, body: str, fragment: str) -> None:
    _only(validate_bundle({"t.bpmn": _timer_process(kind, body)}), fragment)


@pytest.mark.parametrize("body", ['"P30D"', "monitoring_interval", '"2026-04-01T09:00:00+09:00"'])
def test_good_timer_expressions_pass(body: str) -> None:
    kind = "timeDate" if "T09" in body else "timeDuration"
    assert validate_bundle({"t.bpmn": _timer_process(kind, body)}) == []


def _laned(name: str) -> str:
    return f"""
    <bpmn:laneSet id="ls"><bpmn:lane id="lane1" name="{name}">
      <bpmn:flowNodeRef>intake</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>"""


def test_lane_that_names_no_role_is_rejected() -> None:
    problem = _only(validate_bundle(bundle(process(lanes=_laned("事務担当")))), "does not name a role")
    assert problem.element_id == "lane1"


@pytest.mark.parametrize("name", ["consultant", "相談支援員", "監査担当", " meeting_secretariat "])
def test_lanes_may_use_role_keys_or_japanese_labels(name: str) -> None:
    assert validate_bundle(bundle(process(lanes=_laned(name)))) == []


def test_a_lane_names_a_role_by_key_or_japanese_label() -> None:
    assert role_for_lane("支援提供機関") == "provider"
    assert role_for_lane("auditor") == "auditor"
    assert role_for_lane("admin") is None
    assert role_for_lane(None) is None


def test_unknown_called_element_is_rejected_but_aliases_pass() -> None:
    call = (
        '<bpmn:callActivity id="call" calledElement="{}"><bpmn:incoming>f1</bpmn:incoming>'
        "<bpmn:outgoing>f2</bpmn:outgoing></bpmn:callActivity>"
    )
    _only(validate_bundle({"t.bpmn": process(call.format("nowhere"))}), "called element 'nowhere'")
    assert validate_bundle({"t.bpmn": process(call.format("meeting"))}) == []


def test_dmn_problems_are_reported_per_cell() -> None:
    files = fixture_files("routing")
    dmn = files["route.dmn"].decode()
    dmn = dmn.replace("<text>&gt;= 3</text>", "<text>&gt;= __import__('os')</text>")
    dmn = dmn.replace('<text>? in ("welfare", "housing")</text>', '<text>"welfare","housing"</text>')
    problems = validate_bundle({**files, "route.dmn": dmn.encode()})
    assert _only(problems, "function '__import__'").element_id == "r2_2"
    assert _only(problems, "comma list").element_id == "r2_3"


def test_missing_decision_table_is_rejected() -> None:
    files = fixture_files("routing")
    del files["route.dmn"]
    _only(validate_bundle(files), "decision table 'route' not found")


def test_spiff_structural_errors_are_reported_with_a_line() -> None:
    bad = process().replace(b'targetRef="end" />', b'targetRef="nowhere" />')
    problems = validate_bundle(bundle(bad))
    assert problems
    assert all(p.file == "t.bpmn" for p in problems)


def test_validate_paths_walks_a_root_of_bundles(tmp_path: Path) -> None:
    good = tmp_path / "workflows" / "good"
    (good / "forms").mkdir(parents=True)
    (good / "g.bpmn").write_bytes(process())
    (good / "forms" / "intake.form").write_bytes(FORM)
    bad = tmp_path / "workflows" / "bad"
    bad.mkdir()
    (bad / "b.bpmn").write_bytes(HEADER.encode() + b"<oops")
    problems = validate_paths([tmp_path / "workflows"])
    assert [p.file for p in problems] == [(bad / "b.bpmn").as_posix()]
    assert validate_paths([good]) == []
    assert validate_paths([good / "g.bpmn"]) == []
    assert "no such file" in validate_paths([tmp_path / "missing"])[0].message


def test_cli_prints_one_line_per_problem_and_exits_1(tmp_path: Path) -> None:
    (tmp_path / "t.bpmn").write_bytes(process(_service("run_shell")))
    result = CliRunner().invoke(workflows_group, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert any(line.startswith(f"{tmp_path}/t.bpmn:") and "[svc]" in line for line in lines)


def test_cli_reports_ok_with_the_number_of_definitions() -> None:
    result = CliRunner().invoke(workflows_group, ["validate", str(FIXTURES)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "OK: 9 definitions"


def test_safe_condition_passes() -> None:
    assert validate_bundle({"t.bpmn": _gateway_process("score &gt;= 3 and contains(flags, 'x')")}) == []
