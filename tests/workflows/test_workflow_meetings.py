"""The three meeting processes on their own, started with the data casework passes to the call activity."""

from __future__ import annotations

import pytest

from tests.workflows import samples
from tests.workflows.driver import CaseDriver, default_start_data


def meeting_input(**kw):
    """What casework hands to the meeting: start data plus assessment and plan fields."""
    data = default_start_data(
        urgency="normal", complexity="normal", external_agencies=True, internal_only=False, early_start=False
    )
    data.update(kw)
    return data


@pytest.mark.parametrize("decision", ["approve", "revise", "reject"])
def test_scheduled_meeting_returns_the_decision_from_the_message(decision):
    m = CaseDriver(process="meeting_scheduled", start_data=meeting_input())
    assert m.ready() == []
    assert m.operations() == ["add_to_agenda"]
    assert m.waiting_messages() == ["meeting_decided"]
    m.send_message("meeting_decided", {"decision": decision, "meeting_id": "m-7"})
    assert m.completed
    assert m.data["meeting_decision"] == decision
    assert m.data["meeting_message"] == {"decision": decision, "meeting_id": "m-7"}


def test_scheduled_meeting_registers_early_start_as_after_the_fact_report():
    m = CaseDriver(process="meeting_scheduled", start_data=meeting_input(early_start=True))
    assert m.ready() == ["after_the_fact_registration"]
    with pytest.raises(AssertionError, match="after_the_fact_report"):
        m.complete("after_the_fact_registration", samples.after_the_fact_report(after_the_fact_report=False))
    m.complete("after_the_fact_registration", samples.after_the_fact_report())
    assert m.service_calls[-1].params == {
        "purpose": "plan_review",
        "after_the_fact_report": True,
        "priority": 1,
    }
    m.send_message("meeting_decided", {"decision": "approve"})
    assert m.data["after_the_fact_report"] is True
    assert m.data["meeting_decision"] == "approve"


def test_ad_hoc_meeting_is_convened_then_recorded():
    m = CaseDriver(process="meeting_adhoc", start_data=meeting_input())
    assert m.ready() == ["convene_adhoc"]
    m.complete("convene_adhoc", samples.adhoc_convene())
    assert m.service_calls[-1].params == {
        "scope": "adhoc",
        "meeting_date": "2026-04-18",
        "meeting_time": "14:00",
        "purpose": "plan_review",
    }
    m.complete("record_meeting_result", samples.meeting_result("approve"))
    assert m.completed
    assert m.data["meeting_decision"] == "approve"
    assert m.data["written_input"].startswith("社協")


def test_ad_hoc_meeting_refuses_a_bad_time():
    m = CaseDriver(process="meeting_adhoc", start_data=meeting_input())
    with pytest.raises(AssertionError, match="meeting_time"):
        m.complete("convene_adhoc", samples.adhoc_convene(meeting_time="25:00"))


@pytest.mark.parametrize(
    ("inputs", "route"),
    [
        ({"urgency": "high"}, "adhoc"),
        ({"urgency": "high", "internal_only": True}, "adhoc"),  # first row wins
        ({"complexity": "low", "external_agencies": True}, "adhoc"),
        ({"complexity": "low", "external_agencies": False}, "scheduled"),
        ({"complexity": "normal", "external_agencies": True}, "scheduled"),
        ({"internal_only": True, "external_agencies": False}, "adhoc_internal"),
        ({"urgency": "low", "complexity": "high"}, "scheduled"),
    ],
)
def test_hybrid_route_table(inputs, route):
    m = CaseDriver(process="meeting_hybrid", start_data=meeting_input(**inputs))
    assert m.data["route"] == route
    expected = {"adhoc": ["convene_adhoc"], "adhoc_internal": ["convene_internal"], "scheduled": []}[route]
    assert m.ready() == expected


def test_hybrid_internal_only_meeting_is_scheduled_with_internal_scope():
    m = CaseDriver(
        process="meeting_hybrid", start_data=meeting_input(internal_only=True, external_agencies=False)
    )
    m.complete("convene_internal", samples.adhoc_internal_convene())
    assert m.service_calls[-1].operation == "schedule_meeting"
    assert m.service_calls[-1].params["scope"] == "adhoc_internal"
    m.complete("record_meeting_result", samples.meeting_result("revise"))
    assert m.data["meeting_decision"] == "revise"


def test_hybrid_scheduled_path_waits_for_the_meeting_and_handles_early_start():
    m = CaseDriver(process="meeting_hybrid", start_data=meeting_input(early_start=True))
    assert m.ready() == ["after_the_fact_registration"]
    m.complete("after_the_fact_registration", samples.after_the_fact_report())
    assert m.waiting_messages() == ["meeting_decided"]
    m.send_message("meeting_decided", {"decision": "reject"})
    assert m.completed
    assert m.data["meeting_decision"] == "reject"
