"""Calendar invitations (.ics through icalendar, also as e-mail), the in-app centre's read-time permissions,
its JSON API, and tenant isolation of notifications."""

from __future__ import annotations

from datetime import datetime, timedelta

import icalendar
import pytest
from sqlalchemy import select

from tests.factories import make_tenant
from tests.notifications.test_email import drain
from tests.web.conftest import make_staff, org_unit
from tsunagu.config import ConfigError, Settings
from tsunagu.core.session import transaction
from tsunagu.notifications import services as notifications
from tsunagu.notifications.calendar import CalendarEvent, to_ics
from tsunagu.notifications.models import Notification
from tsunagu.notifications.recipients import RoleIn
from tsunagu.notifications.schedule import JST

START = datetime(2027, 1, 13, 13, 30, tzinfo=JST)
MEETING = CalendarEvent(
    uid="meeting-42@yokohama.tsunagu", start=START, end=START + timedelta(minutes=90), summary="支援調整会議"
)


def test_ics_parses_back_with_method_uid_and_sequence():
    ics = to_ics(MEETING, method="REQUEST", sequence=0, organizer=("横浜市", "t@city.example.jp"))
    cal = icalendar.Calendar.from_ical(ics)
    (event,) = cal.walk("VEVENT")
    assert str(cal["METHOD"]) == "REQUEST" and str(event["UID"]) == MEETING.uid
    assert int(event["SEQUENCE"]) == 0 and event.decoded("DTSTART") == START
    assert str(event["SUMMARY"]) == "支援調整会議"


def _invitations(smtp_server) -> list[icalendar.Calendar]:
    found = []
    for message in smtp_server.recorder.messages():
        for part in message.walk():
            if part.get_content_type() == "text/calendar":
                found.append(icalendar.Calendar.from_ical(part.get_payload(decode=True)))
    return found


def test_invitations_by_email_bump_sequence_on_change_and_cancel_with_method_cancel(
    runtime, inline, yokohama, smtp_server
):
    member = make_staff(runtime, yokohama, "member@example.jp", "委員 一", ["meeting_secretariat"])
    for event in (MEETING, MEETING):  # the same facts twice: one invitation
        with transaction(runtime.sessions, yokohama.id) as session:
            notifications.invite(session, [member.user_id], event, "inbox")
    moved = CalendarEvent(
        MEETING.uid, START + timedelta(days=7), START + timedelta(days=7, minutes=90), "支援調整会議"
    )
    with transaction(runtime.sessions, yokohama.id) as session:
        notifications.invite(session, [member.user_id], moved, "inbox")
    with transaction(runtime.sessions, yokohama.id) as session:
        notifications.cancel_invitation(session, [member.user_id], moved, "inbox")
    drain(inline)

    calendars = _invitations(smtp_server)
    assert [str(c["METHOD"]) for c in calendars] == ["REQUEST", "REQUEST", "CANCEL"]
    events = [c.walk("VEVENT")[0] for c in calendars]
    assert [int(e["SEQUENCE"]) for e in events] == [0, 1, 2]
    assert {str(e["UID"]) for e in events} == {MEETING.uid}
    assert events[1].decoded("DTSTART") == START + timedelta(days=7)
    assert str(events[0]["ATTENDEE"]) == "mailto:member@example.jp"  # each gets their own, nobody else's
    assert "招集" in str(smtp_server.recorder.messages()[0]["Subject"])


def test_the_centre_shows_no_personal_data_about_a_task_the_reader_can_no_longer_see(
    runtime, yokohama, act_as
):
    from tests.web.test_browser_casework import _start_case
    from tsunagu.cases.models import HumanTask
    from tsunagu.identity.models import Membership

    kohoku, tsurumi = org_unit(runtime, yokohama, "kohoku"), org_unit(runtime, yokohama, "tsurumi")
    reader = act_as(yokohama, ["consultant"], unit=kohoku)
    _start_case(runtime, yokohama, "閲覧 制限子", "エツラン セイゲンコ", unit="kohoku")
    with transaction(runtime.sessions, yokohama.id) as session:
        task = session.execute(select(HumanTask)).scalar_one()
        notifications.notify(
            session,
            "task.assigned",
            [reader.user_id],
            f"tasks/{task.id}",
            key="seen",
            subject=("task", task.id),
        )
    page = reader.get("/notifications").get_data(as_text=True)
    assert "閲覧 制限子" in page and task.title in page and "/open" in page
    assert 'data-count="1"' in reader.get("/inbox").get_data(as_text=True)

    with transaction(runtime.sessions, yokohama.id) as session:  # moved to another ward
        session.execute(
            Membership.__table__.update()
            .where(Membership.user_id == reader.user_id)
            .values(org_unit_id=tsurumi.id)
        )
    page = reader.get("/notifications").get_data(as_text=True)
    assert "閲覧 制限子" not in page and "/open" not in page
    assert "タスクが割り当てられました" in page  # the kind and the date stay
    with transaction(runtime.sessions, yokohama.id) as session:
        notification_id = str(session.execute(select(Notification.id)).scalar_one())
    opened = reader.get(f"/notifications/{notification_id}/open")
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/notifications")


