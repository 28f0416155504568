"""E-mail on the real SMTP server (aiosmtpd in-process): a handed-over task sends one message with a working
link and no personal data; a repeated event or redelivered message sends nothing more; SMTP down is retried,
then recorded as failed and shown to the tenant's administrators."""

from __future__ import annotations

import time
from datetime import date

from sqlalchemy import select

from tests.notifications.conftest import PUBLIC_URL, body_text
from tests.web.conftest import make_staff
from tsunagu.cases.models import HumanTask, ProgressRecord
from tsunagu.cases.services import PersonInput, start_case
from tsunagu.core.outbox import OutboxMessage, process_message, relay_pending
from tsunagu.core.session import transaction
from tsunagu.notifications import services as notifications
from tsunagu.notifications.models import Delivery, Notification
from tsunagu.tenancy.models import Tenant

PERSON = PersonInput(name="秘密 花子", name_kana="ヒミツ ハナコ", birth_date=date(1979, 4, 17))
FREE_TEXT = "家賃を三か月滞納しており、長男の通院費も払えていない"


def start_case_with_free_text(runtime, tenant) -> HumanTask:
    with transaction(runtime.sessions, tenant.id) as session:
        row = session.get(Tenant, tenant.id)
        case = start_case(session, row, runtime.settings.workflows_dir, PERSON, org_unit_code="kohoku")
        session.add(
            ProgressRecord(
                tenant_id=tenant.id,
                case_id=case.id,
                record_date=date(2026, 11, 30),
                method="phone",
                staff_name="記録 者",
                content=FREE_TEXT,
            )
        )
        session.flush()
        return session.execute(select(HumanTask).where(HumanTask.case_id == case.id)).scalar_one()


def drain(runtime, rounds: int = 20) -> None:
    """Relay and process (inline) until nothing is due."""
    for _ in range(rounds):
        if relay_pending(runtime) == 0:
            return


def test_a_task_handed_over_sends_one_email_with_a_working_link_and_no_personal_data(
    runtime, inline, yokohama, act_as, smtp_server
):
    task = start_case_with_free_text(runtime, yokohama)
    me = act_as(yokohama, ["consultant"])
    colleague = act_as(yokohama, ["consultant"], name="同僚 一郎")
    me.post("/inbox/assign", {"task": str(task.id), "assignee": str(colleague.user_id)})
    drain(inline)

    messages = smtp_server.recorder.messages()
    assert len(messages) == 1
    message = messages[0]
    text = body_text(message)
    assert "タスクが割り当てられました" in str(message["Subject"])
    link = f"{PUBLIC_URL}/t/yokohama/tasks/{task.id}"
    assert link in text
    # Not a trace of the person or the case's text, in any spelling the data has.
    for secret in (
        "秘密",
        "花子",
        "ヒミツ",
        "ハナコ",
        "1979",
        "昭和54",
        "04-17",
        "4月17日",
        FREE_TEXT[:6],
        "滞納",
    ):
        assert secret not in text, secret
    assert str(message["Message-ID"]).endswith("@city.example.jp>")
    assert message["Auto-Submitted"] == "auto-generated"
    # The link works for the person it was sent to.
    page = colleague.get(link.removeprefix(PUBLIC_URL + "/t/yokohama"))
    assert page.status_code == 200 and task.title in page.get_data(as_text=True)

    with transaction(runtime.sessions, yokohama.id) as session:
        row = session.execute(select(Delivery)).scalar_one()
    assert row.state == "sent" and row.attempts == 1 and row.message_id == message["Message-ID"]


def test_the_same_event_notified_again_and_its_message_redelivered_sends_nothing_more(
    runtime, inline, yokohama, smtp_server
):
    task = start_case_with_free_text(runtime, yokohama)
    colleague = make_staff(runtime, yokohama, "col@example.jp", "同僚 一郎", ["consultant"])
    for _ in range(3):  # the caller repeats itself: one notification, one delivery
        with transaction(runtime.sessions, yokohama.id) as session:
            notifications.notify(
                session, "task.assigned", [colleague.user_id], f"tasks/{task.id}", key=f"handover-{task.id}"
            )
    drain(inline)
    with transaction(runtime.sessions, yokohama.id) as session:
        assert len(session.execute(select(Notification)).all()) == 1
        message_ids = [m.id for m in session.execute(select(OutboxMessage)).scalars()]
    for message_id in message_ids * 3:  # and every message delivered three more times
        process_message(inline, yokohama.id, message_id)
    assert len(smtp_server.recorder.accepted) == 1


