"""Issue #10, bounded evaluation and parsing: each attack found against production settings, through the real
HTTP paths on PostgreSQL — the hostile expression (at upload and when a completion runs it), the 27-byte
number, JSON nested too deep, a 5,000-character name, a referral of any shape and size."""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.engine_api.driver import fill
from tests.support.api_errors import fields
from tests.support.api_errors import problems as problems_of
from tsunagu.cases.models import Case
from tsunagu.core.session import transaction
from tsunagu.engine.models import ProcessInstance

REPO = Path(__file__).resolve().parents[2]
CASEWORK = (REPO / "workflows" / "casework" / "casework.bpmn").read_text(encoding="utf-8")
DECISION_MAP = (REPO / "workflows" / "meeting_hybrid" / "meeting_decision_map.dmn").read_text(
    encoding="utf-8"
)
INTAKE_FORM = (REPO / "workflows" / "casework" / "forms" / "intake.form").read_text(encoding="utf-8")
CONDITION = "screening_outcome == 'advice_only'"


EN = {"Accept-Language": "en"}  # the assertions read the English half of the messages


def _deploy(api, files: dict[str, str]):
    return api.post(
        "/definitions",
        data={"files": [(io.BytesIO(text.encode("utf-8")), name) for name, text in files.items()]},
        content_type="multipart/form-data",
        headers=EN,
    )


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def _nested(depth: int, leaf: Any = 0) -> str:
    return "[" * depth + json.dumps(leaf) + "]" * depth


def test_a_constant_expression_past_the_size_limits_is_refused_at_upload_with_its_line(api):
    api.start_case()  # the library as version 1
    hostile = CASEWORK.replace(CONDITION, "len(str(['a' * 100000] * 10000)) &gt; 0")
    response = _deploy(api, {"casework/casework.bpmn": hostile})
    assert response.status_code == 422, response.get_json()
    problems = problems_of(response.get_json())
    line = _line_of(CASEWORK, CONDITION)
    assert any(
        p.startswith(f"casework/casework.bpmn:{line}: [Flow_03]") and "too large" in p for p in problems
    )
    assert [d["version"] for d in api.get("/definitions").get_json()] == [1]


def test_a_dmn_output_past_the_size_limits_is_refused_at_upload(api):
    api.start_case()
    cell = "&quot;unknown&quot;"
    hostile = DECISION_MAP.replace(cell, "[[0]*10000]*10000")
    response = _deploy(api, {"meeting_hybrid/meeting_decision_map.dmn": hostile})
    assert response.status_code == 422, response.get_json()
    problems = " ".join(problems_of(response.get_json()))
    assert f"meeting_hybrid/meeting_decision_map.dmn:{_line_of(DECISION_MAP, cell)}:" in problems
    assert "too large" in problems


def test_a_completion_whose_condition_would_exhaust_memory_answers_422_and_changes_nothing(
    api, runtime, tenant
):
    # Reads task data, so validation cannot fold it: the evaluator must refuse it when the gateway runs.
    api.start_case()  # the library as version 1
    hostile = CASEWORK.replace(CONDITION, "len(str([screening_outcome[0] * 100000] * 10000)) &gt; 0")
    assert _deploy(api, {"casework/casework.bpmn": hostile}).status_code == 201
    case = api.start_case()
    instance_key = (tenant.id, uuid.UUID(case["process_instance_id"]))
    with transaction(runtime.sessions, tenant.id) as session:
        before = session.get(ProcessInstance, instance_key).version
    task = api.task(case["id"], "intake")
    data = fill(task["form_schema"], {"screening_outcome": "continue"})
    response = api.post(f"/tasks/{task['id']}/complete", json={"data": data}, headers=EN)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "workflow_error" and "too large" in error["message"]
    assert [t["name"] for t in api.ready_tasks(case["id"])] == ["intake"]  # nothing half-saved
    with transaction(runtime.sessions, tenant.id) as session:
        assert session.get(ProcessInstance, instance_key).version == before


def test_a_27_byte_number_in_a_field_without_max_is_refused_quickly_with_422(api):
    form = json.loads(INTAKE_FORM)
    text = json.dumps(form, ensure_ascii=False).replace('"min": 1, "max": 20', '"min": 1')
    assert text != json.dumps(form, ensure_ascii=False)
    api.start_case()  # the library as version 1
    assert _deploy(api, {"casework/forms/intake.form": text}).status_code == 201
    case = api.start_case()
    task = api.task(case["id"], "intake")
    for number in ("1e10000000", "9" * 5000, "1" + "0" * 16):
        data = fill(task["form_schema"], {"screening_outcome": "continue", "household_size": number})
        response = api.post(f"/tasks/{task['id']}/complete", json={"data": data})
        assert response.status_code == 422, number[:20]
        assert list(fields(response.get_json())) == ["household_size"], number[:20]


def test_json_nested_deeper_than_the_limit_is_refused_with_a_json_error(api):
    for depth in (33, 989, 1000, 40_000):
        body = '{"person": {"name": "山田", "name_kana": "ヤマダ"}, "x": ' + _nested(depth) + "}"
        response = api.post("/cases", data=body, content_type="application/json")
        assert response.status_code == 400, depth
        error = response.get_json()["error"]
        assert error["code"] == "json_too_deep" and "details" in error, depth
    body = '{"person": {"name": "山田", "name_kana": "ヤマダ"}, "x": ' + _nested(30) + "}"
    assert api.post("/cases", data=body, content_type="application/json").status_code == 201
    many = '{"person": {"name": "山田", "name_kana": "ヤマダ"}, "x": [' + ",".join(["0"] * 200_000) + "]}"
    response = api.post("/cases", data=many, content_type="application/json")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "json_too_large"
    deep_task = api.post(
        f"/tasks/{'0' * 8}-0000-0000-0000-{'0' * 12}/complete",
        data=_nested(2000),
        content_type="application/json",
    )
    assert deep_task.status_code == 400 and deep_task.get_json()["error"]["code"] == "json_too_deep"


