"""Versioned deployments mid-flight, hostile uploads, and concurrent timer pollers on PostgreSQL."""

from __future__ import annotations

import io
import threading
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from tests.engine_api.driver import drive_to_monitoring
from tests.support.api_errors import problems as problems_of
from tsunagu.cases.services import fire_due_timers
from tsunagu.core.db import utcnow
from tsunagu.core.session import transaction
from tsunagu.engine.models import Timer

REPO = Path(__file__).resolve().parents[2]
CASEWORK = (REPO / "workflows" / "casework" / "casework.bpmn").read_text(encoding="utf-8")


def _deploy(api, name: str, text: str):
    return api.post(
        "/definitions",
        data={"files": [(io.BytesIO(text.encode("utf-8")), name)], "note": "test"},
        content_type="multipart/form-data",
    )


def _run_to_close(api, runtime, case_id: str) -> None:
    drive_to_monitoring(api, case_id)
    assert fire_due_timers(runtime, now=utcnow() + timedelta(days=40)) >= 1
    api.complete(case_id, "monitoring", request_early_evaluation=False)
    assert fire_due_timers(runtime, now=utcnow() + timedelta(days=200)) >= 1
    api.complete(case_id, "evaluation", evaluation_outcome="close")
    if any(t["name"] == "follow_up_task" for t in api.ready_tasks(case_id)):
        api.complete(case_id, "follow_up_task")


def test_a_new_version_mid_flight_runs_new_cases_while_running_cases_keep_theirs(api, runtime):
    old = api.start_case()
    api.complete(old["id"], "intake", screening_outcome="continue")
    assert api.case(old["id"])["process_version"] == 1

    revised = CASEWORK.replace('name="申込・同意"', 'name="申込・同意（改訂版）"')
    assert revised != CASEWORK
    deployed = _deploy(api, "casework/casework.bpmn", revised)
    assert deployed.status_code == 201, deployed.get_json()
    assert deployed.get_json()["version"] == 2

    new = api.start_case()
    api.complete(new["id"], "intake", screening_outcome="continue")
    assert api.case(new["id"])["process_version"] == 2
    assert api.task(new["id"], "consent")["title"] == "申込・同意（改訂版）"
    assert api.task(old["id"], "consent")["title"] == "申込・同意"

    _run_to_close(api, runtime, old["id"])
    _run_to_close(api, runtime, new["id"])
    assert api.case(old["id"])["status"] == "closed"
    assert api.case(old["id"])["process_version"] == 1
    assert api.case(new["id"])["status"] == "closed"


def test_hostile_or_invalid_uploads_are_refused_and_deploy_nothing(api):
    api.start_case()  # deploys the library as version 1
    xxe = '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>'
    script = CASEWORK.replace(
        '<bpmn:userTask id="intake"',
        '<bpmn:scriptTask id="evil"><bpmn:script>__import__("os").system("id")</bpmn:script></bpmn:scriptTask>'
        '<bpmn:userTask id="intake"',
    )
    attack = CASEWORK.replace("screening_outcome == 'advice_only'", "().__class__.__base__.__subclasses__()")
    for name, text, needle in (
        ("casework/casework.bpmn", xxe, "DOCTYPE"),
        ("casework/casework.bpmn", script, "evil"),
        ("casework/casework.bpmn", attack, "Flow_03"),
        ("casework/casework.bpmn", "<not-xml", "casework.bpmn"),
    ):
        response = _deploy(api, name, text)
        assert response.status_code == 422, response.get_json()
        problems = " ".join(problems_of(response.get_json()))
        assert needle in problems, problems
    versions = [d["version"] for d in api.get("/definitions").get_json()]
    assert versions == [1]


def test_two_pollers_at_once_fire_every_due_timer_exactly_once(api, runtime, tenant):
    from tsunagu.core.runtime import Runtime

    cases = [api.start_case() for _ in range(6)]
    for case in cases:
        drive_to_monitoring(api, case["id"])
    with transaction(runtime.sessions, tenant.id) as session:
        waiting = session.execute(
            select(func.count())
            .select_from(Timer)
            .where(Timer.fired_at.is_(None), Timer.cancelled_at.is_(None))
        ).scalar_one()
    assert (
        waiting == 12
    )  # a monitoring timer and a plan-end timer per case; only monitoring is due at +40 days

    now = utcnow() + timedelta(days=40)
    pollers = [Runtime.from_settings(runtime.settings) for _ in range(2)]
    fired: list[int] = []
    barrier = threading.Barrier(2)

    def poll(rt) -> None:
        barrier.wait()
        fired.append(fire_due_timers(rt, now=now))

    threads = [threading.Thread(target=poll, args=(rt,)) for rt in pollers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for rt in pollers:
        rt.dispose()

    assert sum(fired) == 6
    with transaction(runtime.sessions, tenant.id) as session:
        rows = session.execute(select(Timer).where(Timer.fired_at.is_not(None))).scalars().all()
    assert len(rows) == 6
    for case in cases:
        monitoring = [t for t in api.ready_tasks(case["id"]) if t["name"] == "monitoring"]
        assert len(monitoring) == 1
        timer_events = [h for h in api.case(case["id"])["history"] if h["kind"] == "timer_fired"]
        assert len(timer_events) == 1


def test_unknown_case_and_task_ids_answer_404(api):
    assert api.get(f"/cases/{uuid.uuid4()}").status_code == 404
    assert api.get("/cases/not-a-uuid").status_code == 404
    assert api.post(f"/tasks/{uuid.uuid4()}/complete", json={"data": {}}).status_code == 404


def test_a_form_whose_rule_names_a_missing_field_is_refused_at_deploy(api):
    """The forms module's own loader runs at deploy: a form that would fail every completion is a 422 there."""
    import json

    api.start_case()  # deploys the library as version 1
    form = json.loads((REPO / "workflows" / "casework" / "forms" / "intake.form").read_text(encoding="utf-8"))

    def rename(components):
        for c in components:
            if c.get("key") == "reception_date":
                c["key"] = "uketsuke_bi"  # renamed, but the not-in-future rule still names reception_date
            rename(c.get("components") or [])

    rename(form["components"])
    assert "reception_date" in json.dumps(form.get("tsunagu"))
    response = _deploy(api, "casework/forms/intake.form", json.dumps(form, ensure_ascii=False))
    assert response.status_code == 422, response.get_json()
    problems = " ".join(problems_of(response.get_json()))
    assert "intake.form" in problems and "reception_date" in problems, problems
    assert [d["version"] for d in api.get("/definitions").get_json()] == [1]
