"""The pages: the calendar (and its event feed with holidays), the secretariat's meeting page recording
attendance and a decision that moves the case on, the printable agenda (PDF with Japanese text), isolation."""

from __future__ import annotations

import io
import uuid
from datetime import date

import pypdf

from tests.engine_api.driver import Api
from tests.factories import make_user, tenant_row
from tests.meetings.conftest import drain_service_tasks
from tests.meetings.test_agenda_and_decisions import _through_plan
from tsunagu.core.session import transaction
from tsunagu.meetings import services as meetings


def _case_on_agenda(client, runtime) -> tuple[Api, str, uuid.UUID]:
    tenant = tenant_row(runtime, "iwamizawa")
    user = make_user(runtime, tenant, email="c@iwamizawa.example.jp", roles=["tenant_admin", "consultant"])
    api = Api(client, "iwamizawa", user.token)
    case = api.start_case()
    _through_plan(api, case["id"])
    drain_service_tasks(runtime)
    with transaction(runtime.sessions, tenant.id) as session:
        item = meetings.open_item_of(session, uuid.UUID(case["id"]))
        assert item is not None
        return api, case["id"], item.meeting_id


def test_the_secretariat_records_attendance_and_a_decision_on_the_page_and_prints_the_agenda(
    client, runtime, presets, act_as
):
    api, case_id, meeting_id = _case_on_agenda(client, runtime)
    tenant = tenant_row(runtime, "iwamizawa")
    secretariat = act_as(tenant, ["meeting_secretariat"])
    page = secretariat.get(f"/meetings/{meeting_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "山田 花子" in html and "新規プラン" in html and "15分" in html  # a case reader sees the name

    refused = secretariat.post(  # the consultant is required: 422, nothing stored
        f"/meetings/{meeting_id}/attendance",
        {"rows": "1", "name-0": "市 職員", "kind-0": "municipal", "attended-0": "on"},
    )
    assert refused.status_code == 422 and "consultant" in refused.get_data(as_text=True)
    ok = secretariat.post(
        f"/meetings/{meeting_id}/attendance",
        {
            "rows": "3",
            **{"name-0": "市 職員", "kind-0": "municipal", "attended-0": "on"},
            **{"name-1": "相談 支援員", "kind-1": "consultant", "attended-1": "on"},
            **{"name-2": "山田 花子", "kind-2": "person", "condition-2": "体調不良のため欠席"},
        },
    )
    assert ok.status_code == 303
    decided = secretariat.post(
        f"/meetings/{meeting_id}/decisions", {"case_id": case_id, "outcome": "approve", "notes": "原案どおり"}
    )
    assert decided.status_code == 303
    assert [t["name"] for t in api.ready_tasks(case_id)] == ["support_confirmation"]
    html = secretariat.get(f"/meetings/{meeting_id}").get_data(as_text=True)
    assert "承認 — 原案どおり" in html and "体調不良のため欠席" in html

    pdf = secretariat.client.get(secretariat.url(f"/meetings/{meeting_id}/agenda.pdf"))
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.data)).pages)
    assert "支援調整会議" in text and "山田 花子" in text and "承認" in text and "令和" in text


def test_the_calendar_page_and_its_feed_mark_holidays_and_planned_dates(client, runtime, presets, act_as):
    tenant = tenant_row(runtime, "iwamizawa")
    staff = act_as(tenant, ["consultant"])
    page = staff.get("/meetings")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "meeting-calendar-data" in html and "dist/fullcalendar/index.global.min.js" in html
    assert "支援調整会議（ケース検討）" in html  # the no-script list of the next two months
    feed = staff.get(
        "/meetings/events.json?start=2027-04-25T00:00:00%2B09:00&end=2027-06-06T00:00:00%2B09:00"
    )
    events = feed.get_json()
    holidays = {e["start"]: e["title"] for e in events if e.get("display") == "background"}
    assert holidays["2027-05-05"] == "こどもの日"
    meetings_on = [e for e in events if e.get("display") != "background"]
    assert any(e["start"] == "2027-05-06T13:30:00" for e in meetings_on)  # moved for the holiday (JST)
    assert all("url" not in e and "予定" in e["title"] for e in meetings_on if "2027-06-01" < e["start"])


