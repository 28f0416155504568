"""The projection at completion: what a form declares counts, under the tenant's own field names, once per
plan cycle (issue #19)."""

from __future__ import annotations

import io
import json
import uuid
from datetime import date
from pathlib import Path

from sqlalchemy import select

from tests.factories import tenant_row
from tests.reports.conftest import MONTH, CaseDriver, admin_api, on
from tsunagu.core.session import transaction
from tsunagu.reports.facts import declaration, facts_of
from tsunagu.reports.models import ReportFact

REPO = Path(__file__).resolve().parents[2]
INTAKE = REPO / "workflows" / "casework" / "forms" / "intake.form"


def _facts(runtime, slug: str, case_id: str) -> list[tuple[str, int, str]]:
    tenant = tenant_row(runtime, slug)
    with transaction(runtime.sessions, tenant.id) as session:
        rows = session.execute(
            select(ReportFact.kind, ReportFact.cycle, ReportFact.month).where(
                ReportFact.case_id == uuid.UUID(case_id)
            )
        ).all()
    return sorted((k, c, m) for k, c, m in rows)


def _renamed_intake() -> str:
    form = json.loads(INTAKE.read_text(encoding="utf-8"))

    def walk(components):
        for c in components:
            if c.get("key") == "reception_date":
                c["key"] = "uketsuke_bi"  # the tenant's own name for 受付日; the tag stays
            walk(c.get("components") or [])

    walk(form["components"])
    return json.dumps(form, ensure_ascii=False)


def test_a_field_the_tenant_renamed_keeps_counting(client, runtime, presets):
    api = admin_api(client, runtime, "iwamizawa")
    api.start_case(org_unit="jiritsu-soudan")  # the tenant's first version: the library
    deployed = api.post(
        "/definitions",
        data={
            "files": [(io.BytesIO(_renamed_intake().encode("utf-8")), "casework/forms/intake.form")],
            "note": "受付日の項目名を変更",
        },
        content_type="multipart/form-data",
    )
    assert deployed.status_code == 201, deployed.get_json()
    case = api.start_case(org_unit="jiritsu-soudan")
    api.complete(case["id"], "intake", screening_outcome="advice_only", uketsuke_bi=on(8))
    assert _facts(runtime, "iwamizawa", case["id"]) == [
        ("advice_only", 0, MONTH),
        ("consultation_received", 0, MONTH),
    ]
    report = api.get(f"/reports/monthly?month={MONTH}").get_json()
    assert report["total"]["figures"]["new_consultations"] == 1


def test_a_plan_sent_back_and_drafted_again_counts_once_and_an_untick_withdraws(client, runtime, presets):
    api = admin_api(client, runtime, "yokohama")
    driver = CaseDriver(api, runtime, "kohoku")
    driver.intake("continue")
    api.complete(driver.case_id, "consent", consent_application=True)
    api.complete(driver.case_id, "assessment", emergency_support=False, urgency="high")
    draft = {"plan_end_date": "2027-06-01", "early_start": False, "statutory_programmes": []}
    api.complete(driver.case_id, "plan_draft", plan_date=on(6), work_support=True, **draft)
    api.complete(driver.case_id, "convene_adhoc")
    api.complete(driver.case_id, "record_meeting_result", meeting_decision="revise", meeting_date=on(7))
    assert ("work_support_target", 0, MONTH) in _facts(runtime, "yokohama", driver.case_id)
    # drafted again: still one fact; then drafted without work support: withdrawn
    api.complete(driver.case_id, "plan_draft", plan_date=on(8), work_support=True, **draft)
    kinds = [k for k, _, _ in _facts(runtime, "yokohama", driver.case_id)]
    assert kinds.count("work_support_target") == 1
    api.complete(driver.case_id, "convene_adhoc")
    api.complete(driver.case_id, "record_meeting_result", meeting_decision="revise", meeting_date=on(9))
    api.complete(driver.case_id, "plan_draft", plan_date=on(10), work_support=False, **draft)
    kinds = [k for k, _, _ in _facts(runtime, "yokohama", driver.case_id)]
    assert "work_support_target" not in kinds
    assert kinds.count("meeting_held") == 1  # one per plan cycle, the latest meeting's date
    assert "plan_made" not in kinds  # nothing decided yet


def test_the_declaration_reads_tags_not_keys():
    form = {
        "components": [
            {"type": "datetime", "key": "hi", "properties": {"report": "evaluated"}},
            {
                "type": "group",
                "components": [{"type": "checkbox", "key": "shuro", "properties": {"report": "got_work"}}],
            },
            {
                "type": "radio",
                "key": "kekka",
                "properties": {"report:close": "advice_only", "report:x": "nonsense"},
            },
            {"type": "checklist", "key": "henka", "properties": {"report": "improved"}},
            {"type": "checkbox", "key": "untagged"},
        ]
    }
    decl = declaration(form)
    assert decl.date_field == "hi"
    day, kinds = facts_of(
        decl, {"hi": "2026-11-03", "shuro": True, "kekka": "close", "henka": []}, date(2026, 1, 1)
    )
    assert day == date(2026, 11, 3)
    assert kinds == {"evaluated", "got_work", "advice_only"}  # an empty checklist is no improvement
    day, kinds = facts_of(decl, {"hi": None, "shuro": False, "henka": ["motivation"]}, date(2026, 1, 1))
    assert day == date(2026, 1, 1) and kinds == {"improved"}


def test_a_text_cell_excel_would_run_as_a_formula_is_quoted():
    from tsunagu.reports.exports import cell

    assert cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert cell("@SUM(A1)") == "'@SUM(A1)"
    assert cell("鶴見区") == "鶴見区"
    assert cell(-3) == -3
