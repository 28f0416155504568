"""Issue #17's pages without a browser: the new-case page (own unit, limits, a foreign ward's 403 keeping the
input), the case list (what each row shows by the sharing decision, its filters), the auditor's task page and
the change of the responsible consultant from the workspace."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select

from tests.web.conftest import org_unit
from tests.web.test_browser_casework import _start_case
from tsunagu.audit.models import AuditEntry
from tsunagu.cases.models import Case, CaseEvent, HumanTask
from tsunagu.core.session import transaction


def test_the_new_case_page_preselects_the_own_unit_and_limits_what_the_server_limits(
    runtime, yokohama, act_as
):
    me = act_as(yokohama, ["consultant"], unit=org_unit(runtime, yokohama, "kohoku"))
    page = me.get("/cases/new").get_data(as_text=True)
    assert re.search(r'<option value="kohoku"\s+selected>', page)
    assert 'id="name" name="name" value="" required maxlength="50"' in page
    too_long = me.post("/cases/new", {"name": "山" * 51, "name_kana": "ヤマ", "org_unit": "kohoku"})
    assert too_long.status_code == 422
    assert "50文字以内で入力してください" in too_long.get_data(as_text=True)


def test_a_foreign_ward_is_refused_with_403_and_the_input_is_kept(runtime, yokohama, act_as):
    me = act_as(yokohama, ["consultant"], unit=org_unit(runtime, yokohama, "kohoku"))
    response = me.post(
        "/cases/new",
        {
            "name": "山田 花子",
            "name_kana": "ヤマダ ハナコ",
            "birth_date": "1980-04-01",
            "org_unit": "tsurumi",
        },
    )
    assert response.status_code == 403
    body = response.get_data(as_text=True)
    assert 'value="山田 花子"' in body and 'value="ヤマダ ハナコ"' in body and 'value="1980-04-01"' in body
    assert 'id="org_unit-error"' in body and "担当外の組織ではケースを開始できません" in body
    with transaction(runtime.sessions, yokohama.id) as session:
        assert session.execute(select(Case)).first() is None


def test_the_case_list_names_the_person_only_with_a_basis(runtime, yokohama, act_as):
    kohoku = org_unit(runtime, yokohama, "kohoku")
    consultant = act_as(yokohama, ["consultant"], unit=kohoku)
    case_id = _start_case(runtime, yokohama, "高橋 三郎", "タカハシ サブロウ")
    with transaction(runtime.sessions, yokohama.id) as session:
        number = session.get(Case, (yokohama.id, uuid.UUID(case_id))).number
    listed = consultant.get("/cases?q=タカハシ").get_data(as_text=True)
    assert "高橋 三郎" in listed and number in listed and "1件のケース" in listed
    assert number in consultant.get(f"/cases?q={number}").get_data(as_text=True)
    # a tenant administrator sees the case but has no basis for the case file: no name, the summary only
    admin = act_as(yokohama, ["tenant_admin"])
    shown = admin.get("/cases").get_data(as_text=True)
    assert number in shown and "高橋 三郎" not in shown and "匿名化" in shown
    # another ward's consultant does not see it at all
    other = act_as(yokohama, ["consultant"], unit=org_unit(runtime, yokohama, "tsurumi"))
    assert number not in other.get("/cases?state=all").get_data(as_text=True)
    assert "条件に合うケースはありません" in other.get("/cases?q=タカハシ").get_data(as_text=True)


def test_an_auditor_sees_no_task_controls_and_a_refused_submission_keeps_the_input(runtime, yokohama, act_as):
    _start_case(runtime, yokohama, "鈴木 一郎", "スズキ イチロウ")
    with transaction(runtime.sessions, yokohama.id) as session:
        task_id = session.execute(select(HumanTask.id)).scalar_one()
    auditor = act_as(yokohama, ["auditor"])
    page = auditor.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "このタスクを引き受ける" not in page and "担当者を変更" not in page
    assert 'value="complete"' not in page and "閲覧のみ" in page
    refused = auditor.post(
        f"/tasks/{task_id}", {"action": "complete", "consultation_detail": "監査担当が書いたメモ"}
    )
    assert refused.status_code == 403
    assert "監査担当が書いたメモ" in refused.get_data(as_text=True)
    consultant = act_as(yokohama, ["consultant"], unit=org_unit(runtime, yokohama, "kohoku"))
    assert 'value="complete"' in consultant.get(f"/tasks/{task_id}").get_data(as_text=True)


def test_the_case_is_handed_to_another_consultant_from_the_workspace(runtime, yokohama, act_as):
    kohoku = org_unit(runtime, yokohama, "kohoku")
    first = act_as(yokohama, ["consultant"], "佐藤 美咲", unit=kohoku)
    second = act_as(yokohama, ["consultant"], "加藤 優", unit=kohoku)
    started = first.post(
        "/cases/new", {"name": "山田 花子", "name_kana": "ヤマダ ハナコ", "org_unit": "kohoku"}
    )
    assert started.status_code == 302
    with transaction(runtime.sessions, yokohama.id) as session:
        case = session.execute(select(Case)).scalar_one()
        assert case.responsible_id == first.user_id
        intake = session.execute(select(HumanTask)).scalar_one()
        assert intake.assignee_id == first.user_id  # the creator's: no claim needed
    page = first.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "佐藤 美咲" in page and "加藤 優" in page  # the consultant, and whom to hand it to
    moved = first.post(
        f"/cases/{case.id}/responsible", {"responsible": str(second.user_id), "reason": "異動"}
    )
    assert moved.status_code == 302
    with transaction(runtime.sessions, yokohama.id) as session:
        assert session.get(Case, (yokohama.id, case.id)).responsible_id == second.user_id
        assert session.get(HumanTask, (yokohama.id, intake.id)).assignee_id == second.user_id
        event = session.execute(select(CaseEvent).where(CaseEvent.kind == "responsible_changed")).scalar_one()
        assert event.details["reason"] == "異動" and event.actor_id == first.user_id
        assert session.execute(
            select(AuditEntry).where(AuditEntry.action == "case.responsible_changed")
        ).scalar_one()
    assert "担当相談支援員の変更" in first.get(f"/cases/{case.id}").get_data(as_text=True)
    # a secretariat member may not hand the case over
    secretary = act_as(yokohama, ["meeting_secretariat"], unit=kohoku)
    refused = secretary.post(f"/cases/{case.id}/responsible", {"responsible": str(first.user_id)})
    assert refused.status_code == 302
    with transaction(runtime.sessions, yokohama.id) as session:
        assert session.get(Case, (yokohama.id, case.id)).responsible_id == second.user_id
