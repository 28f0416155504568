"""Done when 6, in Debian's Chromium: the secretariat opens the calendar (FullCalendar, Japanese, holidays),
the agenda, records attendance and decisions, prints the agenda (the PDF's Japanese text is extracted), and the
cases move on in the inbox. Screenshots: ``test-artifacts/screenshots/meetings-*.png``."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pypdf
import pytest

from tests.engine_api.driver import Api
from tests.factories import make_user, tenant_row
from tests.meetings.conftest import drain_service_tasks
from tests.meetings.test_agenda_and_decisions import _through_plan
from tests.web.browser_support import screenshot
from tests.web.conftest import make_staff
from tsunagu.core.session import transaction
from tsunagu.meetings import services as meetings
from tsunagu.tenancy.sync import sync_presets

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def presets(runtime):
    sync_presets(runtime, REPO / "tenants")


def test_the_secretariat_runs_a_meeting_in_the_browser(client, runtime, presets, sign_in, live_server):
    tenant = tenant_row(runtime, "iwamizawa")
    user = make_user(runtime, tenant, email="c@iwamizawa.example.jp", roles=["tenant_admin", "consultant"])
    api = Api(client, "iwamizawa", user.token)
    case_ids = []
    for _ in range(2):
        case = api.start_case()
        _through_plan(api, case["id"])
        case_ids.append(case["id"])
    drain_service_tasks(runtime)
    with transaction(runtime.sessions, tenant.id) as session:
        meeting_id = meetings.open_item_of(session, uuid.UUID(case_ids[0])).meeting_id

    staff = make_staff(runtime, tenant, "secretariat@example.jp", "事務局 花子", ["meeting_secretariat"])
    page = sign_in(staff, tenant)
    page.get_by_role("link", name="会議").click()
    page.wait_for_selector(".fc-daygrid-event, .fc-event", timeout=15000)  # FullCalendar drew the meetings
    assert "支援調整会議" in page.locator("#meeting-calendar").inner_text()
    page.locator(".fc-next-button").click()  # next month: January, 元日 marked
    page.wait_for_selector(".holiday", timeout=15000)
    assert "元日" in page.locator("#meeting-calendar").inner_text()
    assert "月" in page.locator(".fc-toolbar-title").inner_text()  # Japanese locale: "2027年1月"
    screenshot(page, "meetings-calendar")

    page.goto(f"{live_server}/t/iwamizawa/meetings/{meeting_id}")
    assert page.locator("table.agenda tbody tr").count() == 2
    screenshot(page, "meetings-agenda")
    page.fill('input[name="name-0"]', "市 職員")
    page.select_option('select[name="kind-0"]', "municipal")
    page.check('input[name="attended-0"]')
    page.fill('input[name="name-1"]', "相談 支援員")
    page.select_option('select[name="kind-1"]', "consultant")
    page.check('input[name="attended-1"]')
    page.get_by_role("button", name="出席を記録").click()
    page.wait_for_load_state()
    assert "出席を記録しました" in page.content()
    for _ in case_ids:
        form = page.locator("form.decision-form").first
        form.locator('select[name="outcome"]').select_option("approve")
        form.locator('input[name="notes"]').fill("原案どおり承認")
        form.get_by_role("button", name="決定を記録").click()
        page.wait_for_load_state()
        assert "決定を記録しました" in page.content()
    assert page.locator("form.decision-form").count() == 0
    screenshot(page, "meetings-decided")

    pdf = page.request.get(f"{live_server}/t/iwamizawa/meetings/{meeting_id}/agenda.pdf")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf.body())).pages)
    assert "支援調整会議" in text and "議題" in text and "原案どおり承認" in text

    admin = make_staff(runtime, tenant, "admin2@example.jp", "管理 一郎", ["tenant_admin"])
    inbox = sign_in(admin, tenant)
    inbox.goto(f"{live_server}/t/iwamizawa/inbox?scope=all")
    assert inbox.locator("table.tasks tbody tr", has_text="支援確認").count() == 2  # both cases moved on
