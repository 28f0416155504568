"""Small versions of the ``casework`` process, deployed through the API, for the instance-operation tests."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

from tsunagu.core.session import transaction
from tsunagu.engine.models import ProcessInstance

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
                  id="Definitions_test" targetNamespace="http://tsunagu.example/bpmn">
  <bpmn:process id="casework" isExecutable="true">
"""
FOOTER = """
  </bpmn:process>
</bpmn:definitions>
"""

NOTE_FORM = json.dumps(
    {
        "type": "default",
        "id": "Form_note",
        "schemaVersion": 16,
        "components": [{"type": "textfield", "key": "note", "label": "メモ", "id": "Field_note"}],
    },
    ensure_ascii=False,
)


def task(task_id: str, name: str, incoming: str, outgoing: str) -> str:
    return f"""
    <bpmn:userTask id="{task_id}" name="{name}">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formKey" value="note" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>{incoming}</bpmn:incoming><bpmn:outgoing>{outgoing}</bpmn:outgoing>
    </bpmn:userTask>"""


def flow(flow_id: str, source: str, target: str, condition: str = "") -> str:
    if not condition:
        return f'\n    <bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}" />'
    return (
        f'\n    <bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}">'
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>"
    )


#: version N: start → 確認 (check) → 二次確認 (second) → end
V_N = (
    HEADER
    + '\n    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
    + task("check", "確認", "f1", "f2")
    + task("second", "二次確認", "f2", "f3")
    + '\n    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>'
    + flow("f1", "start", "check")
    + flow("f2", "check", "second")
    + flow("f3", "second", "end")
    + FOOTER
)

#: version N+1: 二次確認 is replaced by 審査 (review): cases at 確認 can move, cases at 二次確認 cannot
V_N1 = (
    HEADER
    + '\n    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
    + task("check", "確認", "f1", "f2b")
    + task("review", "審査", "f2b", "f3b")
    + '\n    <bpmn:endEvent id="end"><bpmn:incoming>f3b</bpmn:incoming></bpmn:endEvent>'
    + flow("f1", "start", "check")
    + flow("f2b", "check", "review")
    + flow("f3b", "review", "end")
    + FOOTER
)


def gateway_version(condition_high: str, condition_low: str) -> str:
    """start → 確認 → 点数による分岐 (high → 重点支援, low → end)."""
    return (
        HEADER
        + '\n    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
        + task("check", "確認", "f1", "f2")
        + """
    <bpmn:exclusiveGateway id="gw_score" name="点数による分岐"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing></bpmn:exclusiveGateway>"""
        + task("intensive", "重点支援", "f3", "f5")
        + '\n    <bpmn:endEvent id="end_high"><bpmn:incoming>f5</bpmn:incoming></bpmn:endEvent>'
        + '\n    <bpmn:endEvent id="end_low"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>'
        + flow("f1", "start", "check")
        + flow("f2", "check", "gw_score")
        + flow("f3", "gw_score", "intensive", condition_high)
        + flow("f4", "gw_score", "end_low", condition_low)
        + flow("f5", "intensive", "end_high")
        + FOOTER
    )


#: the condition names data nobody sets: valid at deploy, fails at run time
FAILING = gateway_version("risk_score &gt;= 3", "risk_score &lt; 3")
#: the administrator's fix: branch on what the form records
FIXED = gateway_version("note == '要支援'", "note != '要支援'")


def deploy(api: Any, bpmn: str, note: str = "test definition") -> dict[str, Any]:
    response = api.post(
        "/definitions",
        data={
            "files": [
                (io.BytesIO(bpmn.encode("utf-8")), "casework/casework.bpmn"),
                (io.BytesIO(NOTE_FORM.encode("utf-8")), "casework/forms/note.form"),
            ],
            "note": note,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def instance_row(runtime: Any, tenant: Any, instance_id: str) -> ProcessInstance:
    with transaction(runtime.sessions, tenant.id) as session:
        return session.get(ProcessInstance, (tenant.id, uuid.UUID(instance_id)))


def complete(api: Any, case_id: str, element: str, **data: Any) -> Any:
    task = api.task(case_id, element)
    return api.post(f"/tasks/{task['id']}/complete", json={"data": {"note": "確認しました", **data}})
