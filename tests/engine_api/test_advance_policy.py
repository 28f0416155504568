"""The one advance path's error policy, on the real PostgreSQL, with definitions deployed through the API.

* a timer firing while a user completes a task of the same case: both succeed (the instance row lock makes
  them queue), no incident, no lost update;
* an engine error during a completion: 422 saying what failed where, an incident on the instance, the task
  still ready and the case unchanged;
* a lost optimistic-lock race is retried once, then answered 409.
"""

from __future__ import annotations

import io
import threading
import uuid
from datetime import timedelta

from sqlalchemy import select

from tests.admin.definitions import FOOTER, HEADER, NOTE_FORM
from tests.admin.definitions import task as _task
from tests.support.api_errors import facts
from tsunagu.cases.models import CaseEvent, HumanTask
from tsunagu.cases.services import fire_due_timers
from tsunagu.core.db import utcnow
from tsunagu.core.session import transaction
from tsunagu.engine.models import Incident, ProcessInstance, Timer

#: start → (work | a reminder one hour later) → join → end: a task and a timer of one case at the same time
PARALLEL = (
    HEADER
    + """
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:parallelGateway id="split"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:outgoing>f3</bpmn:outgoing></bpmn:parallelGateway>"""
    + _task("work", "作業", "f2", "f4")
    + """
    <bpmn:intermediateCatchEvent id="reminder_due" name="催促時期"><bpmn:incoming>f3</bpmn:incoming>
      <bpmn:outgoing>f5</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT1H"</bpmn:timeDuration>
      </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"""
    + _task("reminder", "催促", "f5", "f6")
    + """
    <bpmn:parallelGateway id="join"><bpmn:incoming>f4</bpmn:incoming><bpmn:incoming>f6</bpmn:incoming>
      <bpmn:outgoing>f7</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>f7</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split" />
    <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="work" />
    <bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="reminder_due" />
    <bpmn:sequenceFlow id="f4" sourceRef="work" targetRef="join" />
    <bpmn:sequenceFlow id="f5" sourceRef="reminder_due" targetRef="reminder" />
    <bpmn:sequenceFlow id="f6" sourceRef="reminder" targetRef="join" />
    <bpmn:sequenceFlow id="f7" sourceRef="join" targetRef="end" />"""
    + FOOTER
)

#: start → check → a gateway whose conditions name data nobody sets → end: valid at deploy, fails at run time
FAILING_CONDITION = (
    HEADER
    + """
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>"""
    + _task("check", "確認", "f1", "f2")
    + """
    <bpmn:exclusiveGateway id="gw_score" name="点数による分岐"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing><bpmn:outgoing>f4</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:endEvent id="end_high"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end_low"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check" />
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="gw_score" />
    <bpmn:sequenceFlow id="f3" sourceRef="gw_score" targetRef="end_high">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">risk_score &gt;= 3</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f4" sourceRef="gw_score" targetRef="end_low">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">risk_score &lt; 3</bpmn:conditionExpression>
    </bpmn:sequenceFlow>"""
    + FOOTER
)


