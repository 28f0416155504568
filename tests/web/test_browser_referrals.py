"""Issue #20, done when 1, in Debian's Chromium (Japanese): a 地域包括支援センター user signs in, sends a referral
with the person's consent and sees 受付済; the consultant accepts it from the inbox and a case starts with the
referral's provenance; the partner then sees 対応中 and nothing of the case file (an assessment note written
after acceptance never reaches the portal). Screenshots: ``test-artifacts/screenshots/referrals-*.png``."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.engine_api.driver import Api
from tests.factories import make_user
from tests.web.browser_support import screenshot
from tests.web.conftest import make_staff
from tests.web.referral_support import demo_tenant, join_partner
from tsunagu.cases.models import Case
from tsunagu.core.session import transaction
from tsunagu.referrals.models import Referral
from tsunagu.tenancy.models import OrgUnit

pytestmark = pytest.mark.browser
ASSESSMENT_NOTE = "消費者金融3社から合計約300万円の借入"


def _unit(runtime, tenant, code):
    with transaction(runtime.sessions, tenant.id) as session:
        return session.execute(select(OrgUnit).where(OrgUnit.code == code)).scalar_one()


def test_a_houkatsu_user_refers_and_the_consultant_accepts_from_the_inbox(
    client, runtime, sign_in, live_server
):
    tenant = demo_tenant(runtime)
    center = _unit(runtime, tenant, "soudan-center")
    partner = make_staff(
        runtime, tenant, "houkatsu@example.jp", "包括 花子", ["external_participant"], center
    )
    join_partner(runtime, tenant, "houkatsu-chuo", partner.email)
    consultant = make_staff(runtime, tenant, "soudan@example.jp", "相談 一郎", ["consultant"], center)

    page = sign_in(partner, tenant)
    page.get_by_role("link", name="つなぎポータルを開く").click()
    assert "つなぐ市中央地域包括支援センター" in page.content()
    page.get_by_role("link", name="新しいつなぎを送る").click()
    page.get_by_label("同意あり").check()
    page.fill("#given_on", "2026-12-01")
    page.get_by_label("一般の情報").check()
    page.get_by_label("つなぎ先・受付日を紹介元に知らせることに本人が同意している").check()
    page.fill("#name", "鈴木 正子")
    page.fill("#name_kana", "スズキ マサコ")
    page.fill("#birth_date", "1952-03-15")
    page.get_by_label("収入・生活費のこと").check()
    page.get_by_label("介護のこと").check()
    page.select_option("#main_topic", "income")
    page.select_option("#urgency", "high")
    page.fill("#reason", "年金だけでは生活費が足りず、介護サービスの利用料も払えないと相談があった")
    page.fill("#actions_taken", "要介護認定の申請を支援した")
    screenshot(page, "referrals-form")
    page.get_by_role("button", name="つなぎを送る").click()
    page.wait_for_load_state()
    assert "つなぎを送りました" in page.content()
    assert page.locator(".referral-status").inner_text() == "受付済"
    screenshot(page, "referrals-received")

    staff = sign_in(consultant, tenant)
    panel = staff.locator(".referral-panel")
    assert "受付待ちのつなぎ" in panel.inner_text() and "鈴木 正子" in panel.inner_text()
    screenshot(staff, "referrals-inbox")
    panel.get_by_role("link", name="鈴木 正子").click()
    assert "つなぐ市中央地域包括支援センター からのつなぎ" in staff.content()
    staff.get_by_role("button", name="受け付けてケースを開始する").click()
    staff.wait_for_load_state()
    assert "つなぎを受け付けました" in staff.content()
    timeline = staff.content()
    assert (
        "相談受付（他機関からのつなぎ）" in timeline
        and "関係機関からのつなぎ（つなぐ市中央地域包括支援センター）" in timeline
    )
    screenshot(staff, "referrals-case")

    with transaction(runtime.sessions, tenant.id) as session:
        referral = session.execute(select(Referral)).scalar_one()
        case = session.get(Case, (tenant.id, referral.case_id))
        assert case.referral["referral_id"] == str(referral.id)
        assert case.referral["source_agency"] == "つなぐ市中央地域包括支援センター"
    # an assessment note on the case (written through the API by the case's consultant)
    writer = make_user(runtime, tenant, email="writer@example.jp", roles=["consultant"], org_unit=center)
    note = Api(client, "demo", writer.token).post(
        f"/cases/{referral.case_id}/progress-records",
        json={
            "record_date": "2026-12-07",
            "method": "visit",
            "staff_name": "相談 一郎",
            "content": ASSESSMENT_NOTE,
        },
    )
    assert note.status_code == 201, note.get_json()

    page.goto(f"{live_server}/t/demo/partner/referrals/{referral.id}")
    assert page.locator(".referral-status").inner_text() == "対応中"
    assert "つなぐ市くらし相談センター（委託）" in page.content()  # the person agreed the referrer is told
    assert ASSESSMENT_NOTE not in page.content()
    page.goto(f"{live_server}/t/demo/partner")
    assert page.locator(".referral-status").first.inner_text() == "対応中"
    assert ASSESSMENT_NOTE not in page.content()
    screenshot(page, "referrals-in-progress")
    response = page.goto(f"{live_server}/t/demo/cases/{referral.case_id}")
    assert response is not None and response.status == 404
