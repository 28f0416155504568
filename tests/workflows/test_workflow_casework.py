"""The casework process driven in memory, one scenario per path through the MHLW casework flow."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from tests.workflows import samples
from tests.workflows.driver import (
    CaseDriver,
    FakeClock,
    FormRejected,
    decide_meeting,
    default_start_data,
    drive_to_delivery,
    drive_to_meeting,
    make_script_engine,
)


@pytest.fixture
def clock():
    with FakeClock(datetime(2026, 4, 1, 0, 0, tzinfo=UTC)) as c:
        yield c


def plan_end(days: int) -> str:
    return (date(2026, 4, 1) + timedelta(days=days)).isoformat()


def test_intake_with_advice_only_ends_the_case():
    case = CaseDriver()
    assert case.ready() == ["intake"]
    case.complete("intake", samples.intake(screening_outcome="advice_only"))
    assert case.completed
    assert case.ended_at() == ["end_advice_only"]


def test_intake_referred_elsewhere_ends_with_referral():
    case = CaseDriver(start_data=default_start_data(referral={"source": "税務課", "reason": "滞納"}))
    case.complete(
        "intake",
        samples.intake(
            screening_outcome="refer_elsewhere", referral_target="生活保護", contact_route="referral"
        ),
    )
    assert case.ended_at() == ["end_referred"]
    assert case.data["referral"] == {"source": "税務課", "reason": "滞納"}
    assert case.data["referral_target"] == "生活保護"


def test_person_who_does_not_apply_ends_the_case():
    case = CaseDriver()
    case.complete("intake", samples.intake())
    # 申込に至らない: no application or signature date is asked for (conditional.hide), none is kept
    no_application = {"consent_application": False, "consent_agencies": [], "consent_categories": []}
    case.complete("consent", no_application)
    assert case.ended_at() == ["end_no_application"]
    assert case.data["application_date"] is None and case.data["signature_date"] is None


def test_full_path_with_scheduled_meeting_monitoring_and_closure(clock):
    case = CaseDriver(meeting="meeting_scheduled", clock=clock)
    assert case.lane("intake") == "相談支援員"
    drive_to_meeting(case, plan={"plan_end_date": plan_end(100)})
    assert case.ready() == []
    assert case.waiting_messages() == ["consent_withdrawn", "meeting_decided"]
    assert case.operations() == ["notify", "add_to_agenda"]
    assert case.service_calls[0].params == {"template": "plan_ready", "role": "meeting_secretariat"}
    assert case.service_calls[1].params == {
        "purpose": "plan_review",
        "after_the_fact_report": False,
        "priority": 1,
    }

    case.send_message("meeting_decided", {"decision": "approve"})
    assert case.ready() == ["support_decision"]  # household_finance is a statutory programme
    assert case.lane("support_decision") == "自治体職員"
    assert case.data["meeting_decision"] == "approve"
    case.complete("support_decision", samples.support_decision())
    assert case.lane("delivery_start") == "支援提供機関"
    case.complete("delivery_start", samples.progress_record())

    timers = case.waiting_timers()
    assert set(timers) == {"timer_monitoring", "timer_plan_end"}
    assert timers["timer_monitoring"] == clock.now + timedelta(days=30)
    # plan_end_date at midnight Japan time
    assert timers["timer_plan_end"] == datetime(2026, 7, 9, 15, 0, tzinfo=UTC)

    case.advance(days=29)
    assert case.ready() == []
    case.advance(days=2)
    assert case.ready() == ["monitoring"]
    case.complete("monitoring", samples.monitoring())
    assert case.ready() == []
    case.advance(days=31)
    case.complete("monitoring", samples.monitoring(progress_status="partial"))

    case.advance(days=40)  # past the plan end date
    assert case.ready() == ["evaluation"]
    assert case.waiting_timers() == {}
    case.complete("evaluation", samples.evaluation())
    assert case.completed
    assert case.ended_at() == ["end_closed", "end_meeting"]
    assert case.data["got_work"] is True
    assert case.data["income_increase"] is True
    assert case.data["evaluation_outcome"] == "close"


def test_monitoring_follows_the_tenant_interval(clock):
    case = CaseDriver(start_data=default_start_data(monitoring_interval="P14D"), clock=clock)
    drive_to_delivery(case, plan={"plan_end_date": plan_end(120)})
    case.advance(days=13)
    assert case.ready() == []
    case.advance(days=2)
    assert case.ready() == ["monitoring"]


def test_emergency_support_comes_before_the_plan():
    case = CaseDriver()
    case.complete("intake", samples.intake())
    case.complete("consent", samples.consent())
    case.complete("assessment", samples.assessment(emergency_support=True, urgency="high"))
    assert case.ready() == ["emergency"]
    case.complete("emergency", samples.emergency_support())
    assert case.ready() == ["plan_draft"]


def test_early_start_goes_to_the_next_meeting_as_after_the_fact_report(clock):
    case = CaseDriver(meeting="meeting_scheduled", clock=clock)
    case.complete("intake", samples.intake())
    case.complete("consent", samples.consent())
    case.complete("assessment", samples.assessment())
    case.complete("plan_draft", samples.plan(early_start=True, statutory_programmes=[]))
    # support starts before the meeting
    assert case.ready() == ["early_start_delivery"]
    assert case.lane("early_start_delivery") == "支援提供機関"
    case.complete("early_start_delivery", samples.progress_record())
    assert case.ready() == ["after_the_fact_registration"]
    assert case.lane("after_the_fact_registration") == "会議事務局"
    case.complete("after_the_fact_registration", samples.after_the_fact_report())
    assert case.service_calls[-1].operation == "add_to_agenda"
    assert case.service_calls[-1].params["after_the_fact_report"] is True
    assert case.waiting_messages() == ["consent_withdrawn", "meeting_decided"]

    case.send_message("meeting_decided", {"decision": "approve"})
    assert case.data["after_the_fact_report"] is True
    assert case.ready() == ["support_confirmation"]  # no statutory programme
    case.complete("support_confirmation", samples.support_confirmation())
    # delivery already started: straight into monitoring
    assert case.ready() == []
    assert set(case.waiting_timers()) == {"timer_monitoring", "timer_plan_end"}


def test_meeting_asking_for_revision_loops_back_to_the_plan():
    case = CaseDriver(meeting="meeting_scheduled")
    drive_to_meeting(case)
    case.send_message("meeting_decided", {"decision": "revise"})
    assert case.ready() == ["plan_draft"]
    case.complete("plan_draft", samples.plan(short_term_goals="滞納の解消を優先する。"))
    assert case.operations() == ["notify", "add_to_agenda", "notify", "add_to_agenda"]
    case.send_message("meeting_decided", {"decision": "approve"})
    assert case.ready() == ["support_decision"]
    assert case.data["short_term_goals"] == "滞納の解消を優先する。"


def test_meeting_rejection_suspends_the_case():
    case = CaseDriver(meeting="meeting_scheduled")
    drive_to_meeting(case)
    case.send_message("meeting_decided", {"decision": "reject"})
    assert case.completed
    assert case.ended_at() == ["end_meeting", "end_rejected"]


def test_unrecognised_meeting_decision_is_recorded_by_the_secretariat():
    case = CaseDriver(meeting="meeting_scheduled")
    drive_to_meeting(case)
    case.send_message("meeting_decided", {"decision": "postponed"})
    assert case.ready() == ["confirm_meeting_result"]
    case.complete("confirm_meeting_result", samples.meeting_result("approve"))
    assert case.ready() == ["support_decision"]


def test_replan_after_evaluation_returns_to_assessment(clock):
    case = CaseDriver(clock=clock)
    drive_to_delivery(case, plan={"plan_end_date": plan_end(20)})
    case.advance(days=21)
    assert case.ready() == ["evaluation"]
    case.complete("evaluation", samples.evaluation(evaluation_outcome="replan", got_work=False))
    assert case.ready() == ["assessment"]
    case.complete("assessment", samples.assessment(complexity="high"))
    case.complete("plan_draft", samples.plan(plan_end_date=plan_end(60), statutory_programmes=[]))
    decide_meeting(case, "approve")
    case.complete("support_confirmation", samples.support_confirmation())
    case.complete("delivery_start", samples.progress_record())
    case.advance(days=40)
    assert case.ready() == ["evaluation"]
    case.complete("evaluation", samples.evaluation(evaluation_outcome="close", follow_up=True))
    assert case.ready() == ["follow_up_task"]
    case.complete("follow_up_task", samples.follow_up())
    assert case.completed
    assert "end_closed" in case.ended_at()


def test_evaluation_can_suspend(clock):
    case = CaseDriver(clock=clock)
    drive_to_delivery(case, plan={"plan_end_date": plan_end(10)})
    case.advance(days=11)
    case.complete("evaluation", samples.evaluation(evaluation_outcome="suspend"))
    assert "end_suspended" in case.ended_at()


def test_monitoring_can_bring_the_evaluation_forward(clock):
    case = CaseDriver(clock=clock)
    drive_to_delivery(case, plan={"plan_end_date": plan_end(365)})
    case.advance(days=31)
    case.complete("monitoring", samples.monitoring(request_early_evaluation=True))
    assert case.ready() == ["evaluation"]
    assert "end_early_evaluation" in case.ended_at()
    assert case.waiting_timers() == {}


def test_consent_withdrawn_during_delivery_suspends_the_case_at_once(clock):
    case = CaseDriver(clock=clock)
    drive_to_delivery(case, plan={"plan_end_date": plan_end(180)})
    assert case.waiting_timers()
    case.send_message("consent_withdrawn", {"reason": "本人の申出", "received_on": "2026-05-01"})
    assert case.completed
    assert case.ended_at() == ["end_meeting", "end_withdrawn"]
    assert case.waiting_timers() == {}
    assert case.waiting_messages() == []
    assert case.data["consent_withdrawal"] == {"reason": "本人の申出", "received_on": "2026-05-01"}
    case.advance(days=400)  # the cancelled timers never come back
    assert case.ready() == []


def test_consent_withdrawn_while_waiting_for_the_meeting_cancels_the_meeting():
    case = CaseDriver(meeting="meeting_scheduled")
    drive_to_meeting(case)
    assert case.waiting_messages() == ["consent_withdrawn", "meeting_decided"]
    case.send_message("consent_withdrawn", {"reason": "本人の申出"})
    assert case.completed
    assert case.waiting_messages() == []
    assert case.ended_at() == ["end_withdrawn"]


def test_consent_withdrawn_with_a_task_open_cancels_the_task():
    case = CaseDriver()
    case.complete("intake", samples.intake())
    case.complete("consent", samples.consent())
    assert case.ready() == ["assessment"]
    case.send_message("consent_withdrawn", {})
    assert case.ready() == []
    assert case.completed


def test_consent_withdrawn_is_not_awaited_before_the_application():
    case = CaseDriver()
    assert case.waiting_messages() == []


def test_closing_the_case_stops_the_consent_listener(clock):
    case = CaseDriver(clock=clock)
    drive_to_delivery(case, plan={"plan_end_date": plan_end(10)})
    case.advance(days=11)
    case.complete("evaluation", samples.evaluation())
    assert case.completed
    assert case.waiting_messages() == []


def test_casework_with_ad_hoc_meetings():
    case = CaseDriver(meeting="meeting_adhoc")
    drive_to_meeting(case)
    assert case.ready() == ["convene_adhoc"]
    assert case.lane("convene_adhoc") == "会議事務局"
    case.complete("convene_adhoc", samples.adhoc_convene())
    schedule = case.service_calls[-1]
    assert schedule.operation == "schedule_meeting"
    assert schedule.params["scope"] == "adhoc"
    assert schedule.params["meeting_date"] == "2026-04-18"
    case.complete("record_meeting_result", samples.meeting_result("revise"))
    assert case.ready() == ["plan_draft"]


@pytest.mark.parametrize(
    ("assessment", "plan", "route", "first_task"),
    [
        ({"urgency": "high"}, {}, "adhoc", "convene_adhoc"),
        ({"urgency": "normal", "complexity": "low", "external_agencies": True}, {}, "adhoc", "convene_adhoc"),
        ({"external_agencies": False}, {"internal_only": True}, "adhoc_internal", "convene_internal"),
        ({"urgency": "normal", "complexity": "normal"}, {}, "scheduled", None),
    ],
    ids=["urgent", "simple-with-external-agencies", "kunitachi-internal-only", "ordinary"],
)
def test_casework_with_hybrid_meetings_routes_by_the_decision_table(assessment, plan, route, first_task):
    case = CaseDriver(meeting="meeting_hybrid")
    drive_to_meeting(case, assessment=assessment, plan=plan)
    if first_task:
        assert case.ready() == [first_task]
    else:
        assert case.ready() == []
        assert case.waiting_messages() == ["consent_withdrawn", "meeting_decided"]
        assert case.operations()[-1] == "add_to_agenda"
    decide_meeting(case, "approve")
    assert case.data["route"] == route
    assert case.data["meeting_decision"] == "approve"
    if first_task:
        assert case.service_calls[-1].params["scope"] == route
    assert case.ready() == ["support_decision"]


def test_invalid_form_data_is_refused_and_the_task_stays_open():
    case = CaseDriver()
    with pytest.raises(FormRejected) as err:
        case.complete("intake", samples.intake(name="", name_kana="yamada", household_size="-1"))
    assert err.value.errors == {
        "name": ["必須項目です"],
        "name_kana": ["形式が正しくありません"],
        "household_size": ["1以上の値を入力してください"],
    }
    assert case.ready() == ["intake"]


def test_unknown_form_keys_never_reach_task_data():
    case = CaseDriver()
    case.complete("intake", samples.intake(is_admin=True, __proto__="x"))
    case.complete("consent", samples.consent())
    assert "is_admin" not in case.data
    assert "__proto__" not in case.data


def test_a_running_case_survives_serialization(clock):
    """Waiting on a message inside the called meeting and on timers, the state round-trips through JSON."""
    case = CaseDriver(meeting="meeting_scheduled", clock=clock)
    drive_to_meeting(case, plan={"plan_end_date": plan_end(90)})
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))

    def roundtrip():
        restored = serializer.deserialize_json(serializer.serialize_json(case.workflow))
        restored.script_engine = make_script_engine(case.service_calls)
        case.workflow = restored

    roundtrip()
    case.send_message("meeting_decided", {"decision": "approve"})
    case.complete("support_decision", samples.support_decision())
    case.complete("delivery_start", samples.progress_record())
    roundtrip()
    case.advance(days=31)
    assert case.ready() == ["monitoring"]
    case.complete("monitoring", samples.monitoring())
    roundtrip()
    case.advance(days=60)
    assert case.ready() == ["evaluation"]
