"""Daily digests and escalations against a controlled clock, business days, and per-kind preferences."""

from __future__ import annotations

import tomllib
import uuid
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.notifications.conftest import body_text
from tests.notifications.test_email import drain
from tests.web.conftest import REPO, make_staff, org_unit
from tests.web.test_browser_casework import _start_case
from tsunagu.cases.models import HumanTask
from tsunagu.core.session import transaction
from tsunagu.jobs.beat import tick
from tsunagu.notifications import services as notifications
from tsunagu.notifications.models import Delivery, DigestRun, Notification
from tsunagu.notifications.schedule import JST, is_business_day
from tsunagu.tenancy.models import Tenant
from tsunagu.tenancy.presets import validate_preset


def at(day: str, hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=JST)


def tasks_due(runtime, tenant, assignee: uuid.UUID, *due: datetime) -> list[uuid.UUID]:
    """One case per due date; its first task assigned to ``assignee`` and due then."""
    ids = []
    for n, when in enumerate(due):
        case_id = _start_case(runtime, tenant, f"期限 太郎{n}", "キゲン タロウ")
        with transaction(runtime.sessions, tenant.id) as session:
            task = session.execute(
                select(HumanTask).where(HumanTask.case_id == uuid.UUID(case_id))
            ).scalar_one()
            task.assignee_id = assignee
            task.due_at = when
            ids.append(task.id)
    return ids


def mails_to(smtp_server, address: str) -> list:
    return [m for m in smtp_server.recorder.messages() if m["To"] == address]


def set_notification_settings(runtime, tenant, **values: object) -> None:
    with transaction(runtime.sessions, tenant.id) as session:
        row = session.get(Tenant, tenant.id)
        assert row is not None
        row.settings = {**row.settings, "notifications": {**row.settings.get("notifications", {}), **values}}


def test_business_days_skip_weekends_public_holidays_and_the_year_end_closure():
    assert is_business_day(date(2027, 1, 4))  # Monday
    assert not is_business_day(date(2027, 1, 1), year_end_closure=False)  # 元日
    assert not is_business_day(date(2027, 1, 11))  # 成人の日 (second Monday of January)
    assert not is_business_day(date(2027, 1, 9))  # Saturday
    assert not is_business_day(date(2026, 12, 29))  # 年末年始
    assert is_business_day(date(2026, 12, 29), year_end_closure=False)
    assert not is_business_day(date(2026, 9, 22))  # 国民の休日 between 敬老の日 and 秋分の日


def test_one_digest_on_a_business_day_at_the_tenants_time_none_on_holidays_one_after_an_outage(
    runtime, inline, yokohama, smtp_server
):
    staff = make_staff(runtime, yokohama, "due@example.jp", "期限 担当", ["consultant"])
    tasks_due(runtime, yokohama, staff.user_id, at("2027-01-04", "15:00"), at("2027-01-05", "10:00"))
    tasks_due(runtime, yokohama, staff.user_id, at("2026-12-25", "17:00"))  # overdue

    tick(inline, now=at("2027-01-04", "08:29"))
    drain(inline)
    assert mails_to(smtp_server, staff.email) == []  # before the tenant's 08:30

    tick(inline, now=at("2027-01-04", "08:30"))
    tick(inline, now=at("2027-01-04", "08:31"))  # and again: still one
    drain(inline)
    (digest,) = mails_to(smtp_server, staff.email)
    assert "期限超過 1件・今日 1件・明日 1件" in str(digest["Subject"])
    assert "/t/yokohama/inbox" in body_text(digest) and "期限 太郎" not in body_text(digest)

    for holiday in (at("2027-01-01", "09:00"), at("2027-01-09", "09:00"), at("2027-01-11", "12:00")):
        tick(inline, now=holiday)  # 元日, a Saturday, 成人の日
    drain(inline)
    assert len(mails_to(smtp_server, staff.email)) == 1

    # Beat was down Tuesday to Thursday; on Friday it runs again: one digest, not four.
    tick(inline, now=at("2027-01-08", "10:15"))
    drain(inline)
    assert len(mails_to(smtp_server, staff.email)) == 2
    with transaction(runtime.sessions, yokohama.id) as session:
        runs = sorted(r.on_date for r in session.execute(select(DigestRun)).scalars())
    assert runs == [date(2027, 1, 4), date(2027, 1, 8)]
    later = mails_to(smtp_server, staff.email)[1]
    assert "期限超過 3件・今日 0件・明日 0件" in str(later["Subject"])  # every task is overdue by then


