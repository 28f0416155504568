"""The standard forms as PDF (相談受付・申込票, プラン兼事業等利用申込書, 評価シート): Japanese text in the MHLW layout
(checked by extracting the PDF's text with pypdf), only what the viewer may see (``sharing.decide``), each
print audited, and the print buttons on the case page."""

from __future__ import annotations

import io
import re
import uuid
from datetime import date
from pathlib import Path

import pypdf
from sqlalchemy import select

from tests.engine_api.driver import Api
from tests.factories import make_user, tenant_row
from tsunagu.audit.models import AuditEntry
from tsunagu.cases import information
from tsunagu.cases.services import get_case
from tsunagu.core.session import transaction

DETAIL = "勤務先の倒産で収入がなくなり、持病の通院費も払えない。"
HOUSEHOLD = "本人と長男（高校生）の二人世帯"


def _case(client, runtime) -> tuple[Api, str]:
    tenant = tenant_row(runtime, "iwamizawa")
    user = make_user(
        runtime, tenant, email="print@iwamizawa.example.jp", roles=["tenant_admin", "consultant"]
    )
    api = Api(client, "iwamizawa", user.token)
    case = api.start_case()
    api.complete(
        case["id"],
        "intake",
        screening_outcome="continue",
        consultation_detail=DETAIL,
        household_composition=HOUSEHOLD,
        consultation_topics=["income", "health"],
        main_topic="income",
        address="岩見沢市鳩が丘1-1-1",
    )
    api.complete(case["id"], "consent", consent_application=True, application_date="2026-04-01")
    api.complete(case["id"], "assessment", emergency_support=False, urgency="normal")
    api.complete(
        case["id"],
        "plan_draft",
        plan_date="2026-04-15",
        plan_period="P6M",
        plan_end_date="2026-10-15",
        long_term_goal="安定した収入を得て、子どもと安心して暮らす",
        statutory_programmes=["household_finance"],
        early_start=False,
        internal_only=False,
    )
    return api, case["id"]


def _pdf(who, path: str):
    return who.client.get(who.url(path))


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "print"


def _text(response, keep: str = "") -> str:
    assert response.status_code == 200, (response.status_code, response.data[:300])
    assert response.mimetype == "application/pdf"
    if keep:  # for a person to look at (test-artifacts/print/)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{keep}.pdf").write_bytes(response.data)
    assert response.headers["Cache-Control"] == "no-store"
    text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.data)).pages)
    return re.sub(r"\s+", "", text)  # the title is letter-spaced: compare without white space


def _n(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _unit_id(runtime, tenant, code: str) -> uuid.UUID:
    from tsunagu.tenancy.models import OrgUnit

    with transaction(runtime.sessions, tenant.id) as session:
        return session.execute(select(OrgUnit.id).where(OrgUnit.code == code)).scalar_one()


def test_the_three_forms_print_in_japanese_for_the_case_team(client, runtime, yokohama, act_as):
    _api, case_id = _case(client, runtime)
    tenant = tenant_row(runtime, "iwamizawa")
    with transaction(runtime.sessions, tenant.id) as session:
        unit_id = get_case(session, uuid.UUID(case_id)).org_unit_id
    from tsunagu.tenancy.models import OrgUnit

    with transaction(runtime.sessions, tenant.id) as session:
        unit = session.get(OrgUnit, (tenant.id, unit_id))
    consultant = act_as(tenant, ["consultant"], name="岩見 相談員", unit=unit)

    page = consultant.get(f"/cases/{case_id}").get_data(as_text=True)
    for kind in ("intake", "plan", "evaluation"):
        assert f"/cases/{case_id}/print/{kind}.pdf" in page  # the print buttons

    intake = _text(_pdf(consultant, f"/cases/{case_id}/print/intake.pdf"), keep="intake")
    for expected in (
        "相談受付・申込票",
        "山田 花子",
        "ヤマダ ハナコ",
        "昭和55年4月1日",
        DETAIL[:10],
        HOUSEHOLD[:8],
    ):
        assert _n(expected) in intake, expected
    assert "自立相談支援事業の利用を申し込みます" in intake and "令和8年4月1日" in intake
    assert "◎" in intake and "■" in intake  # the most pressing topic and the ticked ones
    plan = _text(_pdf(consultant, f"/cases/{case_id}/print/plan.pdf"), keep="plan")
    for expected in (
        "プラン兼事業等利用申込書",
        "山田 花子",
        "安定した収入を得て",
        "6か月",
        "令和8年10月15日",
    ):
        assert _n(expected) in plan, expected
    evaluation = _text(_pdf(consultant, f"/cases/{case_id}/print/evaluation.pdf"), keep="evaluation")
    assert "評価シート" in evaluation and "山田花子" in evaluation and "目標の達成状況" in evaluation

    with transaction(runtime.sessions, tenant.id) as session:
        prints = list(
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.action == "case.print", AuditEntry.actor_id == consultant.user_id)
                .order_by(AuditEntry.seq)
            ).scalars()
        )
    assert [e.details["form"] for e in prints] == ["intake", "plan", "evaluation"]
    assert all(e.case_id == uuid.UUID(case_id) and e.legal_basis for e in prints)
    assert {e.details["visibility"] for e in prints} == {"full"}


