"""A consultant's working day in a real browser (issue #17): open a case (own unit preselected, 受付日 today),
correct the person's name at intake, go from intake through the plan without ever claiming — each next step
opens by itself, already theirs — then find the case in the case list by its 事例番号 and by kana while it
waits for its meeting. Screenshot: ``test-artifacts/screenshots/case-list.png``."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from tests.web.browser_support import fill_required, screenshot
from tests.web.conftest import make_staff, org_unit
from tsunagu.core.db import utcnow
from tsunagu.web.dates import to_local_date

pytestmark = pytest.mark.browser


def _complete_and_land(page, next_step: str | None) -> None:
    with page.expect_navigation():
        page.locator("button[name=action][value=complete]").click()
    if next_step is None:
        return
    page.wait_for_url(re.compile(r"/tasks/"))
    assert page.locator("h1").inner_text().startswith(next_step), page.locator("h1").inner_text()
    # already theirs: no claim button, the consultant is the assignee
    assert page.get_by_role("button", name="このタスクを引き受ける").count() == 0
    assert "佐藤 美咲" in page.locator("dl.task-meta").inner_text()


def test_a_consultant_works_a_case_from_intake_to_its_meeting_and_finds_it_in_the_case_list(
    runtime, yokohama, sign_in, live_server
):
    kohoku = org_unit(runtime, yokohama, "kohoku")
    consultant = make_staff(runtime, yokohama, "sato-day@example.jp", "佐藤 美咲", ["consultant"], kohoku)
    base = f"{live_server}/t/{yokohama.slug}"
    page = sign_in(consultant, yokohama)

    # --- 相談受付: own unit preselected ------------------------------------------------------------------------
    page.get_by_role("link", name="新規相談受付").click()
    assert page.get_by_label("組織").input_value() == "kohoku"
    assert page.locator("#name").get_attribute("maxlength") == "50"
    page.get_by_label("氏名").fill("山田 花子")
    page.get_by_label("ふりがな（カタカナ）").fill("ヤマダ ハナコ")
    page.get_by_label("生年月日").fill("1980-04-01")
    page.get_by_role("button", name="ケースを開始する").click()
    page.wait_for_url(re.compile(r"/tasks/"))
    assert page.locator("h1").inner_text().startswith("相談受付")
    number = page.locator("dl.task-meta .case-number").inner_text()
    assert re.fullmatch(r"R\d+-\d{5}", number), number
    today = to_local_date(utcnow())
    assert page.locator("#f-reception_date").input_value() == today.isoformat()  # 受付日: today in Japan
    assert page.get_by_role("button", name="このタスクを引き受ける").count() == 0  # already the consultant's

    # --- intake, with the name corrected (花子 → 華子) --------------------------------------------------------
    page.locator("#f-name").fill("山田 華子")
    fill_required(
        page,
        {
            "consultation_detail": "勤務先の倒産で収入がなくなり、家賃の支払いが難しい。",
            "screening_outcome": "continue",
            "address": "横浜市港北区大豆戸町1-2-3",
        },
    )
    topics = page.locator("#f-consultation_topics")
    topics.get_by_label("収入・生活費のこと").check()
    _complete_and_land(page, "申込・同意")
    assert "山田 華子" in page.locator("h1").inner_text()  # the header follows the person

    # the inbox says the corrected name too, with the case number
    page.goto(f"{base}/inbox")
    row = page.locator("table.tasks tbody tr", has_text=number)
    assert row.count() == 1 and "山田 華子" in row.inner_text() and "山田 花子" not in row.inner_text()
    with page.expect_navigation():
        row.locator("a.task-link").click()

    # --- consent, assessment, plan: each next step opens by itself ---------------------------------------------
    fill_required(page, {"consent_application": True, "consent_agencies": ["municipality", "hello_work"]})
    _complete_and_land(page, "アセスメント")
    fill_required(page, {"urgency": "high", "household_situation": "単身。近くに親族はいない。"})
    _complete_and_land(page, "プラン(案)策定")
    fill_required(
        page,
        {
            "plan_date": date.today().isoformat(),
            "plan_period": "P6M",  # the end date fits the period (the form's period_end rule)
            "plan_end_date": (date.today() + timedelta(days=180)).isoformat(),
            "long_term_goal": "安定した仕事に就き、家賃を滞りなく払えるようになる",
        },
    )
    _complete_and_land(page, None)
    page.wait_for_url(re.compile(r"/inbox$"))  # the next step is the secretariat's: the consultant's inbox
    assert "「プラン(案)策定」を完了しました。" in page.locator(".flashes").inner_text()

    # --- the case list: by number (as said on the phone), and by kana among the cases waiting for a meeting ---
    page.get_by_role("link", name="ケース一覧").click()
    page.wait_for_url(re.compile(r"/cases$"))
    short = number.split("-")[0].lower() + "-" + str(int(number.split("-")[1]))  # "r8-1"
    page.get_by_label("事例番号・氏名・ふりがな").fill(short)
    page.get_by_role("button", name="検索").click()
    rows = page.locator("table.cases tbody tr")
    assert rows.count() == 1 and number in rows.inner_text() and "山田 華子" in rows.inner_text()
    page.get_by_label("事例番号・氏名・ふりがな").fill("ヤマダ")
    page.get_by_label("支援調整会議待ち").check()
    page.get_by_role("button", name="検索").click()
    rows = page.locator("table.cases tbody tr")
    assert rows.count() == 1
    text = rows.inner_text()
    assert number in text and "会議待ち" in text and "佐藤 美咲" in text and "港北区" in text
    assert "1件のケース" in page.locator(".list-summary").inner_text()
    screenshot(page, "case-list")
    with page.expect_navigation():
        rows.locator("a.case-number").click()
    assert number in page.locator("h1").inner_text() and "山田 華子" in page.locator("h1").inner_text()
    assert "佐藤 美咲" in page.locator("dd.responsible").inner_text()
    assert number in page.locator(".timeline").inner_text()
