"""Form conditions and cross-field rules through the JSON API (issue #17): the person who does not apply
completes the consent step without 申込日/署名日 (whatever was sent for them is dropped) and the case ends;
an application still needs both dates; a plan whose end date does not fit its period is refused on both
fields, a future birth date at intake is refused."""

from __future__ import annotations

from tests.engine_api.driver import fill, later


def test_no_application_completes_without_its_dates_and_ends_the_case(api):
    case = api.start_case()
    api.complete(case["id"], "intake", screening_outcome="continue")
    task = api.task(case["id"], "consent")
    data = fill(task["form_schema"], {"consent_application": False})
    data.update(application_date="not a date", signature_date=None)  # hidden: neither checked nor kept
    response = api.post(f"/tasks/{task['id']}/complete", json={"data": data})
    assert response.status_code == 200, response.get_json()
    assert api.ready_tasks(case["id"]) == []
    ended = api.case(case["id"])
    assert ended["status"] == "closed"


def test_an_application_needs_both_dates(api):
    case = api.start_case()
    api.complete(case["id"], "intake", screening_outcome="continue")
    task = api.task(case["id"], "consent")
    data = {"consent_application": True, "consent_agencies": [], "consent_categories": []}
    response = api.post(f"/tasks/{task['id']}/complete", json={"data": data})
    assert response.status_code == 422
    text = str(response.get_json())
    assert "application_date" in text and "signature_date" in text
    assert [t["name"] for t in api.ready_tasks(case["id"])] == ["consent"]


def test_a_plan_end_date_that_does_not_fit_the_period_is_refused_on_both_fields(api):
    case = api.start_case()
    api.complete(case["id"], "intake", screening_outcome="continue")
    api.complete(case["id"], "consent", consent_application=True)
    api.complete(case["id"], "assessment", emergency_support=False, urgency="high")
    task = api.task(case["id"], "plan_draft")
    data = fill(
        task["form_schema"],
        {
            "plan_date": later(0).isoformat(),
            "plan_period": "P6M",
            "plan_end_date": later(120).isoformat(),  # about four months
            "statutory_programmes": [],
        },
    )
    response = api.post(f"/tasks/{task['id']}/complete", json={"data": data})
    assert response.status_code == 422
    text = str(response.get_json())
    assert "plan_end_date" in text and "plan_period" in text and "6か月" in text


def test_a_future_birth_date_at_intake_is_refused(api):
    case = api.start_case()
    task = api.task(case["id"], "intake")
    tomorrow_in_japan_at_least = later(2).isoformat()  # Japan is up to a day ahead of this machine's UTC date
    data = fill(
        task["form_schema"], {"screening_outcome": "continue", "birth_date": tomorrow_in_japan_at_least}
    )
    response = api.post(f"/tasks/{task['id']}/complete", json={"data": data})
    assert response.status_code == 422
    assert "未来の日付は入力できません" in str(response.get_json())
