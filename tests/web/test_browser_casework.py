"""The web UI in a real browser (Debian's Chromium through Playwright), signed in as real users.

A consultant opens a case (a referral from another agency), completes intake — once with a mistake the server
catches — consent, assessment and the plan; the next step lands in the meeting secretariat's inbox. Then bulk
claiming, a saved and shared view, the case workspace with its highlighted diagram, and layouts at desktop and
phone sizes. Screenshots go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from tests.web.browser_support import PHONE, fill_required, screenshot
from tests.web.conftest import make_staff, org_unit
from tsunagu.core.session import transaction

pytestmark = pytest.mark.browser


def _start_case(runtime, tenant, name: str, kana: str, unit: str = "kohoku") -> str:
    from tsunagu.cases.services import PersonInput, start_case

    with transaction(runtime.sessions, tenant.id) as session:
        from tsunagu.tenancy.models import Tenant

        row = session.get(Tenant, tenant.id)
        case = start_case(
            session,
            row,
            runtime.settings.workflows_dir,
            PersonInput(name=name, name_kana=kana, birth_date=date(1975, 6, 1)),
            org_unit_code=unit,
        )
        return str(case.id)


def _open_task(page, base: str, step: str, person: str) -> None:
    page.goto(f"{base}/inbox?scope=all")
    row = page.locator("table.tasks tbody tr", has_text=person).filter(has_text=step)
    row.locator("a.task-link").click()
    page.wait_for_url(re.compile(r"/tasks/"))
    assert page.locator("h1").inner_text().startswith(step)


def _complete(page) -> None:
    page.locator("button[name=action][value=complete]").click()
    page.wait_for_load_state()


def _no_horizontal_scroll(page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def test_a_case_from_intake_to_the_meeting_secretariat_in_the_browser(
    runtime, yokohama, sign_in, live_server
):
    kohoku = org_unit(runtime, yokohama, "kohoku")
    consultant = make_staff(runtime, yokohama, "sato@example.jp", "佐藤 美咲", ["consultant"])
    secretariat = make_staff(runtime, yokohama, "suzuki@example.jp", "鈴木 健", ["meeting_secretariat"])
    base = f"{live_server}/t/{yokohama.slug}"
    assert kohoku is not None

    # --- start a case: a referral from another department -------------------------------------------------
    page = sign_in(consultant, yokohama)
    page.get_by_role("link", name="新規相談受付").click()
    page.get_by_label("氏名").fill("山田 花子")
    page.get_by_label("ふりがな（カタカナ）").fill("ヤマダ ハナコ")
    page.get_by_label("生年月日").fill("1980-04-01")
    page.get_by_label("組織").select_option("kohoku")
    page.get_by_label("他の部署・機関からつながれた相談である").check()
    page.get_by_label("つなぎ元の機関・部署").fill("港北区役所 保険年金課")
    page.get_by_label("つなぎの理由").fill("国民健康保険料の滞納相談から、生活全般の困りごとが分かったため")
    page.get_by_label("つなぎへの本人同意").select_option("obtained")
    page.get_by_role("button", name="ケースを開始する").click()
    page.wait_for_url(re.compile(r"/tasks/"))
    assert "山田 花子さんのケースを開始しました。" in page.locator(".flashes").inner_text()

    # --- intake: one submission with mistakes the server catches, then corrected ---------------------------------
    assert page.locator("h1").inner_text().startswith("相談受付")
    assert page.locator("#f-name").input_value() == "山田 花子"  # prefilled from the case
    fill_required(
        page,
        {
            "consultation_detail": "勤務先の倒産で収入がなくなり、家賃と保険料の支払いが難しい。",
            "screening_outcome": "continue",
            "contact_route": "referral",
            "name_kana": "やまだ はなこ",  # hiragana: the form wants katakana
            "household_size": "30",  # more than the form's maximum of 20
        },
        skip=("address",),
    )
    # The browser would stop at the hints (required, pattern, max); switch them off as an old browser would,
    # so the server's own checks answer. (No checklist box ticked is caught by the server alone anyway.)
    page.evaluate("document.querySelector('form.task-form').noValidate = true")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        _complete(page)
    assert answer.value.status == 422
    summary = page.locator(".error-summary")
    assert summary.is_visible() and "入力内容を確認してください" in summary.inner_text()
    assert summary.locator("li").count() == 4
    assert "必須項目です" in page.locator("#f-consultation_topics").inner_text()
    assert page.locator("#f-address").get_attribute("aria-invalid") == "true"
    assert "形式が正しくありません" in page.locator("#f-name_kana-error").inner_text()
    assert "20以下の値を入力してください" in page.locator("#f-household_size-error").inner_text()
    assert (
        page.locator("#f-consultation_detail").input_value().startswith("勤務先の倒産")
    )  # nothing typed is lost
    screenshot(page, "task-form-validation-errors", full_page=False)
    screenshot(page, "task-form-validation-errors-full")
    page.locator("#f-name_kana").fill("ヤマダ ハナコ")
    page.locator("#f-household_size").fill("1")
    page.locator("#f-address").fill("横浜市港北区大豆戸町1-2-3")
    topics = page.locator("#f-consultation_topics")
    topics.get_by_label("収入・生活費のこと").check()
    topics.get_by_label("家賃やローンの支払いのこと").check()
    _complete(page)
    # the case is the consultant's (they opened it): its next step opens at once, already theirs (issue #17)
    assert "/tasks/" in page.url and page.locator("h1").inner_text().startswith("申込・同意")
    assert "「相談受付」を完了しました。" in page.locator(".flashes").inner_text()

    # --- consent, assessment, plan --------------------------------------------------------------------------
    _open_task(page, base, "申込・同意", "山田 花子")
    fill_required(page, {"consent_application": True, "consent_agencies": ["municipality", "hello_work"]})
    _complete(page)
    _open_task(page, base, "アセスメント", "山田 花子")
    fill_required(page, {"urgency": "high", "household_situation": "単身。近くに親族はいない。"})
    _complete(page)
    _open_task(page, base, "プラン(案)策定", "山田 花子")
    fill_required(
        page,
        {
            "plan_date": date.today().isoformat(),
            "plan_period": "P6M",  # the end date fits the period (the form's period_end rule)
            "plan_end_date": (date.today() + timedelta(days=180)).isoformat(),
            "long_term_goal": "安定した仕事に就き、家賃を滞りなく払えるようになる",
        },
    )
    _complete(page)
    assert "「プラン(案)策定」を完了しました。" in page.locator(".flashes").inner_text()

    # --- the next lane's inbox: the meeting secretariat -------------------------------------------------------
    page.goto(f"{base}/inbox?scope=all")
    assert (
        page.locator("table.tasks tbody tr", has_text="山田 花子").count() == 0
    )  # not the consultant's lane
    secretary = sign_in(secretariat, yokohama)
    secretary.goto(f"{base}/inbox?scope=role")
    row = secretary.locator("table.tasks tbody tr", has_text="山田 花子")
    assert row.count() == 1 and "随時会議の招集" in row.inner_text()

    # --- bulk claim two tasks ---------------------------------------------------------------------------------
    _start_case(runtime, yokohama, "佐藤 一郎", "サトウ イチロウ")
    _start_case(runtime, yokohama, "佐藤 次郎", "サトウ ジロウ")
    page.goto(f"{base}/inbox?scope=role")
    for person in ("佐藤 一郎", "佐藤 次郎"):
        page.locator("table.tasks tbody tr", has_text=person).locator("input[name=task]").check()
    page.get_by_role("button", name="選択したタスクを引き受ける").click()
    assert "2件のタスクを引き受けました。" in page.locator(".flashes").inner_text()
    page.goto(f"{base}/inbox")
    assert page.locator('#view-nav .count[data-view="mine"]').inner_text() == "2"
    assert page.locator("table.tasks tbody tr").count() == 2

    # --- save a shared view and use it again ------------------------------------------------------------------
    page.locator("details.filters summary").click()
    page.get_by_label("タスク", exact=True).select_option("all")
    page.get_by_label("氏名またはふりがな").fill("サトウ")
    page.get_by_label("並べ替え").select_option("created")
    page.get_by_role("button", name="絞り込む").click()
    assert page.locator("table.tasks tbody tr").count() == 2
    page.locator("details.save-view summary").click()
    page.get_by_label("ビュー名").fill("サトウさんの相談")
    page.get_by_label("この自治体の全職員と共有する").check()
    page.get_by_role("button", name="ビューを保存").click()
    assert "ビュー「サトウさんの相談」を保存しました。" in page.locator(".flashes").inner_text()
    page.goto(f"{base}/inbox?scope=role")
    assert page.locator("table.tasks tbody tr").count() == 0
    page.locator("#view-nav").get_by_role("link", name=re.compile("サトウさんの相談")).click()
    assert "view=" in page.url
    assert page.locator("table.tasks tbody tr").count() == 2
    assert page.locator("h1").inner_text().endswith("サトウさんの相談")
    screenshot(page, "inbox")
    assert _no_horizontal_scroll(page)
    secretary.goto(f"{base}/inbox")
    assert secretary.locator("#view-nav").get_by_text("サトウさんの相談").count() == 1  # shared in the tenant

    # --- the case workspace: timeline, plan, diagram with the current step ----------------------------------------
    _open_task(secretary, base, "随時会議の招集", "山田 花子")
    secretary.get_by_role("link", name="ケース画面を開く").first.click()
    secretary.wait_for_url(re.compile(r"/cases/"))
    secretary.wait_for_selector("#diagram[data-loaded=true]")
    marked = secretary.locator("#diagram .djs-element.current-step")
    assert marked.count() >= 1
    assert secretary.locator('#diagram [data-element-id="call_meeting"].current-step').count() == 1
    timeline = secretary.locator(".timeline").inner_text()
    for step in ("相談受付", "申込・同意", "アセスメント", "プラン(案)策定"):
        assert step in timeline
    assert "佐藤 美咲" in timeline
    assert "安定した仕事に就き" in secretary.locator("#h-plan + dl").inner_text()
    assert "港北区役所 保険年金課" in secretary.locator(".referral").inner_text()
    assert "昭和55年4月1日" in secretary.locator(".case-summary").inner_text()  # 和暦
    screenshot(secretary, "case-workspace")

    # --- a progress record, added by the consultant -------------------------------------------------------------
    page.goto(secretary.url)
    page.get_by_label("電話").check()
    page.get_by_label("内容").fill("家計の状況を電話で確認した。来週、ハローワークへ同行する。")
    page.get_by_role("button", name="記録を追加").click()
    records = page.locator("table.records").inner_text()
    assert "ハローワークへ同行する" in records and "佐藤 美咲" in records
    assert "支援経過記録" in page.locator(".timeline").inner_text()


def test_pages_fit_desktop_and_phone_screens(runtime, yokohama, sign_in, live_server):
    consultant = make_staff(runtime, yokohama, "kato@example.jp", "加藤 優", ["consultant"])
    case_id = _start_case(runtime, yokohama, "高橋 三郎", "タカハシ サブロウ")
    base = f"{live_server}/t/{yokohama.slug}"
    for label, viewport in (("desktop", None), ("phone", PHONE)):
        page = sign_in(consultant, yokohama, viewport=viewport)
        for path in (
            "/inbox?scope=role",
            f"/cases/{case_id}",
            "/cases/new",
            "/cases",
            "/inbox?scope=role&lang=en",
        ):
            page.goto(base + path)
            assert _no_horizontal_scroll(page), (label, path)
            if label == "phone" and path == "/cases":
                screenshot(page, "case-list-phone")
            if label == "phone" and path.startswith("/inbox"):
                screenshot(page, "inbox-phone-en" if "lang=en" in path else "inbox-phone")
        page.goto(f"{base}/inbox?scope=role")
        with page.expect_navigation():  # measured on the task page, not while it replaces the inbox
            page.locator("a.task-link").first.click()
        assert _no_horizontal_scroll(page), (label, "task")
        if label == "phone":
            screenshot(page, "task-form-phone", full_page=False)
        # keyboard: the skip link is the first stop and moves focus to the main content
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
