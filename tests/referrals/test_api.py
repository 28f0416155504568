"""Issue #20 through the API: a partner refers (only its own referrals are visible), the receiving unit
accepts (new case with provenance, or joined to the same person's case), cooperation round trips and the
department's flag on the next 支援会議."""

from __future__ import annotations

import copy
import uuid

from sqlalchemy import func, select

from tests.referrals.conftest import REFERRAL
from tsunagu.cases.models import Case, CaseEvent, Person, ProgressRecord
from tsunagu.core.session import transaction
from tsunagu.meetings.models import Meeting, MeetingSeries
from tsunagu.notifications.models import Notification
from tsunagu.referrals import services as referrals
from tsunagu.sharing import services as sharing


def _refer(api, body=None) -> dict:
    response = api.post("/referrals", json=body or REFERRAL)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _count(runtime, tenant, model) -> int:
    with transaction(runtime.sessions, tenant.id) as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def _notified(runtime, tenant, user_id) -> list[str]:
    with transaction(runtime.sessions, tenant.id) as session:
        return list(
            session.execute(
                select(Notification.event_key)
                .where(Notification.recipient_id == user_id)
                .order_by(Notification.created_at)
            ).scalars()
        )


def test_accepting_a_referral_starts_a_case_with_its_provenance_and_consent(runtime, demo):
    sent = _refer(demo.houkatsu)
    assert sent["status"] == "received"
    pending = demo.consultant.get("/referrals").get_json()
    assert [r["id"] for r in pending] == [sent["id"]]

    accepted = demo.consultant.post(f"/referrals/{sent['id']}/accept", json={})
    assert accepted.status_code == 200, accepted.get_json()
    case_id = accepted.get_json()["case_id"]
    assert accepted.get_json()["joined_existing"] is False
    with transaction(runtime.sessions, demo.tenant.id) as session:
        case = session.get(Case, (demo.tenant.id, uuid.UUID(case_id)))
        assert case.referral["referral_id"] == sent["id"]
        assert case.referral["source_agency"] == "つなぐ市中央地域包括支援センター"
        consents = sharing.consents_of(session, case.id)
        assert [c.categories for c in consents] == [["general"]]
        titles = [
            e.title for e in session.execute(select(CaseEvent).where(CaseEvent.case_id == case.id)).scalars()
        ]
    assert "関係機関からのつなぎ（つなぐ市中央地域包括支援センター）" in titles

    seen = demo.houkatsu.get(f"/referrals/{sent['id']}").get_json()
    assert seen["status"] == "in_progress"
    assert seen["feedback"]["org_unit"] == "つなぐ市くらし相談センター（委託）"  # consent.feedback allows it
    assert any(k.endswith(":in_progress") for k in _notified(runtime, demo.tenant, demo.houkatsu_id))
    # accepting twice is a conflict, not a second case
    again = demo.consultant.post(f"/referrals/{sent['id']}/accept", json={"new_case": True})
    assert again.status_code == 409
    assert _count(runtime, demo.tenant, Case) == 1


def test_feedback_without_the_persons_agreement_is_the_status_only(demo):
    body = copy.deepcopy(REFERRAL)
    body["consent"]["feedback"] = False
    sent = _refer(demo.houkatsu, body)
    assert demo.consultant.post(f"/referrals/{sent['id']}/accept", json={}).status_code == 200
    seen = demo.houkatsu.get(f"/referrals/{sent['id']}").get_json()
    assert seen["feedback"] == {"status": "in_progress"}


