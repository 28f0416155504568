"""Done when 4, in Debian's Chromium: the reports dashboard in Japanese — every chart drawn by ECharts from
its table, the table view opened, the downloads offered, no CSP violation (the ``sign_in`` fixture fails on
any). Screenshots: ``test-artifacts/screenshots/reports-dashboard*.png``."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import select

from tests.engine_api.driver import Api
from tests.factories import make_user
from tests.web.browser_support import screenshot
from tests.web.conftest import make_staff
from tsunagu.core.session import transaction
from tsunagu.reports import services as reports
from tsunagu.reports.dashboard import months_back
from tsunagu.tenancy.models import OrgUnit

pytestmark = pytest.mark.browser
MONTH = "2026-11"


def _history(runtime, tenant) -> None:
    """A year of facts in three wards, straight into the projection."""
    with transaction(runtime.sessions, tenant.id) as session:
        wards = {
            u.code: u.id
            for u in session.execute(select(OrgUnit).where(OrgUnit.code.in_(["tsurumi", "kohoku", "naka"])))
            .scalars()
            .all()
        }
        for i, month in enumerate(months_back(MONTH, 12)):
            day = date(int(month[:4]), int(month[5:7]), 10)
            for code, unit in wards.items():
                for n in range(3 + (i + len(code)) % 5):
                    case = uuid.uuid4()
                    reports.record_fact(session, case, "consultation_received", day, org_unit_id=unit)
                    if n % 2 == 0:
                        reports.record_fact(session, case, "plan_made", day, org_unit_id=unit)
                        reports.record_fact(session, case, "work_support_target", day, org_unit_id=unit)
                    if n % 4 == 0:
                        reports.record_fact(session, case, "got_work", day, org_unit_id=unit, cycle=1)


def test_the_dashboard_in_japanese_draws_every_chart_with_its_table_view(
    client, runtime, yokohama, sign_in, live_server
):
    _history(runtime, yokohama)
    # open work: real cases waiting at intake in two wards
    api = Api(
        client,
        "yokohama",
        make_user(runtime, yokohama, email="a@yokohama.example.jp", roles=["tenant_admin"]).token,
    )
    for code in ("tsurumi", "kohoku", "kohoku"):
        api.start_case(org_unit=code)
    staff = make_staff(runtime, yokohama, "reports@example.jp", "統計 花子", ["tenant_admin"])
    page = sign_in(staff, yokohama)
    page.get_by_role("link", name="統計").click()
    page.wait_for_url(f"{live_server}/t/yokohama/reports")
    page.goto(f"{live_server}/t/yokohama/reports?month={MONTH}")
    assert page.locator("h1").inner_text().startswith("統計ダッシュボード")
    assert "令和8年11月" in page.locator("h1").inner_text()
    page.wait_for_selector(".report-chart-drawn canvas")
    for key in ("trend", "funnel", "wards", "open_by_ward"):
        section = page.locator(f'section[data-chart="{key}"]')
        assert section.locator("canvas").count() >= 1, key
        assert section.get_by_role("link", name="CSVをダウンロード").count() == 1
        assert section.get_by_role("button", name="画像（PNG）をダウンロード").is_visible()
    screenshot(page, "reports-dashboard")

    # the table view: the same numbers the chart shows, readable without the chart
    trend = page.locator('section[data-chart="trend"]')
    trend.get_by_text("表で見る").click()
    table = page.locator("#table-trend")
    assert table.is_visible()
    headers = table.locator("thead th").all_inner_texts()
    assert headers[1:4] == ["新規相談受付件数", "プラン作成件数", "就労支援対象者数"]
    last = table.locator("tbody tr").last
    assert last.locator("th").inner_text() == MONTH
    with transaction(runtime.sessions, yokohama.id) as session:
        november = reports.monthly_report(session, yokohama, MONTH)
    assert last.locator("td").first.inner_text() == str(november["total"]["figures"]["new_consultations"])
    wards = page.locator('section[data-chart="wards"]')
    wards.get_by_text("表で見る").click()
    assert "鶴見区" in page.locator("#table-wards").inner_text()
    by_ward = page.locator('section[data-chart="open_by_ward"]')
    by_ward.get_by_text("表で見る").click()
    rows = dict(
        (r.locator("th").inner_text(), r.locator("td").first.inner_text())
        for r in page.locator("#table-open_by_ward tbody tr").all()
    )
    assert rows == {"鶴見区": "1", "港北区": "2"}
    screenshot(page, "reports-dashboard-tables")

    # a download from the page
    with page.expect_download() as download:
        trend.get_by_role("link", name="CSVをダウンロード").click()
    assert download.value.suggested_filename == f"dashboard-trend-{MONTH}.csv"
    with page.expect_download() as image:
        trend.get_by_role("button", name="画像（PNG）をダウンロード").click()
    assert image.value.suggested_filename == "dashboard-trend.png"

    page.goto(f"{live_server}/t/yokohama/reports/monthly?month={MONTH}")
    assert page.locator("#monthly-report tbody tr").count() == 19
    screenshot(page, "reports-monthly")
