"""Static checks of the standard library in workflows/: parsing, forms, lanes, DI and the safe-subset rules."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
from lxml import etree

from tests.workflows.driver import (
    MEETING_DEFINITIONS,
    WORKFLOWS,
    CaseDriver,
    definition,
    forms_of,
    library_folders,
)
from tsunagu.forms import load_form

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN, "spiffworkflow": SPIFF, "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}
DEFINITIONS = ("casework", *MEETING_DEFINITIONS)
LANE_LABELS = {
    "相談支援員",
    "自治体職員",
    "会議事務局",
    "支援提供機関",
    "外部参加者",
    "監査担当",
    "テナント管理者",
}
OPERATIONS = {"notify", "schedule_meeting", "record_statistic", "add_to_agenda", "export_case"}
MESSAGES = {"meeting_decided", "consent_withdrawn", "referral_received"}
SAFE_CALLS = {
    "len",
    "min",
    "max",
    "abs",
    "int",
    "str",
    "float",
    "bool",
    "any",
    "all",
    "sum",
    "sorted",
    "contains",
    "parse_date",
    "today",
    "days_between",
}
FORMS = sorted(WORKFLOWS.glob("*/forms/*.form"))


def bpmn_root(name: str) -> etree._Element:
    return etree.parse(str(WORKFLOWS / name / f"{name}.bpmn")).getroot()


def user_tasks(name: str):
    """(task_spec, owning definition) for every user task of a definition, embedded subprocesses included."""
    d = definition(name)
    specs = [d.spec, *(d.subprocess_specs[p] for p in d.process_ids if p != name)]
    for spec in specs:
        for ts in spec.task_specs.values():
            if type(ts).__name__ == "UserTask":
                yield ts


def test_the_library_has_the_four_definitions():
    assert [f.name for f in library_folders()] == sorted(DEFINITIONS)


@pytest.mark.parametrize("name", DEFINITIONS)
def test_definition_metadata(name):
    meta = tomllib.loads((WORKFLOWS / name / "definition.toml").read_text(encoding="utf-8"))
    assert meta["name"] == meta["process_id"] == name
    for key in ("title_ja", "title_en", "description_en", "version", "version_notes"):
        assert meta[key], key
    for file in [*meta["bpmn"], *meta["dmn"], *meta["forms"]]:
        assert (WORKFLOWS / name / file).is_file(), file
    assert sorted(meta["forms"]) == sorted(
        f"forms/{p.name}" for p in (WORKFLOWS / name / "forms").glob("*.form")
    )


@pytest.mark.parametrize("name", DEFINITIONS)
def test_each_process_parses_with_the_spiff_parser_and_schema(name):
    d = definition(name)
    assert d.spec.name == name


@pytest.mark.parametrize("path", FORMS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_form_loads_as_form_js(path: Path):
    raw = load_form(path).raw
    form = load_form(path)
    assert raw["type"] == "default"
    assert raw["schemaVersion"] == 16
    assert raw["id"] == f"Form_{path.stem}"
    assert len(form) > 0
    ids: list[str] = []

    def walk(components):
        for c in components:
            ids.append(c["id"])
            walk(c.get("components", []))

    walk(raw["components"])
    assert len(ids) == len(set(ids)), "component ids are unique"
    for f in form:
        assert any(ord(ch) > 0x3000 for ch in f.label), f"{f.key} has a Japanese label"


@pytest.mark.parametrize("name", DEFINITIONS)
def test_every_user_task_has_a_form_a_due_date_and_a_role_lane(name):
    forms = forms_of(name)
    tasks = list(user_tasks(name))
    assert tasks
    for ts in tasks:
        props = ts.extensions["properties"]
        assert props["formKey"] in forms, f"{ts.bpmn_id}: form {props['formKey']} missing"
        assert int(props["dueInDays"]) > 0
        assert ts.lane in LANE_LABELS, f"{ts.bpmn_id} lane {ts.lane!r}"
        assert any(ord(ch) > 0x3000 for ch in ts.bpmn_name)
    used = {ts.extensions["properties"]["formKey"] for ts in tasks}
    assert used == set(forms), "no unused forms"


@pytest.mark.parametrize("name", DEFINITIONS)
def test_no_scripts_and_only_allowed_service_operations(name):
    root = bpmn_root(name)
    assert not root.xpath("//bpmn:scriptTask", namespaces=NS)
    assert not root.xpath("//spiffworkflow:preScript | //spiffworkflow:postScript", namespaces=NS)
    for task in root.xpath("//bpmn:serviceTask", namespaces=NS):
        (operator,) = task.xpath(".//spiffworkflow:serviceTaskOperator", namespaces=NS)
        assert operator.get("id") in OPERATIONS
        # Spiff resolves elements by id: an operator id equal to an element id breaks parsing
        assert operator.get("id") != task.get("id")
        for param in operator.xpath(".//spiffworkflow:parameter", namespaces=NS):
            check_safe_expression(param.get("value"))


def check_safe_expression(text: str) -> None:
    tree = ast.parse(text.strip(), mode="eval")
    for node in ast.walk(tree):
        assert not isinstance(node, ast.Attribute | ast.Lambda | ast.comprehension | ast.NamedExpr), text
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name) and node.func.id in SAFE_CALLS, text


@pytest.mark.parametrize("name", DEFINITIONS)
def test_conditions_and_timers_use_the_safe_expression_subset(name):
    root = bpmn_root(name)
    texts = root.xpath(
        "//bpmn:conditionExpression/text() | //bpmn:timeDuration/text() | //bpmn:timeDate/text()",
        namespaces=NS,
    )
    assert texts or name == "meeting_adhoc"
    for text in texts:
        check_safe_expression(text)
    for dmn in (WORKFLOWS / name).glob("*.dmn"):
        for text in etree.parse(str(dmn)).getroot().xpath("//*[local-name()='text']/text()"):
            if text.strip() != "-":
                check_safe_expression(text)


@pytest.mark.parametrize("name", DEFINITIONS)
def test_gateways_with_conditions_have_a_default_flow(name):
    root = bpmn_root(name)
    for gw in root.xpath("//bpmn:exclusiveGateway", namespaces=NS):
        outgoing = gw.xpath("bpmn:outgoing/text()", namespaces=NS)
        if len(outgoing) > 1:
            assert gw.get("default") in outgoing, gw.get("id")


@pytest.mark.parametrize("name", DEFINITIONS)
def test_messages_are_the_platform_messages(name):
    names = {m.get("name") for m in bpmn_root(name).xpath("//bpmn:message", namespaces=NS)}
    assert names <= MESSAGES


@pytest.mark.parametrize("name", DEFINITIONS)
def test_every_element_is_drawn(name):
    """bpmn-js needs a shape for every node and an edge for every flow."""
    root = bpmn_root(name)
    drawn = {
        e.get("bpmnElement") for e in root.xpath("//bpmndi:BPMNShape | //bpmndi:BPMNEdge", namespaces=NS)
    }
    (process,) = root.xpath("//bpmn:process", namespaces=NS)
    elements = {
        e.get("id")
        for e in process.iter()
        if isinstance(e.tag, str)
        and e.get("id")
        and etree.QName(e).localname not in {"process", "laneSet", "documentation", "extensionElements"}
        and not etree.QName(e).localname.endswith("EventDefinition")
        and etree.QName(e).namespace == BPMN
    }
    assert elements - drawn == set()
    assert drawn - elements - {e.get("id") for e in root.xpath("//bpmn:participant", namespaces=NS)} == set()


def test_casework_calls_the_meeting_alias():
    root = bpmn_root("casework")
    assert [c.get("calledElement") for c in root.xpath("//bpmn:callActivity", namespaces=NS)] == ["meeting"]


def test_meeting_route_table():
    root = etree.parse(str(WORKFLOWS / "meeting_hybrid" / "meeting_route.dmn")).getroot()
    (decision,) = root.xpath("//*[local-name()='decision']")
    assert decision.get("id") == "meeting_route"
    (table,) = decision.xpath("*[local-name()='decisionTable']")
    assert table.get("hitPolicy") == "FIRST"
    inputs = [t for t in table.xpath("*[local-name()='input']//*[local-name()='text']/text()")]
    assert inputs == ["urgency", "complexity", "external_agencies", "internal_only"]
    outputs = {
        t.strip('"') for t in table.xpath("*[local-name()='rule']/*[local-name()='outputEntry']//text()")
    }
    assert outputs - {"\n"} >= {"adhoc", "adhoc_internal", "scheduled"}


def test_intake_form_has_the_sixteen_consultation_topics():
    form = forms_of("casework")["intake"]
    topics = form.field("consultation_topics")
    assert topics.type == "checklist" and topics.required
    assert len(topics.option_values) == 16
    assert form.field("main_topic").option_values == topics.option_values
    assert form.field("screening_outcome").option_values == ("advice_only", "refer_elsewhere", "continue")
    assert form.field("name_kana").pattern == "^[ァ-ヶー　 ]+$"


def test_consent_form_asks_for_tax_information_separately():
    form = forms_of("casework")["consent"]
    assert form.field("consent_tax_info").type == "checkbox"
    assert {"consent_agencies", "consent_categories"} <= set(form.keys)


def test_plan_form_lists_the_statutory_programmes():
    form = forms_of("casework")["plan"]
    assert form.field("statutory_programmes").option_values == (
        "employment_preparation",
        "household_finance",
        "housing_support",
        "certified_work_training",
    )
    for key in ("plan_period", "plan_end_date", "early_start", "internal_only", "long_term_goal"):
        assert key in form.keys
    assert form.field("plan_end_date").subtype == "date"


def test_shared_meeting_forms_are_identical_across_definitions():
    for key in ("meeting_result", "adhoc_convene", "after_the_fact_report"):
        texts = {p.read_text(encoding="utf-8") for p in WORKFLOWS.glob(f"*/forms/{key}.form")}
        assert len(texts) == 1, key


def test_engine_deploy_validation_accepts_the_library():
    validation = pytest.importorskip("tsunagu.engine.validation")
    from tsunagu.cases.services import LANE_ROLES

    problems, _count = validation.validate_paths_report([WORKFLOWS], LANE_ROLES)
    assert problems == []


def test_engine_sees_the_casework_timers():
    events = pytest.importorskip("tsunagu.engine.events")
    from tests.workflows.driver import drive_to_delivery

    case = CaseDriver()
    drive_to_delivery(case)
    timers = {t.spec_id: t.due_at for t in events.waiting_timers(case.workflow)}
    assert set(timers) == {"timer_monitoring", "timer_plan_end"}
    assert all(timers.values())
    assert events.waiting_messages(case.workflow) == {"consent_withdrawn"}


def test_the_whole_library_deploys_as_one_bundle():
    """The engine deploys every folder in one parser; shared ids and forms must not collide."""
    definitions = pytest.importorskip("tsunagu.engine.definitions")
    spiff = pytest.importorskip("tsunagu.engine.spiff")
    bundle = definitions.parse_files(definitions.read_library(WORKFLOWS))
    assert bundle.top_level_ids == ["casework", *sorted(MEETING_DEFINITIONS)]
    for meeting in MEETING_DEFINITIONS:
        _spec, subs = spiff.resolve_specs(bundle, "casework", {"meeting": meeting})
        assert subs["meeting"].name == meeting


def _bounds(root):
    result = {}
    for shape in root.xpath("//bpmndi:BPMNShape", namespaces=NS):
        (b,) = shape.xpath("*[local-name()='Bounds']")
        result[shape.get("bpmnElement")] = tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))
    return result


def _on_border(point, box, tolerance=2.0):
    x, y = point
    bx, by, bw, bh = box
    inside = bx - tolerance <= x <= bx + bw + tolerance and by - tolerance <= y <= by + bh + tolerance
    near_edge = min(abs(x - bx), abs(x - bx - bw), abs(y - by), abs(y - by - bh)) <= tolerance
    return inside and near_edge


@pytest.mark.parametrize("name", DEFINITIONS)
def test_diagram_geometry_is_sensible(name):
    """Edges start and end on their shapes' borders and every laned node is drawn inside its lane."""
    root = bpmn_root(name)
    bounds = _bounds(root)
    for flow in root.xpath("//bpmn:sequenceFlow", namespaces=NS):
        (edge,) = root.xpath(f"//bpmndi:BPMNEdge[@bpmnElement='{flow.get('id')}']", namespaces=NS)
        points = [(float(w.get("x")), float(w.get("y"))) for w in edge.xpath("*[local-name()='waypoint']")]
        assert len(points) >= 2
        assert _on_border(points[0], bounds[flow.get("sourceRef")]), flow.get("id")
        assert _on_border(points[-1], bounds[flow.get("targetRef")]), flow.get("id")
    for lane in root.xpath("//bpmn:lane", namespaces=NS):
        lx, ly, lw, lh = bounds[lane.get("id")]
        for ref in lane.xpath("bpmn:flowNodeRef/text()", namespaces=NS):
            x, y, w, h = bounds[ref]
            cy = y + h / 2
            assert lx <= x and x + w <= lx + lw and ly <= cy <= ly + lh, (lane.get("name"), ref)