def test_a_referral_of_a_person_with_a_case_is_joined_to_it_after_the_duplicate_check(runtime, demo):
    existing = demo.consultant.start_case(org_unit="soudan-center")
    body = copy.deepcopy(REFERRAL)
    # the same person, written with a full-width space and half-width kana by the referrer
    body["person"] = {"name": "山田　花子", "name_kana": "ﾔﾏﾀﾞ ﾊﾅｺ", "birth_date": "1980-04-01"}
    sent = _refer(demo.houkatsu, body)

    undecided = demo.consultant.post(f"/referrals/{sent['id']}/accept", json={})
    assert undecided.status_code == 409
    error = undecided.get_json()["error"]
    assert error["code"] == "possible_duplicate"
    assert existing["id"] in str(error)

    joined = demo.consultant.post(f"/referrals/{sent['id']}/accept", json={"join_case_id": existing["id"]})
    assert joined.status_code == 200, joined.get_json()
    assert joined.get_json() == {
        "referral_id": sent["id"],
        "case_id": existing["id"],
        "joined_existing": True,
    }
    assert _count(runtime, demo.tenant, Case) == 1
    assert _count(runtime, demo.tenant, Person) == 1
    history = demo.consultant.case(existing["id"])["history"]
    assert any(e["kind"] == "referral" and e["details"]["joined"] for e in history)


def test_joining_a_case_that_is_not_the_same_person_is_refused(demo):
    other = demo.consultant.start_case(
        org_unit="soudan-center",
        person={"name": "別人 次郎", "name_kana": "ベツジン ジロウ", "birth_date": "1970-01-01"},
    )
    sent = _refer(demo.houkatsu)
    response = demo.consultant.post(f"/referrals/{sent['id']}/accept", json={"join_case_id": other["id"]})
    assert response.status_code == 422
    assert "join_case_id" in str(response.get_json()["error"]["details"])


def test_a_partner_cannot_list_or_open_another_partners_referrals_or_any_case(demo):
    sent = _refer(demo.houkatsu)
    case_id = demo.consultant.post(f"/referrals/{sent['id']}/accept", json={}).get_json()["case_id"]

    assert demo.zeimu.get("/referrals").get_json() == []
    assert demo.zeimu.get(f"/referrals/{sent['id']}").status_code == 404
    assert demo.zeimu.get(f"/referrals/{uuid.uuid4()}").status_code == 404
    for api in (demo.houkatsu, demo.zeimu):
        assert api.get(f"/cases/{case_id}").status_code == 404  # even the referrer's own case: not disclosed
        assert api.get(f"/cases/{case_id}/timeline").status_code == 404
        assert api.post(f"/referrals/{sent['id']}/accept", json={}).status_code == 403
    # the referrer itself sees its referral, never the case id
    assert "case_id" not in demo.houkatsu.get(f"/referrals/{sent['id']}").get_json()


def test_a_referral_without_consent_is_anonymous_and_refuses_a_name(demo):
    body = copy.deepcopy(REFERRAL)
    body["consent"] = {"status": "not_yet"}
    response = demo.houkatsu.post("/referrals", json=body)
    assert response.status_code == 422
    assert "person" in response.get_json()["error"]["details"][0]["field"] or "person" in str(
        response.get_json()["error"]["details"]
    )
    del body["person"]
    sent = _refer(demo.houkatsu, body)
    assert sent["anonymous"] is True
    # accepting an anonymous referral needs the person's details, given once they consented
    missing = demo.consultant.post(f"/referrals/{sent['id']}/accept", json={})
    assert missing.status_code == 422
    named = demo.consultant.post(
        f"/referrals/{sent['id']}/accept",
        json={"person": {"name": "匿名 のち", "name_kana": "トクメイ ノチ", "birth_date": "1990-02-02"}},
    )
    assert named.status_code == 200, named.get_json()


def test_bad_referrals_are_422_naming_the_field(demo):
    for change, field in [
        ({"topics": ["nothing"]}, "topics"),
        ({"topics": []}, "topics"),
        ({"urgency": "asap"}, "urgency"),
        ({"reason": ""}, "reason"),
        ({"consent": {"status": "obtained", "categories": ["general"]}}, "given_on"),
    ]:
        response = demo.houkatsu.post("/referrals", json={**REFERRAL, **change})
        assert response.status_code == 422, (change, response.get_json())
        assert field in str(response.get_json()["error"]), (change, response.get_json())


