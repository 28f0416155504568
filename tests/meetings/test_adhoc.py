"""Done when 5: an ad hoc meeting's invitations (.ics through the real SMTP path) parse back with ``icalendar``;
an external professional declines with written input; the meeting page shows who is missing and what they wrote.
"""

from __future__ import annotations

import uuid

import icalendar
from sqlalchemy import select

from tests.engine_api.test_casework_presets import _api, _through_plan
from tests.factories import make_user, tenant_row
from tests.notifications.test_email import drain
from tsunagu.core.session import transaction
from tsunagu.meetings.models import Meeting


def _calendars(smtp_server) -> list[tuple[str, icalendar.Calendar]]:
    found = []
    for message in smtp_server.recorder.messages():
        for part in message.walk():
            if part.get_content_type() == "text/calendar":
                found.append(
                    (str(message["To"]), icalendar.Calendar.from_ical(part.get_payload(decode=True)))
                )
    return found


def test_adhoc_invitations_parse_back_and_a_declined_external_shows_with_written_input(
    client, runtime, presets, inline, smtp_server, act_as
):
    api = _api(client, runtime, "yokohama")
    yokohama = tenant_row(runtime, "yokohama")
    case = api.start_case(org_unit="kohoku")
    _through_plan(api, case["id"], urgency="high")
    api.complete(case["id"], "convene_adhoc", meeting_date="2027-01-12", meeting_time="14:00")
    drain(inline)  # schedule_meeting runs in the worker and convenes the meeting
    with transaction(runtime.sessions, yokohama.id) as session:
        meeting = session.execute(
            select(Meeting).where(Meeting.case_id == uuid.UUID(case["id"]))
        ).scalar_one()
    external = make_user(runtime, yokohama, email="psw@hospital.example.jp", roles=["external_participant"])
    added = api.post(
        f"/meetings/{meeting.id}/participants",
        json={
            "name": "病院 PSW 花子",
            "kind": "external",
            "organisation": "市民病院",
            "user_id": str(external.user.id),
        },
    )
    assert added.status_code == 201, added.get_json()
    drain(inline)

    calendars = _calendars(smtp_server)
    to_external = [c for to, c in calendars if "psw@hospital.example.jp" in to]
    assert len(to_external) == 1 and len(calendars) == 2  # the consultant got theirs when it was convened
    event = to_external[0].walk("VEVENT")[0]
    assert str(to_external[0]["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == f"meeting-{meeting.id}@yokohama.tsunagu"
    assert str(event["SUMMARY"]) == meeting.title and "区" in str(event["SUMMARY"])
    assert event.decoded("DTSTART").isoformat() == "2027-01-12T05:00:00+00:00"  # 14:00 JST
    assert str(event["ATTENDEE"]) == "mailto:psw@hospital.example.jp"

    participant_id = added.get_json()["id"]
    ext_api = type(api)(client, "yokohama", external.token)
    refused = ext_api.post(
        f"/meetings/{meeting.id}/participants/{participant_id}/reply", json={"reply": "maybe"}
    )
    assert refused.status_code == 422
    declined = ext_api.post(
        f"/meetings/{meeting.id}/participants/{participant_id}/reply",
        json={"reply": "decline", "written_input": "外来の都合で欠席します。服薬は安定しています。"},
    )
    assert declined.status_code == 200, declined.get_json()
    detail = api.get(f"/meetings/{meeting.id}").get_json()
    assert detail["missing"] == [participant_id]
    assert [p["written_input"] for p in detail["participants"] if p["id"] == participant_id] == [
        "外来の都合で欠席します。服薬は安定しています。"
    ]

    secretariat = act_as(yokohama, ["meeting_secretariat"])
    page = secretariat.get(f"/meetings/{meeting.id}").get_data(as_text=True)
    missing_block = page[page.index('class="missing"') :]
    assert "病院 PSW 花子" in missing_block and "外来の都合で欠席します。" in missing_block
    assert "担当相談支援員" in page  # the consultant, invited when it was convened
