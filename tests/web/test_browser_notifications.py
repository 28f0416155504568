"""Notifications in a real browser — the bell: its count rises when a colleague hands over a task (htmx, no reload), the list
opens the task, and marking read clears the count. Screenshots in Japanese and English."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.web.browser_support import screenshot
from tests.web.conftest import make_staff, org_unit
from tests.web.test_browser_casework import _start_case
from tsunagu.cases.models import HumanTask
from tsunagu.core.session import transaction

pytestmark = pytest.mark.browser


def _bell_count(page) -> int:
    return int(page.locator("#notification-bell .bell-count").inner_text())


def test_the_bell_counts_a_handed_over_task_opens_it_and_clears_when_read(
    runtime, yokohama, sign_in, live_server
):
    kohoku = org_unit(runtime, yokohama, "kohoku")
    me = make_staff(runtime, yokohama, "me@example.jp", "受取 花子", ["consultant"], kohoku)
    colleague = make_staff(runtime, yokohama, "colleague@example.jp", "渡す 次郎", ["consultant"], kohoku)
    _start_case(runtime, yokohama, "鈴木 一郎", "スズキ イチロウ", unit="kohoku")
    with transaction(runtime.sessions, yokohama.id) as session:
        task = session.execute(select(HumanTask)).scalar_one()
    base = f"{live_server}/t/yokohama"

    mine = sign_in(me, yokohama)
    assert _bell_count(mine) == 0
    theirs = sign_in(colleague, yokohama)
    theirs.goto(f"{base}/tasks/{task.id}")
    theirs.locator("select[name=assignee]").select_option(str(me.user_id))
    theirs.locator("form[action$='/inbox/assign'] button[type=submit]").click()
    theirs.wait_for_load_state()

    # No reload on my side: the bell asks again on its own within its polling interval.
    url_before = mine.url
    mine.wait_for_function(
        "() => document.querySelector('#notification-bell .bell-count').textContent.trim() === '1'",
        timeout=30000,
    )
    assert mine.url == url_before
    screenshot(mine, "notifications-bell-ja", full_page=False)

    mine.locator("#notification-bell").click()
    mine.wait_for_url(re.compile(r"/notifications$"))
    assert mine.locator("li.notification.unread").count() == 1
    assert "鈴木 一郎" in mine.locator("#notification-list").inner_text()  # I may see it: shown in-app
    screenshot(mine, "notifications-list-ja")
    mine.goto(f"{base}/notifications?lang=en")
    screenshot(mine, "notifications-list-en")
    mine.goto(f"{base}/notifications/preferences?lang=en")
    screenshot(mine, "notifications-preferences-en")
    mine.goto(f"{base}/notifications/preferences?lang=ja")
    screenshot(mine, "notifications-preferences-ja")

    mine.goto(f"{base}/notifications")
    mine.locator("a.notification-link").first.click()  # opens the task and marks it read
    mine.wait_for_url(re.compile(rf"/tasks/{task.id}$"))
    assert _bell_count(mine) == 0
    mine.goto(f"{base}/notifications?lang=en")
    assert mine.locator("li.notification.read").count() == 1
    assert _bell_count(mine) == 0
    screenshot(mine, "notifications-bell-en", full_page=False)