def test_a_5000_character_name_and_kana_are_refused_naming_the_field(api, runtime, tenant):
    for field in ("name", "name_kana"):
        person = {"name": "山田 花子", "name_kana": "ヤマダ ハナコ", field: "あ" * 5000}
        response = api.post("/cases", json={"person": person})
        assert response.status_code == 422, field
        details = fields(response.get_json())
        assert list(details) == [f"person.{field}"]
        most = 50 if field == "name" else 100  # the name: the intake form's limit (issue #17)
        assert details[f"person.{field}"][0].startswith(f"{most}文字以内")
    for bad in ("2026-W01-1", "19800401", "1980-04-01T00:00", "1800-01-01", {"y": 1980}, 19800401):
        person = {"name": "山田 花子", "name_kana": "ヤマダ ハナコ", "birth_date": bad}
        response = api.post("/cases", json={"person": person})
        assert response.status_code == 422, bad
        assert list(fields(response.get_json())) == ["person.birth_date"], bad
    with transaction(runtime.sessions, tenant.id) as session:
        assert session.execute(select(Case)).first() is None


REFERRAL = {
    "source_agency": "港北区役所 保険年金課",
    "reason": "保険料の滞納相談",
    "consent_status": "obtained",
}


def test_a_referral_of_any_shape_or_size_is_refused_with_per_field_details(api, runtime, tenant):
    person = {"name": "山田 花子", "name_kana": "ヤマダ ハナコ"}
    cases = [
        ({**REFERRAL, "blob": "x" * 1_800_000}, "referral"),  # 1.8 MB into the workflow state
        ({**REFERRAL, "extra": json.loads(_nested(25))}, "referral"),  # nesting within the JSON limit
        ({**REFERRAL, "source_agency": "あ" * 5000}, "referral.source_agency"),
        ({**REFERRAL, "reason": ["a"]}, "referral.reason"),
        ({**REFERRAL, "consent_status": "yes"}, "referral.consent_status"),
        ({"reason": "x", "consent_status": "obtained"}, "referral.source_agency"),
        ({**REFERRAL, "contact": {"phone": "0" * 100}}, "referral.contact.phone"),
        ({**REFERRAL, "referred_on": "yesterday"}, "referral.referred_on"),
        ("税務課", "referral"),
    ]
    for referral, field in cases:
        response = api.post("/cases", json={"person": person, "referral": referral})
        assert response.status_code == 422, field
        details = fields(response.get_json())
        assert field in details, (field, details)
        assert all(len(m) < 300 for messages in details.values() for m in messages)
    deep = '{"person": {"name": "山田", "name_kana": "ヤマダ"}, "referral": {"a": ' + _nested(600) + "}}"
    assert api.post("/cases", data=deep, content_type="application/json").status_code == 400
    with transaction(runtime.sessions, tenant.id) as session:
        assert session.execute(select(Case)).first() is None


def test_a_referral_that_fits_the_schema_is_stored_in_the_case_and_the_workflow(api, runtime, tenant):
    referral = {
        **REFERRAL,
        "source_type": "department",
        "department": "保険年金課",
        "contact": {"name": "佐藤", "phone": "045-540-2345", "email": "sato@example.jp"},
        "referred_on": "2026-11-20",
    }
    case = api.start_case(referral=referral)
    with transaction(runtime.sessions, tenant.id) as session:
        row = session.execute(select(Case)).scalar_one()
        assert row.referral == referral
        state = session.execute(select(ProcessInstance)).scalar_one().serialized
    assert "港北区役所 保険年金課" in state or "\\u6e2f" in state
    assert api.case(case["id"])["history"][0]["title"].endswith("（他機関からのつなぎ）")


def test_a_message_payload_is_bounded_in_size_and_shape(api):
    case = api.start_case()
    api.complete(case["id"], "intake", screening_outcome="continue")
    api.complete(case["id"], "consent", consent_application=True)
    response = api.message(case["id"], "consent_withdrawn", {"reason": "x" * 1_000_000})
    assert response.status_code == 422
    assert fields(response.get_json()) == {"payload.reason": ["10000文字以内で入力してください"]}
    assert api.message(case["id"], "consent_withdrawn", {"reason": "本人の申出"}).status_code == 200


def test_a_form_definition_nested_too_deep_is_a_problem_at_upload_not_a_500(api):
    api.start_case()
    deep = '{"components": ' + _nested(5000, {"type": "textfield", "key": "x"}) + "}"
    response = _deploy(api, {"casework/forms/intake.form": deep})
    assert response.status_code == 422, response.get_json()
    problems = " ".join(problems_of(response.get_json()))
    assert "casework/forms/intake.form" in problems and "nested too deeply" in problems


def test_the_openapi_document_publishes_the_referral_schema_and_the_person_limits(api):
    document = api.get("/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    referral_property = schemas["NewCase"]["properties"]["referral"]  # the Referral, or null for none
    assert {"$ref": "#/components/schemas/Referral"} in referral_property["anyOf"]
    referral = schemas["Referral"]
    assert referral["additionalProperties"] is False
    assert all("maxLength" in p or "enum" in p for k, p in referral["properties"].items() if k != "contact")
    assert schemas["NewCase"]["properties"]["person"] == {"$ref": "#/components/schemas/PersonIn"}
    assert schemas["PersonIn"]["properties"]["name"]["maxLength"] == 50  # the intake form's limit