def _deploy(api, bpmn: str) -> None:
    response = api.post(
        "/definitions",
        data={
            "files": [
                (io.BytesIO(bpmn.encode("utf-8")), "casework/casework.bpmn"),
                (io.BytesIO(NOTE_FORM.encode("utf-8")), "casework/forms/note.form"),
            ],
            "note": "test definition",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()


def _instance(runtime, tenant, case) -> ProcessInstance:
    with transaction(runtime.sessions, tenant.id) as session:
        return session.get(ProcessInstance, (tenant.id, uuid.UUID(case["process_instance_id"])))


def test_a_timer_firing_while_a_user_completes_a_task_of_the_same_case_both_succeed(
    app, api, runtime, tenant, admin
):
    from tests.engine_api.driver import Api

    _deploy(api, PARALLEL)
    cases = [api.start_case() for _ in range(3)]
    works = [api.task(case["id"], "work")["id"] for case in cases]
    versions = [_instance(runtime, tenant, case).version for case in cases]
    clients = [Api(app.test_client(), tenant.slug, admin.token) for _ in cases]

    barrier = threading.Barrier(len(cases) + 1)
    statuses: list[int] = []
    fired: list[int] = []
    errors: list[BaseException] = []

    def complete(client: Api, task_id: str) -> None:
        try:
            barrier.wait()
            statuses.append(
                client.post(f"/tasks/{task_id}/complete", json={"data": {"note": "済"}}).status_code
            )
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def beat() -> None:
        try:
            barrier.wait()
            fired.append(fire_due_timers(runtime, now=utcnow() + timedelta(hours=2)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=complete, args=(c, w)) for c, w in zip(clients, works, strict=True)]
    threads.append(threading.Thread(target=beat))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert statuses == [200, 200, 200]
    assert fired == [3]  # beat waited for the instance rows it needed, never skipped or failed one
    for case, version_before in zip(cases, versions, strict=True):
        assert [t["name"] for t in api.ready_tasks(case["id"])] == ["reminder"]  # work done, timer fired
        assert _instance(runtime, tenant, case).version == version_before + 2  # two commands, none lost
        kinds = [h["kind"] for h in api.case(case["id"])["history"]]
        assert kinds.count("task_completed") == 1 and kinds.count("timer_fired") == 1
    with transaction(runtime.sessions, tenant.id) as session:
        assert session.execute(select(Incident)).scalars().all() == []
        timers = session.execute(select(Timer)).scalars().all()
        assert len(timers) == 3 and all(t.fired_at is not None for t in timers)


def test_an_engine_error_during_a_completion_is_an_incident_and_a_422_and_changes_nothing(
    api, runtime, tenant
):
    _deploy(api, FAILING_CONDITION)
    case = api.start_case()
    task = api.task(case["id"], "check")
    before = api.case(case["id"])
    version = _instance(runtime, tenant, case).version

    response = api.post(f"/tasks/{task['id']}/complete", json={"data": {"note": "確認しました"}})

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "workflow_error"
    assert facts(response.get_json())["element"] == "gw_score"
    assert facts(response.get_json())["element_name"] == "点数による分岐"
    assert "risk_score" in facts(response.get_json())["error"]
    assert "点数による分岐" in error["message"]  # Japanese by default (English with Accept-Language: en)
    # the task is still ready, the case and its history unchanged, the instance as it was
    assert [t["id"] for t in api.ready_tasks(case["id"])] == [task["id"]]
    after = api.case(case["id"])
    assert after["history"] == before["history"] and after["stage"] == before["stage"] == "確認"
    assert _instance(runtime, tenant, case).version == version
    # the incident is recorded on the instance, and visible in the case detail
    (incident,) = after["incidents"]
    assert incident["id"] == facts(response.get_json())["incident_id"]
    assert incident["element"] == "gw_score" and incident["command"] == "complete_task"
    with transaction(runtime.sessions, tenant.id) as session:
        row = session.get(Incident, (tenant.id, uuid.UUID(incident["id"])))
        assert row.process_instance_id == uuid.UUID(case["process_instance_id"])
        assert row.context["task_id"] == task["id"] and row.resolved_at is None
        human = session.get(HumanTask, (tenant.id, uuid.UUID(task["id"])))
        assert human.state == "ready" and human.completed_by is None
        assert session.execute(select(CaseEvent).where(CaseEvent.kind == "task_completed")).first() is None


def test_a_lost_race_is_retried_once_then_answered_409(api, runtime, tenant, admin, monkeypatch):
    """SQLite has no row locks: the instance's version is the safety net. Simulate a writer that always wins
    (inside the request's own transaction: on PostgreSQL the row is locked, so no other could)."""
    from sqlalchemy import update

    from tsunagu.engine import runner

    case = api.start_case()
    task = api.task(case["id"], "intake")
    original = runner.complete_task
    calls: list[int] = []

    def racing_complete(session, instance, task_id, data):
        calls.append(1)
        # a concurrent writer got there first: the row's version moved on between our read and our write
        session.execute(
            update(ProcessInstance)
            .where(ProcessInstance.id == instance.id)
            .values(version=ProcessInstance.version + 1)
            .execution_options(synchronize_session=False)
        )
        return original(session, instance, task_id, data)

    monkeypatch.setattr("tsunagu.engine.services.complete_task", racing_complete)
    from tests.engine_api.driver import fill

    response = api.post(
        f"/tasks/{task['id']}/complete",
        json={"data": fill(task["form_schema"], {"screening_outcome": "continue"})},
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"
    assert len(calls) == 2  # tried, retried once, then answered
    assert [t["name"] for t in api.ready_tasks(case["id"])] == ["intake"]