def test_a_rolled_back_change_notifies_nobody(runtime, inline, yokohama, smtp_server):
    colleague = make_staff(runtime, yokohama, "col@example.jp", "同僚 一郎", ["consultant"])
    try:
        with transaction(runtime.sessions, yokohama.id) as session:
            notifications.notify(session, "task.assigned", [colleague.user_id], "inbox", key="rolled-back")
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    drain(inline)
    with transaction(runtime.sessions, yokohama.id) as session:
        assert session.execute(select(Notification)).first() is None
    assert smtp_server.recorder.accepted == []


def test_smtp_down_is_retried_then_failed_and_shown_to_the_tenant_admin(
    runtime, inline, yokohama, act_as, smtp_server
):
    smtp_server.stop()  # nothing listens on the port any more
    colleague = make_staff(runtime, yokohama, "col@example.jp", "同僚 一郎", ["consultant"])
    with transaction(runtime.sessions, yokohama.id) as session:
        notifications.notify(session, "task.assigned", [colleague.user_id], "inbox", key="smtp-down")
    attempts_seen = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        drain(inline)
        with transaction(runtime.sessions, yokohama.id) as session:
            row = session.execute(select(Delivery)).scalar_one()
        attempts_seen.append(row.attempts)
        if row.state == "failed":
            break
        time.sleep(0.1)
    assert row.state == "failed" and row.attempts == 3  # TSUNAGU_SMTP_MAX_ATTEMPTS of the test settings
    assert sorted(set(attempts_seen)) == [1, 2, 3] or set(attempts_seen) >= {3}
    assert "ConnectionRefusedError" in (row.last_error or "")

    admin = act_as(yokohama, ["tenant_admin"])
    page = admin.get("/admin/notifications/failed").get_data(as_text=True)
    assert "col@example.jp" in page and "ConnectionRefusedError" in page
    users_page = admin.get("/admin/users").get_data(as_text=True)
    assert 'href="/t/yokohama/admin/notifications/failed"' in users_page
    assert '<span class="badge" aria-label="1">1</span>' in users_page  # the count in the admin menu
    consultant = act_as(yokohama, ["consultant"])
    assert consultant.get("/admin/notifications/failed").status_code == 403

    # The relay is back: the administrator sends it again, and it goes out once.
    smtp_server.start()
    admin.post("/admin/notifications/failed/retry", {"delivery": str(row.id)})
    drain(inline)
    assert len(smtp_server.recorder.accepted) == 1
    with transaction(runtime.sessions, yokohama.id) as session:
        assert session.execute(select(Delivery)).scalar_one().state == "sent"


def test_the_recipients_language_chooses_the_mail_and_the_browser_sets_the_default(
    runtime, inline, yokohama, act_as, smtp_server
):
    from tsunagu.identity.models import User

    english = act_as(yokohama, ["consultant"], name="Jane Smith")
    japanese = act_as(yokohama, ["consultant"], name="日本 太郎")
    assert english.post("/account/language", {"language": "en"}).status_code == 302
    assert english.post("/account/language", {"language": "xx"}).status_code == 422
    with transaction(runtime.sessions, yokohama.id) as session:
        for user_id in (english.user_id, japanese.user_id):
            notifications.notify(session, "task.assigned", [user_id], "inbox", key=f"lang-{user_id}")
        addresses = {
            u.id: u.email
            for u in session.execute(
                select(User).where(User.id.in_([english.user_id, japanese.user_id]))
            ).scalars()
        }
    drain(inline)
    subjects = {m["To"]: str(m["Subject"]) for m in smtp_server.recorder.messages()}
    assert subjects[addresses[english.user_id]] == "[Tsunagu] A task was assigned to you"
    assert subjects[addresses[japanese.user_id]] == "[つなぐ] タスクが割り当てられました"
