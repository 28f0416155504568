"""Cases driven through the JSON API from intake to closure, for each preset's meeting style, on PostgreSQL.

Timers (monitoring, plan end) are fired by the beat poller (``fire_due_timers``) with a controlled clock.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.engine_api.driver import Api, later
from tests.factories import make_user, tenant_row
from tsunagu.core.db import utcnow
from tsunagu.tenancy.sync import sync_presets

REPO = Path(__file__).resolve().parents[2]
PLAN_END = later(180).isoformat()


@pytest.fixture
def presets(runtime):
    sync_presets(runtime, REPO / "tenants")


def _api(client, runtime, slug: str) -> Api:

    tenant = tenant_row(runtime, slug)
    user = make_user(runtime, tenant, email=f"admin@{slug}.example.jp", roles=["tenant_admin"])
    return Api(client, slug, user.token)


def _fire_timers(runtime, days: int) -> int:
    from tsunagu.cases.services import fire_due_timers

    return fire_due_timers(runtime, now=utcnow() + timedelta(days=days))


_ASSESSMENT_KEYS = ("urgency", "complexity", "external_agencies")


def _through_plan(api: Api, case_id: str, **plan: object) -> None:
    api.complete(case_id, "intake", screening_outcome="continue")
    api.complete(case_id, "consent", consent_application=True)
    api.complete(
        case_id,
        "assessment",
        emergency_support=False,
        **{k: v for k, v in plan.items() if k in _ASSESSMENT_KEYS},
    )
    plan_fields = {k: v for k, v in plan.items() if k not in _ASSESSMENT_KEYS}
    plan_fields.setdefault("early_start", False)
    plan_fields.setdefault("statutory_programmes", [])
    api.complete(case_id, "plan_draft", plan_end_date=PLAN_END, **plan_fields)


def _deliver_monitor_evaluate(api: Api, runtime, case_id: str, outcome: str = "close") -> None:
    ready = [t["name"] for t in api.ready_tasks(case_id)]
    if "delivery_start" in ready:
        api.complete(case_id, "delivery_start")
    assert api.ready_tasks(case_id) == []  # waiting for the monitoring timer
    assert _fire_timers(runtime, days=40) == 1
    api.complete(case_id, "monitoring", request_early_evaluation=False)
    assert _fire_timers(runtime, days=200) >= 1  # plan end (and the next monitoring timer is cancelled)
    api.complete(case_id, "evaluation", evaluation_outcome=outcome)


def _close(api: Api, case_id: str) -> dict:
    ready = [t["name"] for t in api.ready_tasks(case_id)]
    if "follow_up_task" in ready:
        api.complete(case_id, "follow_up_task")
    return api.case(case_id)


def test_iwamizawa_scheduled_case_from_intake_to_closure(client, runtime, presets):
    api = _api(client, runtime, "iwamizawa")
    case = api.start_case()
    _through_plan(api, case["id"], statutory_programmes=["employment_preparation"])
    assert api.ready_tasks(case["id"]) == []  # on the next regular meeting's agenda, waiting for its decision
    assert api.message(case["id"], "meeting_decided", {"decision": "approve"}).status_code == 200
    api.complete(case["id"], "support_decision")  # statutory programme in the plan: formal decision
    _deliver_monitor_evaluate(api, runtime, case["id"])
    detail = _close(api, case["id"])
    assert detail["status"] == "closed"
    assert detail["outcome"] == "end_closed"
    assert detail["outcome"] == "end_closed"
    kinds = [h["kind"] for h in detail["history"]]
    assert kinds.count("timer_fired") >= 2 and "message" in kinds


def test_iwamizawa_early_start_goes_on_the_agenda_as_after_the_fact_report(client, runtime, presets):
    api = _api(client, runtime, "iwamizawa")
    case = api.start_case()
    _through_plan(api, case["id"], early_start=True)
    assert [t["name"] for t in api.ready_tasks(case["id"])] == ["early_start_delivery"]  # support starts now
    api.complete(case["id"], "early_start_delivery")
    api.complete(case["id"], "after_the_fact_registration", after_the_fact_report=True)
    assert api.message(case["id"], "meeting_decided", {"decision": "approve"}).status_code == 200
    api.complete(case["id"], "support_confirmation")  # no statutory programme: confirmation only
    _deliver_monitor_evaluate(api, runtime, case["id"])
    assert _close(api, case["id"])["status"] == "closed"


def test_yokohama_hybrid_routes_an_individual_plan_to_an_ad_hoc_meeting(client, runtime, presets):
    api = _api(client, runtime, "yokohama")
    case = api.start_case(org_unit="kohoku")
    _through_plan(api, case["id"], urgency="high")
    api.complete(case["id"], "convene_adhoc")
    api.complete(case["id"], "record_meeting_result", meeting_decision="approve")
    api.complete(case["id"], "support_confirmation")
    _deliver_monitor_evaluate(api, runtime, case["id"])
    assert _close(api, case["id"])["status"] == "closed"


def test_kunitachi_urgent_case_goes_ad_hoc_and_ordinary_case_waits_for_the_monthly_meeting(
    client, runtime, presets
):
    api = _api(client, runtime, "kunitachi")
    urgent = api.start_case()
    ordinary = api.start_case()
    _through_plan(api, urgent["id"], urgency="high")
    _through_plan(api, ordinary["id"], urgency="normal", complexity="normal")
    assert [t["name"] for t in api.ready_tasks(urgent["id"])] == ["convene_adhoc"]
    assert api.ready_tasks(ordinary["id"]) == []  # waiting on the regular meeting
    assert api.message(urgent["id"], "meeting_decided", {"decision": "approve"}).status_code == 409
    assert api.message(ordinary["id"], "meeting_decided", {"decision": "approve"}).status_code == 200
    api.complete(ordinary["id"], "support_confirmation")
    _deliver_monitor_evaluate(api, runtime, ordinary["id"])
    assert _close(api, ordinary["id"])["status"] == "closed"


def test_kunitachi_internal_only_case_uses_the_internal_ad_hoc_row(client, runtime, presets):
    api = _api(client, runtime, "kunitachi")
    case = api.start_case()
    _through_plan(api, case["id"], urgency="normal", complexity="low", internal_only=True)  # not complex
    assert [t["name"] for t in api.ready_tasks(case["id"])] == ["convene_internal"]


def test_replan_loop_returns_to_assessment_and_then_closes(client, runtime, presets):
    api = _api(client, runtime, "yokohama")
    case = api.start_case()
    _through_plan(api, case["id"], urgency="high")
    api.complete(case["id"], "convene_adhoc")
    api.complete(case["id"], "record_meeting_result", meeting_decision="approve")
    api.complete(case["id"], "support_confirmation")
    _deliver_monitor_evaluate(api, runtime, case["id"], outcome="replan")
    assert [t["name"] for t in api.ready_tasks(case["id"])] == ["assessment"]
    api.complete(case["id"], "assessment", emergency_support=False, urgency="high")
    api.complete(
        case["id"],
        "plan_draft",
        plan_end_date=later(360).isoformat(),
        early_start=False,
        statutory_programmes=[],
    )
    api.complete(case["id"], "convene_adhoc")
    api.complete(case["id"], "record_meeting_result", meeting_decision="approve")
    api.complete(case["id"], "support_confirmation")
    api.complete(case["id"], "delivery_start")
    assert _fire_timers(runtime, days=40) == 1
    api.complete(case["id"], "monitoring", request_early_evaluation=False)
    assert _fire_timers(runtime, days=400) >= 1
    api.complete(case["id"], "evaluation", evaluation_outcome="close")
    detail = _close(api, case["id"])
    assert detail["status"] == "closed"
    assessments = [h for h in detail["history"] if h["element"] == "assessment"]
    assert len(assessments) == 2
