"""Issue #20 through the pages: a partner's user sees only their own organisation's referrals and no case
(404), attachments are limited by size and type (checked by content), and a department's flag shows on the
支援会議's page to its registered members only."""

from __future__ import annotations

import io
import uuid
from datetime import date

from sqlalchemy import select

from tests.web.referral_support import demo_tenant, join_partner
from tsunagu.core.session import transaction
from tsunagu.referrals.models import Referral, ReferralAttachment
from tsunagu.sharing import services as sharing
from tsunagu.tenancy.models import OrgUnit

FORM = {
    "consent_status": "obtained",
    "given_on": "2026-12-01",
    "channel": "signed_form",
    "categories": "general",
    "feedback": "yes",
    "name": "佐藤 一郎",
    "name_kana": "サトウ イチロウ",
    "birth_date": "1955-05-05",
    "topics": ["care", "income"],
    "urgency": "normal",
    "reason": "介護と生活費の相談",
}
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _unit(runtime, tenant, code):
    with transaction(runtime.sessions, tenant.id) as session:
        return session.execute(select(OrgUnit).where(OrgUnit.code == code)).scalar_one()


def _partner_user(runtime, act_as, tenant, key, unit_code):
    user = act_as(
        tenant, ["external_participant"], name=f"{key} 担当", unit=_unit(runtime, tenant, unit_code)
    )
    from tsunagu.identity.models import User

    with transaction(runtime.sessions, tenant.id) as session:
        email = session.get(User, (tenant.id, user.user_id)).email
    join_partner(runtime, tenant, key, email)
    return user


def _send(browser, files=None):
    browser.get("/partner/referrals/new")
    data = {**FORM, **({"attachments": files} if files else {})}
    return browser.post("/partner/referrals/new", data=data, content_type="multipart/form-data")


def _only_referral(runtime, tenant) -> Referral:
    with transaction(runtime.sessions, tenant.id) as session:
        return session.execute(select(Referral)).scalar_one()


def test_a_partner_sees_only_its_own_referrals_and_no_case_through_the_pages(runtime, act_as):
    tenant = demo_tenant(runtime)
    houkatsu = _partner_user(runtime, act_as, tenant, "houkatsu-chuo", "soudan-center")
    zeimu = _partner_user(runtime, act_as, tenant, "zeimu", "seikatsu-shien")
    consultant = act_as(tenant, ["consultant"], unit=_unit(runtime, tenant, "soudan-center"))

    sent = _send(houkatsu)
    assert sent.status_code == 303, sent.get_data(as_text=True)[:2000]
    referral = _only_referral(runtime, tenant)
    page = houkatsu.get(f"/partner/referrals/{referral.id}").get_data(as_text=True)
    assert "受付済" in page and "佐藤 一郎" in page

    accepted = consultant.post(f"/referrals/{referral.id}/accept", data={"choice": "new"})
    assert accepted.status_code == 303, accepted.get_data(as_text=True)[:2000]
    case_id = _only_referral(runtime, tenant).case_id

    portal = zeimu.get("/partner").get_data(as_text=True)
    assert "佐藤 一郎" not in portal
    for path in (
        f"/partner/referrals/{referral.id}",
        f"/referrals/{referral.id}",
        f"/referrals/{uuid.uuid4()}",
        f"/cases/{case_id}",
        f"/cases/{case_id}/cooperation",
    ):
        assert zeimu.get(path).status_code == 404, path
    for path in (f"/cases/{case_id}", f"/cases/{case_id}/cooperation"):
        assert houkatsu.get(path).status_code == 404, path
    # not a partner's user at all: the portal does not exist for a consultant
    assert consultant.get("/partner").status_code == 404


def test_attachments_are_limited_by_type_and_size_checked_by_content(runtime, act_as):
    from tsunagu.referrals import inputs

    tenant = demo_tenant(runtime)
    houkatsu = _partner_user(runtime, act_as, tenant, "houkatsu-chuo", "soudan-center")
    fake = _send(houkatsu, files=[(io.BytesIO(b"MZ\x90\x00 not a pdf"), "report.pdf", "application/pdf")])
    assert fake.status_code == 422
    assert "PDF・PNG・JPEG のみ" in fake.get_data(as_text=True)
    big = _send(
        houkatsu, files=[(io.BytesIO(PDF + b"0" * inputs.ATTACHMENT_MAX_BYTES), "big.pdf", "application/pdf")]
    )
    assert big.status_code == 422
    assert "1MB を超えています" in big.get_data(as_text=True)
    with transaction(runtime.sessions, tenant.id) as session:
        assert session.execute(select(Referral)).first() is None  # nothing half-stored

    ok = _send(houkatsu, files=[(io.BytesIO(PDF), "紹介状.pdf", "application/octet-stream")])
    assert ok.status_code == 303
    with transaction(runtime.sessions, tenant.id) as session:
        stored = session.execute(select(ReferralAttachment)).scalar_one()
        assert (stored.content_type, stored.size, stored.filename) == (
            "application/pdf",
            len(PDF),
            "紹介状.pdf",
        )
    consultant = act_as(tenant, ["consultant"], unit=_unit(runtime, tenant, "soudan-center"))
    referral = _only_referral(runtime, tenant)
    download = consultant.get(f"/referrals/{referral.id}/attachments/{stored.id}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Disposition"] == "attachment"
    other_unit = act_as(tenant, ["consultant"], unit=_unit(runtime, tenant, "seikatsu-shien"))
    assert other_unit.get(f"/referrals/{referral.id}/attachments/{stored.id}").status_code == 404


def test_a_department_flag_shows_on_the_support_meeting_page_to_its_members_only(runtime, act_as):
    tenant = demo_tenant(runtime)
    zeimu = _partner_user(runtime, act_as, tenant, "zeimu", "seikatsu-shien")
    zeimu.get("/partner")
    response = zeimu.post(
        "/partner/flags",
        data={
            "signs": ["tax_utilities", "food"],
            "summary": "窓口で食費に困っていると話した",
            "no_tax_information": "yes",
        },
    )
    assert response.status_code == 303
    assert "次回の支援会議に付議しました" in zeimu.get("/partner").get_data(as_text=True)
    from tsunagu.referrals.models import DepartmentFlag

    with transaction(runtime.sessions, tenant.id) as session:
        flag = session.execute(select(DepartmentFlag)).scalar_one()
    member = act_as(tenant, ["meeting_secretariat"], unit=_unit(runtime, tenant, "seikatsu-shien"))
    outsider = act_as(tenant, ["meeting_secretariat"], unit=_unit(runtime, tenant, "seikatsu-shien"))
    with transaction(runtime.sessions, tenant.id) as session:
        sharing.register_member(session, flag.meeting_key, member.user_id, date(2026, 4, 1), "v1")
    seen = member.get(f"/meetings/{flag.meeting_id}").get_data(as_text=True)
    assert "庁内からの早期把握情報" in seen and "窓口で食費に困っていると話した" in seen
    hidden = outsider.get(f"/meetings/{flag.meeting_id}").get_data(as_text=True)
    assert "この支援会議の構成員だけが閲覧できます" in hidden
    assert "窓口で食費に困っていると話した" not in hidden