def test_escalation_after_the_tenants_days_reaches_the_configured_role_once(
    runtime, inline, yokohama, smtp_server
):
    set_notification_settings(runtime, yokohama, escalate_after_days=2, escalate_to_role="municipal_staff")
    kohoku, tsurumi = org_unit(runtime, yokohama, "kohoku"), org_unit(runtime, yokohama, "tsurumi")
    worker = make_staff(runtime, yokohama, "worker@example.jp", "担当 一", ["consultant"], kohoku)
    ward_staff = make_staff(runtime, yokohama, "ward@example.jp", "港北 職員", ["municipal_staff"], kohoku)
    other_ward = make_staff(runtime, yokohama, "other@example.jp", "鶴見 職員", ["municipal_staff"], tsurumi)
    admin = make_staff(runtime, yokohama, "admin@example.jp", "管理 者", ["tenant_admin"])
    (task_id,) = tasks_due(runtime, yokohama, worker.user_id, at("2027-01-05", "12:00"))

    tick(inline, now=at("2027-01-06", "09:00"))  # one day overdue
    drain(inline)
    assert mails_to(smtp_server, ward_staff.email) == []
    tick(inline, now=at("2027-01-07", "13:00"))  # two days: escalated
    tick(inline, now=at("2027-01-08", "09:00"))  # three days: same threshold, not again
    drain(inline)
    (escalation,) = mails_to(smtp_server, ward_staff.email)
    assert "2日以上" in str(escalation["Subject"]) and f"/tasks/{task_id}" in body_text(escalation)
    assert mails_to(smtp_server, other_ward.email) == [] and mails_to(smtp_server, admin.email) == []

    # Nobody holds the role in the task's ward: the tenant's administrators get it instead.
    set_notification_settings(
        runtime, yokohama, escalate_after_days=4, escalate_to_role="meeting_secretariat"
    )
    tick(inline, now=at("2027-01-12", "09:00"))
    drain(inline)
    assert len(mails_to(smtp_server, admin.email)) == 1


def test_preferences_switch_email_off_per_kind(runtime, inline, yokohama, smtp_server, act_as):
    target = act_as(yokohama, ["consultant"], name="通知 設定")
    with transaction(runtime.sessions, yokohama.id) as session:
        from tsunagu.identity.models import User

        email = session.get(User, (yokohama.id, target.user_id)).email  # type: ignore[union-attr]

    def hand_over(key: str) -> None:
        with transaction(runtime.sessions, yokohama.id) as session:
            notifications.notify(session, "task.assigned", [target.user_id], "inbox", key=key)
        drain(inline)

    assert target.get("/notifications/preferences").status_code == 200
    target.post("/notifications/preferences", {"kind:task.assigned": "in_app"})
    hand_over("pref-1")
    assert mails_to(smtp_server, email) == []
    with transaction(runtime.sessions, yokohama.id) as session:
        assert session.execute(select(Delivery)).first() is None
        assert len(session.execute(select(Notification)).all()) == 1  # still in the app

    target.post("/notifications/preferences", {"kind:task.assigned": "digest"})
    hand_over("pref-2")
    hand_over("pref-3")
    assert mails_to(smtp_server, email) == []
    tick(inline, now=_next_business_evening())
    drain(inline)
    (digest,) = mails_to(smtp_server, email)
    assert "タスクが割り当てられました: 2件" in body_text(digest)

    target.post("/notifications/preferences", {"kind:task.assigned": "email", "kind:digest": "in_app"})
    hand_over("pref-4")
    assert len(mails_to(smtp_server, email)) == 2
    refused = target.post("/notifications/preferences", {"kind:task.assigned": "carrier-pigeon"})
    assert refused.status_code == 422


def _next_business_evening() -> datetime:
    """23:00 Japan time of today or the next business day: after any digest time, after the notifications."""
    day = datetime.now(JST).date()
    while not is_business_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, datetime.min.time(), JST).replace(hour=23)


@pytest.mark.parametrize("value", [{"digest_time": "8:30"}, {"escalate_to_role": "boss"}, {"color": "red"}])
def test_preset_notification_settings_are_checked_with_key_paths(value):
    data = tomllib.loads((REPO / "tenants" / "iwamizawa.toml").read_text(encoding="utf-8"))
    data["notifications"] = value
    issues = validate_preset(data, file="iwamizawa.toml", expected_slug="iwamizawa")
    assert issues and all(i.key_path.startswith("notifications.") for i in issues), issues


def test_preset_role_keys_are_identitys_roles():
    from tsunagu.identity.models import ALL_ROLES
    from tsunagu.tenancy.preset_schema import ROLE_KEYS

    assert set(ROLE_KEYS) == ALL_ROLES
