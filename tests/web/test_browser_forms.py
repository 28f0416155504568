"""Form conditions in a real browser: on the consent step, 申込日 and 署名日 show only while 「本人が申し込んだ」
is ticked, live (frontend/forms/conditions.js, FEEL through feelin, under the app's CSP); the person who does
not apply completes the step without them and the case ends (the documented "no application" path)."""

from __future__ import annotations

import re
import uuid
from datetime import date

import pytest
from sqlalchemy import select

from tests.web.browser_support import fill_required, screenshot
from tests.web.conftest import make_staff
from tsunagu.core.session import transaction

pytestmark = pytest.mark.browser


def _case(runtime, tenant) -> str:
    from tsunagu.cases.services import PersonInput, start_case
    from tsunagu.tenancy.models import Tenant

    with transaction(runtime.sessions, tenant.id) as session:
        row = session.get(Tenant, tenant.id)
        case = start_case(
            session,
            row,
            runtime.settings.workflows_dir,
            PersonInput(name="中村 陽子", name_kana="ナカムラ ヨウコ", birth_date=date(1979, 3, 3)),
            org_unit_code="kohoku",
        )
        return str(case.id)


def _open(page, base: str, step: str) -> None:
    page.goto(f"{base}/inbox?scope=all")
    page.locator("table.tasks tbody tr", has_text="中村 陽子").filter(has_text=step).locator(
        "a.task-link"
    ).click()
    page.wait_for_url(re.compile(r"/tasks/"))


def test_conditional_fields_hide_and_show_live_and_no_application_ends_the_case(
    runtime, yokohama, sign_in, live_server
):
    consultant = make_staff(runtime, yokohama, "nakamura@example.jp", "中村 由美", ["consultant"])
    case_id = _case(runtime, yokohama)
    base = f"{live_server}/t/{yokohama.slug}"
    page = sign_in(consultant, yokohama)

    # intake: つなぎ元 shows only for a referral, つなぎ先 only when referring elsewhere
    _open(page, base, "相談受付")
    source, target = page.locator("#f-referral_source"), page.locator("#f-referral_target")
    page.locator("#f-contact_route").select_option("office")
    assert source.is_hidden() and source.is_disabled()
    page.locator("#f-contact_route").select_option("referral")
    assert source.is_visible() and source.is_enabled()
    page.locator("#f-contact_route").select_option("phone")
    assert source.is_hidden()
    page.get_by_label("継続して支援する").check()
    assert target.is_hidden()
    fill_required(page, {"consultation_topics": ["income"], "screening_outcome": "continue"})
    page.locator("button[name=action][value=complete]").click()
    page.wait_for_url(re.compile(r"/inbox"))

    # consent: the dates follow the application checkbox, as the user ticks it
    _open(page, base, "申込・同意")
    applied = page.locator("#f-consent_application")
    application_date, signature_date = page.locator("#f-application_date"), page.locator("#f-signature_date")
    assert not applied.is_checked()
    assert application_date.is_hidden() and signature_date.is_hidden()
    assert page.get_by_text("申込日", exact=True).is_hidden()
    applied.check()
    assert application_date.is_visible() and signature_date.is_visible()
    assert application_date.get_attribute("required") is not None  # required while it shows
    marks = page.locator(".field:has(#f-application_date) [data-required-when-shown]")
    assert marks.is_visible()
    screenshot(page, "consent-applied", full_page=False)
    application_date.fill("2026-04-01")
    applied.uncheck()
    assert application_date.is_hidden() and application_date.is_disabled()
    assert application_date.get_attribute("required") is None
    screenshot(page, "consent-no-application", full_page=False)

    # no application: completes without either date, and the case ends
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.locator("button[name=action][value=complete]").click()
    assert answer.value.status == 302
    page.wait_for_url(re.compile(r"/inbox"))
    assert "「申込・同意」を完了しました。" in page.locator(".flashes").inner_text()

    from tsunagu.cases.models import Case, CaseEvent

    with transaction(runtime.sessions, yokohama.id) as session:
        case = session.get(Case, (yokohama.id, uuid.UUID(case_id)))
        assert case is not None and case.status == "closed"
        events = session.execute(
            select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.kind == "task_completed")
        ).scalars()
        consent = next(e for e in events if e.element == "consent")
        assert consent.submission["consent_application"] is False
        assert consent.submission["application_date"] is None  # typed, then hidden: not stored
