"""Two users on one task (the loser gets a clear 409 and keeps what was typed), and the pages without JavaScript."""

from __future__ import annotations

import re

import pytest

from tests.web.browser_support import fill_required, screenshot
from tests.web.conftest import make_staff
from tests.web.test_browser_casework import _start_case

pytestmark = pytest.mark.browser


def test_the_second_user_to_submit_sees_a_conflict_and_keeps_the_typed_values(
    runtime, yokohama, sign_in, live_server
):
    first = make_staff(runtime, yokohama, "ito@example.jp", "伊藤 彩", ["consultant"])
    second = make_staff(runtime, yokohama, "watanabe@example.jp", "渡辺 翔", ["consultant"])
    _start_case(runtime, yokohama, "中村 和子", "ナカムラ カズコ")
    pages = []
    for staff in (first, second):
        page = sign_in(staff, yokohama)
        page.goto(f"{live_server}/t/{yokohama.slug}/inbox?scope=role")
        page.locator("table.tasks tbody tr", has_text="中村 和子").locator("a.task-link").click()
        page.wait_for_url(re.compile(r"/tasks/"))
        pages.append(page)
    mine, theirs = pages

    typed = "二人目の担当者が入力した相談内容。消えてはいけない。"
    fill_required(
        theirs, {"consultation_detail": typed, "consultation_topics": ["income"], "address": "横浜市鶴見区"}
    )
    fill_required(mine, {"consultation_topics": ["housing"], "screening_outcome": "continue"})
    mine.locator("button[name=action][value=complete]").click()
    assert "「相談受付」を完了しました。" in mine.locator(".flashes").inner_text()

    with theirs.expect_response(lambda r: r.request.method == "POST") as answer:
        theirs.locator("button[name=action][value=complete]").click()
    assert answer.value.status == 409
    alert = theirs.locator(".conflict")
    assert alert.is_visible()
    assert "入力中に、このタスクは他の担当者によって完了されました。" in alert.inner_text()
    assert "入力した内容は失われていません" in alert.inner_text()
    assert theirs.locator("#f-consultation_detail").input_value() == typed
    assert theirs.locator("#f-address").input_value() == "横浜市鶴見区"
    assert theirs.locator('input[name="consultation_topics"][value="income"]').is_checked()
    screenshot(theirs, "task-conflict", full_page=False)


def test_reading_the_inbox_and_submitting_a_form_work_without_javascript(
    runtime, yokohama, sign_in, live_server
):
    staff = make_staff(runtime, yokohama, "yamamoto@example.jp", "山本 晴", ["consultant"])
    _start_case(runtime, yokohama, "小林 正", "コバヤシ タダシ")
    page = sign_in(staff, yokohama, javascript=False)
    base = f"{live_server}/t/{yokohama.slug}"

    page.goto(f"{base}/inbox?scope=role")
    row = page.locator("table.tasks tbody tr", has_text="小林 正")
    assert row.count() == 1 and "相談受付" in row.inner_text()
    assert page.locator('#view-nav .count[data-view="role"]').inner_text() == "1"
    row.get_by_role("button", name=re.compile("引き受ける")).click()  # a plain form post
    assert "1件のタスクを引き受けました。" in page.locator(".flashes").inner_text()

    page.goto(f"{base}/inbox")
    page.locator("table.tasks tbody tr", has_text="小林 正").locator("a.task-link").click()
    fill_required(page, {"consultation_topics": ["work"], "screening_outcome": "advice_only"})
    page.locator("button[name=action][value=draft]").click()
    assert "一時保存しました。" in page.locator(".flashes").inner_text()
    assert page.locator(
        'input[name="consultation_topics"][value="work"]'
    ).is_checked()  # the draft comes back
    page.locator("button[name=action][value=complete]").click()
    assert page.url.endswith("/inbox")
    assert "「相談受付」を完了しました。" in page.locator(".flashes").inner_text()
    assert page.locator("table.tasks tbody tr", has_text="小林 正").count() == 0


def test_the_inbox_list_refreshes_every_30_seconds_with_its_counts(runtime, yokohama, sign_in, live_server):
    staff = make_staff(runtime, yokohama, "kimura@example.jp", "木村 光", ["consultant"])
    page = sign_in(staff, yokohama)
    page.clock.install()
    page.goto(f"{live_server}/t/{yokohama.slug}/inbox?scope=role")
    assert page.locator("table.tasks tbody tr").count() == 0
    _start_case(runtime, yokohama, "斎藤 新", "サイトウ アラタ")  # arrives while the page is open
    with page.expect_response(lambda r: "/inbox/list" in r.url) as refreshed:
        page.clock.fast_forward("00:31")
    assert refreshed.value.status == 200
    page.locator("table.tasks tbody tr", has_text="斎藤 新").wait_for()
    assert page.locator('#view-nav .count[data-view="role"]').inner_text() == "1"  # counts swapped too
    # while a task is ticked the list stays as it is
    page.locator("table.tasks tbody tr input[name=task]").first.check()
    _start_case(runtime, yokohama, "斎藤 新二", "サイトウ シンジ")
    page.clock.fast_forward("00:31")
    page.wait_for_timeout(300)
    assert page.locator("table.tasks tbody tr").count() == 1
    assert page.locator("table.tasks tbody tr input[name=task]").first.is_checked()