def test_another_tenant_cannot_open_a_meeting(client, runtime, presets, act_as):
    _api, _case_id, meeting_id = _case_on_agenda(client, runtime)
    other = tenant_row(runtime, "kunitachi")
    outsider = act_as(other, ["tenant_admin"])
    assert outsider.get(f"/meetings/{meeting_id}").status_code == 404
    token = make_user(runtime, other, email="a@kunitachi.example.jp", roles=["tenant_admin"]).token
    assert Api(client, "kunitachi", token).get(f"/meetings/{meeting_id}").status_code == 404
    listing = Api(client, "kunitachi", token).get("/meetings?from=2027-01-01&to=2027-01-31").get_json()
    assert {m["series_key"] for m in listing["meetings"]} == {"monthly-regular"}


def test_the_api_answers_any_range_and_refuses_bad_input_with_4xx(client, runtime, presets):
    api, case_id, meeting_id = _case_on_agenda(client, runtime)
    year = api.get("/meetings?from=2027-04-01&to=2028-03-31").get_json()["meetings"]
    assert len(year) == 36 + 12 and all(m["planned"] for m in year if m["starts_at"] > "2027-04")
    assert api.get("/meetings?from=2027-04-01").status_code == 422
    assert api.get("/meetings?from=2027-04-01&to=2029-04-01").status_code == 422
    assert api.get("/meetings?from=x&to=y").status_code == 422
    assert api.get("/meetings/not-an-id").status_code == 404
    detail = api.get(f"/meetings/{meeting_id}").get_json()
    assert [a["case_id"] for a in detail["agenda"]] == [case_id] and detail["total_minutes"] == 15
    bad = api.post(f"/meetings/{meeting_id}/decisions", json={"case_id": case_id, "outcome": "yes"})
    assert bad.status_code == 422
    assert api.post(f"/meetings/{meeting_id}/decisions", json=["x"]).status_code == 422
    assert api.post(f"/meetings/{meeting_id}/attendance", json={"attendance": "all"}).status_code == 422
    ok = api.post(f"/meetings/{meeting_id}/decisions", json={"case_id": case_id, "outcome": "approve"})
    assert ok.status_code == 200 and ok.get_json()["outcome"] == "approve"
    again = api.post(f"/meetings/{meeting_id}/decisions", json={"case_id": case_id, "outcome": "approve"})
    assert again.status_code == 409
    doc = api.get("/openapi.json").get_json()
    assert {"/meetings", "/meetings/{meeting_id}", "/meetings/{meeting_id}/decisions"} <= set(doc["paths"])
    assert date.fromisoformat(year[0]["starts_at"][:10]) >= date(2027, 4, 1)


def test_a_secret_feed_url_serves_the_calendar_until_it_is_revoked(client, runtime, presets):
    import icalendar

    api, _case_id, meeting_id = _case_on_agenda(client, runtime)
    made = api.post("/meetings/feeds", json={})
    assert made.status_code == 201
    url = made.get_json()["url"]
    path = url[url.index("/t/") :]
    served = client.get(path)  # no token, no cookie: the URL is the credential
    assert served.status_code == 200 and served.mimetype == "text/calendar"
    cal = icalendar.Calendar.from_ical(served.data)
    uids = [str(e["UID"]) for e in cal.walk("VEVENT")]
    assert f"meeting-{meeting_id}@iwamizawa.tsunagu" in uids
    assert any(u.startswith("planned-") for u in uids)  # dates beyond the horizon, as TENTATIVE
    assert "山田" not in served.get_data(as_text=True)  # no case data in a feed
    assert client.get(path.replace(".ics", "x.ics")).status_code == 404
    assert api.post(f"/meetings/feeds/{made.get_json()['id']}/revoke").status_code == 200
    assert client.get(path).status_code == 404


def test_the_calendar_of_a_user_without_an_org_unit_shows_no_units_meetings(client, runtime, presets):
    """Fail closed: no unit means the municipality-wide meetings only, not every ward's."""
    tenant = tenant_row(runtime, "yokohama")
    admin = make_user(
        runtime, tenant, email="w@yokohama.example.jp", roles=["tenant_admin"], tenant_wide=True
    )
    nowhere = make_user(
        runtime, tenant, email="n@yokohama.example.jp", roles=["consultant"], tenant_wide=True
    )
    today = date.today()
    span = f"/meetings?from={today.isoformat()}&to={date.fromordinal(today.toordinal() + 120).isoformat()}"
    seen_by_admin = Api(client, "yokohama", admin.token).get(span).get_json()["meetings"]
    seen_by_nobody = Api(client, "yokohama", nowhere.token).get(span).get_json()["meetings"]
    assert [m for m in seen_by_admin if "区" in m["title"]], "the wards' meetings exist (the admin sees them)"
    assert not [m for m in seen_by_nobody if "区" in m["title"]]
