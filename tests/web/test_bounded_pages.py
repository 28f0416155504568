"""Issue #10 through the HTML pages: the start-case page bounds the person and the referral per field, drafts
are bounded in size and shape, text without a declared limit has the platform cap, and a `next` with CR/LF
goes back to the inbox instead of answering 500."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select

from tests.web.test_browser_casework import _start_case
from tsunagu.cases.models import Case, HumanTask
from tsunagu.core import limits
from tsunagu.core.session import transaction

PERSON = {"name": "山田 花子", "name_kana": "ヤマダ ハナコ", "birth_date": "1980-04-01", "org_unit": "kohoku"}
REFERRAL = {
    "referred": "true",
    "source_agency": "港北区役所 保険年金課",
    "reason": "保険料の滞納相談",
    "consent_status": "obtained",
}


def _cases(runtime, tenant) -> list[Case]:
    with transaction(runtime.sessions, tenant.id) as session:
        return list(session.execute(select(Case)).scalars())


def test_the_start_case_page_refuses_overlong_fields_with_a_message_at_each(runtime, yokohama, act_as):
    me = act_as(yokohama, ["consultant"])
    response = me.post(
        "/cases/new",
        {
            **PERSON,
            **REFERRAL,
            "name": "あ" * 5000,
            "name_kana": "ア" * 5000,
            "source_agency": "x" * 5000,
            "reason": "y" * 50_000,
        },
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    for field in ("name", "name_kana", "source_agency", "reason"):
        assert f'id="{field}-error"' in body, field
    assert "100文字以内で入力してください" in body
    assert _cases(runtime, yokohama) == []
    english = me.post("/cases/new?lang=en", {**PERSON, **REFERRAL, "source_agency": "x" * 5000}).get_data(
        as_text=True
    )
    assert "Enter at most 100 characters" in english


def test_the_start_case_page_stores_a_referral_that_fits(runtime, yokohama, act_as):
    me = act_as(yokohama, ["consultant"])
    assert me.post("/cases/new", {**PERSON, **REFERRAL}).status_code == 302
    (case,) = _cases(runtime, yokohama)
    assert case.referral == {k: v for k, v in REFERRAL.items() if k != "referred"}


def _intake(runtime, yokohama) -> str:
    _start_case(runtime, yokohama, "山田 花子", "ヤマダ ハナコ")
    with transaction(runtime.sessions, yokohama.id) as session:
        return str(session.execute(select(HumanTask.id)).scalar_one())


def test_a_draft_is_bounded_per_field_and_in_all(runtime, yokohama, act_as):
    me = act_as(yokohama, ["consultant"])
    task_id = _intake(runtime, yokohama)
    response = me.post(
        f"/tasks/{task_id}", [("action", "draft"), ("address", "x" * (limits.DRAFT_TEXT_MAX + 1))]
    )
    assert response.status_code == 422
    assert 'id="f-address-error"' in response.get_data(as_text=True)
    with transaction(runtime.sessions, yokohama.id) as session:
        assert session.get(HumanTask, (yokohama.id, uuid.UUID(task_id))).draft is None
    fine = me.post(f"/tasks/{task_id}", [("action", "draft"), ("address", "横浜市港北区")])
    assert fine.status_code == 302


def test_the_inbox_next_field_with_cr_lf_goes_back_to_the_inbox(runtime, yokohama, act_as):
    me = act_as(yokohama, ["consultant"])
    task_id = _intake(runtime, yokohama)
    for hostile in ("/t/yokohama/inbox\r\nSet-Cookie: evil=1", "/t/yokohama/../other/inbox"):
        response = me.post("/inbox/claim", {"one": task_id, "next": hostile})
        assert response.status_code == 302, repr(hostile)
        assert response.headers["Location"] == "/t/yokohama/inbox"
        assert "evil" not in str(response.headers)
        me.post("/inbox/unclaim", {"one": task_id})


def test_a_workflow_expression_failing_on_submit_shows_a_message_and_keeps_the_task_open(
    runtime, yokohama, act_as
):
    from tsunagu.cases.services import LANE_ROLES
    from tsunagu.engine.definitions import deploy, ensure_library_deployed
    from tsunagu.engine.models import Deployment

    casework = (Path(__file__).resolve().parents[2] / "workflows/casework/casework.bpmn").read_text("utf-8")
    hostile = casework.replace(
        "screening_outcome == 'advice_only'", "len(str([screening_outcome[0] * 100000] * 10000)) &gt; 0"
    )
    with transaction(runtime.sessions, yokohama.id) as session:
        ensure_library_deployed(session, runtime.settings.workflows_dir, LANE_ROLES)
        base = session.execute(select(Deployment)).scalar_one().files
        deploy(
            session,
            {"casework/casework.bpmn": hostile},
            lanes=LANE_ROLES,
            source="upload",
            base_files=dict(base),
        )
    me = act_as(yokohama, ["consultant"])
    task_id = _intake(runtime, yokohama)
    form = [
        ("action", "complete"),
        ("reception_date", "2026-11-20"),
        ("main_topic", "income"),
        ("name", "山田 花子"),
        ("name_kana", "ヤマダ ハナコ"),
        ("birth_date", "1975-06-01"),
        ("contact_route", "office"),
        ("address", "横浜市港北区"),
        ("household_size", "1"),
        ("consultation_topics", "debt"),
        ("consultation_detail", "家賃の滞納"),
        ("screening_outcome", "continue"),
    ]
    response = me.post(f"/tasks/{task_id}", form)
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "エラーが発生しました" in body and "大きすぎます" in body  # the workflow's fault, said on top
    assert 'name="action" value="complete"' in body  # the form is still there to submit again
    with transaction(runtime.sessions, yokohama.id) as session:
        row = session.get(HumanTask, (yokohama.id, uuid.UUID(task_id)))
        assert row.state == "ready" and row.completed_by is None


def test_a_progress_record_takes_a_plain_date_and_a_one_line_staff_name(runtime, yokohama, act_as):
    me = act_as(yokohama, ["consultant"])
    case_id = _start_case(runtime, yokohama, "山田 花子", "ヤマダ ハナコ")
    for record_date, staff_name in (
        ("2026-W48-6", "佐藤"),
        ("20261128", "佐藤"),
        ("2026-11-28", "佐藤\r\n美咲"),
    ):
        response = me.post(
            f"/cases/{case_id}/progress",
            {"record_date": record_date, "method": "visit", "staff_name": staff_name, "content": "訪問"},
        )
        assert response.status_code == 422, (record_date, staff_name)
    ok = {"record_date": "2026-11-28", "method": "visit", "staff_name": "佐藤 美咲", "content": "訪問\n面談"}
    assert me.post(f"/cases/{case_id}/progress", ok).status_code == 302