def test_a_viewer_without_a_basis_gets_the_anonymised_summary_only(client, runtime, yokohama, act_as):
    _api, case_id = _case(client, runtime)
    tenant = tenant_row(runtime, "iwamizawa")
    admin = act_as(tenant, ["tenant_admin"])  # may open the case, has no basis for the person's data
    for kind in ("intake", "plan", "evaluation"):
        text = _text(_pdf(admin, f"/cases/{case_id}/print/{kind}.pdf"))
        assert "匿名化した要約" in text and "40代" in text
        for secret in ("山田", "ヤマダ", "昭和55年", DETAIL[:10], "安定した収入", "岩見沢市鳩が丘"):
            assert _n(secret) not in text, (kind, secret)


def test_consent_for_general_information_prints_the_person_but_not_the_household_or_the_consultation(
    client, runtime, yokohama, act_as
):
    from tsunagu.tenancy.models import OrgUnit

    _api, case_id = _case(client, runtime)
    tenant = tenant_row(runtime, "iwamizawa")
    with transaction(runtime.sessions, tenant.id) as session:
        case = get_case(session, uuid.UUID(case_id))
        unit = session.get(OrgUnit, (tenant.id, case.org_unit_id))
    provider = act_as(tenant, ["provider"], unit=unit)  # may open the case, not on its team
    before = _text(_pdf(provider, f"/cases/{case_id}/print/intake.pdf"))
    assert "匿名化した要約" in before and "山田花子" not in before  # no consent yet

    with transaction(runtime.sessions, tenant.id) as session:
        information.record_consent(
            session,
            get_case(session, uuid.UUID(case_id)),
            {
                "given_on": date.today().isoformat(),
                "channel": "signed_form",
                "form_version": "2026-04",
                "roles": ["provider"],
                "categories": ["general"],
            },
            None,
        )
    text = _text(_pdf(provider, f"/cases/{case_id}/print/intake.pdf"), keep="intake-consent-general")
    assert "山田花子" in text and "岩見沢市鳩が丘" in text  # general information: the consent covers it
    assert _n(DETAIL[:10]) not in text and _n(HOUSEHOLD[:8]) not in text  # household, 要配慮: not covered
    assert text.count("この欄は表示できません") == 2


def test_an_unknown_form_is_404_and_another_tenant_cannot_print(client, runtime, yokohama, act_as):
    _api, case_id = _case(client, runtime)
    tenant = tenant_row(runtime, "iwamizawa")
    admin = act_as(tenant, ["tenant_admin"])
    assert _pdf(admin, f"/cases/{case_id}/print/assessment.pdf").status_code == 404
    outsider = act_as(tenant_row(runtime, "kunitachi"), ["tenant_admin"])
    response = _pdf(outsider, f"/cases/{case_id}/print/intake.pdf")
    assert response.status_code == 404 and b"%PDF" not in response.data