def test_the_api_lists_marks_read_and_sets_preferences(runtime, yokohama, client):
    from tests.factories import make_user

    user = make_user(runtime, yokohama, email="api@example.jp", roles=["consultant"])
    headers = {"Authorization": f"Bearer {user.token}"}
    with transaction(runtime.sessions, yokohama.id) as session:
        notifications.notify(session, "task.assigned", [user.user.id], "inbox", key="api-1")
        notifications.notify(session, "task.assigned", [user.user.id], "inbox", key="api-2")
    body = client.get("/t/yokohama/api/v1/notifications", headers=headers).get_json()
    assert body["unread"] == 2 and len(body["items"]) == 2
    first = body["items"][0]["id"]
    assert (
        client.post(f"/t/yokohama/api/v1/notifications/{first}/read", headers=headers).get_json()["unread"]
        == 1
    )
    assert client.post("/t/yokohama/api/v1/notifications/read-all", headers=headers).get_json()["marked"] == 1
    put = client.put(
        "/t/yokohama/api/v1/notifications/preferences", json={"task.assigned": "digest"}, headers=headers
    )
    assert put.status_code == 200 and put.get_json()["task.assigned"] == "digest"
    bad = client.put(
        "/t/yokohama/api/v1/notifications/preferences", json={"task.assigned": "fax"}, headers=headers
    )
    assert bad.status_code == 422 and "error" in bad.get_json()
    assert client.get("/t/yokohama/api/v1/notifications").status_code == 401


def test_notifications_stay_in_their_tenant(runtime, yokohama):
    other = make_tenant(runtime, "other-city")
    mine = make_staff(runtime, yokohama, "mine@example.jp", "自 分", ["consultant"])
    with transaction(runtime.sessions, yokohama.id) as session:
        notifications.notify(session, "task.assigned", [mine.user_id], "inbox", key="leak")
    with transaction(runtime.sessions, other.id) as session:
        assert session.execute(select(Notification)).first() is None
        # A user id of another tenant resolves to nobody here.
        assert notifications.notify(session, "task.assigned", [mine.user_id], "inbox", key="leak") == []
        assert notifications.notify(session, "task.assigned", [RoleIn("consultant")], "inbox", key="x") == []


def test_notify_refuses_what_could_carry_personal_data(runtime, yokohama):
    mine = make_staff(runtime, yokohama, "mine@example.jp", "自 分", ["consultant"])
    with transaction(runtime.sessions, yokohama.id) as session:
        with pytest.raises(ValueError):
            notifications.notify(
                session, "task.assigned", [mine.user_id], "inbox", key="k", counts={"name": "山田"}
            )  # type: ignore[dict-item]
        with pytest.raises(ValueError):
            notifications.notify(session, "task.assigned", [mine.user_id], "https://evil.example/", key="k")
        with pytest.raises(ValueError):
            notifications.notify(session, "no.such.kind", [mine.user_id], "inbox", key="k")


def test_smtp_configuration_is_validated_at_start():
    base = {"TSUNAGU_ENV": "test", "TSUNAGU_SECRET_KEY": "x" * 40}
    smtp = Settings.from_env(
        {**base, "TSUNAGU_SMTP_HOST": "relay.city.example.lg.jp", "TSUNAGU_SMTP_FROM": "t@city.example.lg.jp"}
    ).smtp
    assert smtp is not None and smtp.port == 587 and smtp.security == "starttls"
    tls = Settings.from_env(
        {**base, "TSUNAGU_SMTP_HOST": "h", "TSUNAGU_SMTP_SECURITY": "tls", "TSUNAGU_SMTP_FROM": "a@b.jp"}
    ).smtp
    assert tls is not None and tls.port == 465
    for bad in (
        {"TSUNAGU_SMTP_HOST": "h"},  # no sender
        {"TSUNAGU_SMTP_HOST": "h", "TSUNAGU_SMTP_FROM": "a@b.jp", "TSUNAGU_SMTP_SECURITY": "ssl3"},
        {"TSUNAGU_SMTP_HOST": "h", "TSUNAGU_SMTP_FROM": "a@b.jp", "TSUNAGU_SMTP_PASSWORD": "p"},  # no user
        {
            "TSUNAGU_SMTP_HOST": "h",
            "TSUNAGU_SMTP_FROM": "a@b.jp",
            "TSUNAGU_SMTP_USER": "u",
            "TSUNAGU_SMTP_PASSWORD_FILE": "rel/path",
        },
        {"TSUNAGU_SMTP_PORT": "25"},  # without a host
    ):
        with pytest.raises(ConfigError):
            Settings.from_env({**base, **bad})