def test_a_request_for_cooperation_round_trip_is_on_the_timeline_and_notifies_both_sides(runtime, demo):
    case = demo.consultant.start_case(org_unit="soudan-center")
    sent = demo.consultant.post(
        f"/cases/{case['id']}/cooperation-requests",
        json={"partner": "houkatsu-chuo", "request": "見守り訪問をお願いします", "due_on": "2099-01-31"},
    )
    assert sent.status_code == 201, sent.get_json()
    request_id = sent.get_json()["id"]
    assert any(
        k.startswith(f"cooperation:{request_id}:sent")
        for k in _notified(runtime, demo.tenant, demo.houkatsu_id)
    )

    listed = demo.houkatsu.get("/cooperation-requests").get_json()
    assert [r["id"] for r in listed] == [request_id] and listed[0]["case_id"] is None
    assert demo.zeimu.get("/cooperation-requests").get_json() == []
    assert (
        demo.zeimu.post(f"/cooperation-requests/{request_id}/response", json={"action": "accept"}).status_code
        == 404
    )
    # a report before accepting is a conflict
    early = demo.houkatsu.post(
        f"/cooperation-requests/{request_id}/response", json={"action": "report", "text": "x"}
    )
    assert early.status_code == 409

    accepted = demo.houkatsu.post(
        f"/cooperation-requests/{request_id}/response", json={"action": "accept", "text": "承知しました"}
    )
    assert accepted.status_code == 200 and accepted.get_json()["status"] == "accepted"
    reported = demo.houkatsu.post(
        f"/cooperation-requests/{request_id}/response",
        json={"action": "report", "text": "12/10 訪問、変わりなし"},
    )
    assert reported.status_code == 200 and reported.get_json()["status"] == "reported"

    history = demo.consultant.case(case["id"])["history"]
    statuses = [e["details"]["status"] for e in history if e["kind"] == "cooperation"]
    assert statuses == ["sent", "accepted", "reported"]
    assert any("12/10 訪問" in e["details"].get("text", "") for e in history if e["kind"] == "cooperation")
    mine = _notified(runtime, demo.tenant, demo.consultant_id)
    assert any(":accepted:" in k for k in mine) and any(":reported:" in k for k in mine)


def test_a_department_flag_without_consent_goes_on_the_next_support_meeting_and_into_no_case(runtime, demo):
    cases_before = _count(runtime, demo.tenant, Case)
    response = demo.zeimu.post(
        "/department-flags",
        json={
            "signs": ["tax_utilities", "food"],
            "summary": "水道料金の滞納が続き、窓口で食事に困っていると話した",
            "no_tax_information": True,
        },
    )
    assert response.status_code == 201, response.get_json()
    flag = response.get_json()
    assert flag["meeting_key"] == "shien-kaigi"
    with transaction(runtime.sessions, demo.tenant.id) as session:
        meeting = session.get(Meeting, (demo.tenant.id, uuid.UUID(flag["meeting_id"])))
        series = session.get(MeetingSeries, (demo.tenant.id, meeting.series_id))
        assert series.kind == "support_meeting"
        upcoming = session.execute(
            select(Meeting).where(
                Meeting.series_id == series.id,
                Meeting.starts_at < meeting.starts_at,
                Meeting.status == "scheduled",
            )
        ).scalars()
        from tsunagu.core.db import utcnow

        assert all(m.starts_at <= utcnow() for m in upcoming)  # the next one, not a later one
        assert [f.summary for f in referrals.flags_for_meeting(session, meeting.id)] == [
            "水道料金の滞納が続き、窓口で食事に困っていると話した"
        ]
        texts = [e.title + str(e.details) for e in session.execute(select(CaseEvent)).scalars()]
        texts += [r.content for r in session.execute(select(ProgressRecord)).scalars()]
    assert not any("水道料金" in t for t in texts)
    assert _count(runtime, demo.tenant, Case) == cases_before
    # tax information is consent-only: the department must confirm there is none
    refused = demo.zeimu.post(
        "/department-flags", json={"signs": ["food"], "summary": "x", "no_tax_information": False}
    )
    assert refused.status_code == 422
    # an agency is no department: it refers with consent instead
    assert (
        demo.houkatsu.post(
            "/department-flags", json={"signs": ["food"], "summary": "x", "no_tax_information": True}
        ).status_code
        == 403
    )
