"""What the audit trail records (#16, done when 2): each view of a case page, each API read of a case and each
export adds exactly one entry with its legal basis; a permission denial adds one; sign-ins and failures too.
And the auditor's page: search, CSV export, both audited; Japanese and English."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from tests.factories import make_user
from tests.web.conftest import org_unit
from tests.web.test_browser_casework import _start_case
from tsunagu.audit import services as audit
from tsunagu.audit.models import AuditEntry
from tsunagu.core.session import transaction


def _entries(runtime, tenant, action=None):
    with transaction(runtime.sessions, tenant.id) as session:
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if action:
            query = query.where(AuditEntry.action == action)
        return list(session.execute(query).scalars())


def _verifies(runtime, tenant):
    result = audit.verify_as_owner(runtime, tenant.id)
    assert result.ok, result.problem
    return result.checked


def test_each_view_of_a_case_page_adds_one_entry_with_its_legal_basis(runtime, yokohama, act_as):
    case_id = _start_case(runtime, yokohama, "山田 花子", "ヤマダ ハナコ")
    kohoku = org_unit(runtime, yokohama, "kohoku")
    me = act_as(yokohama, ["consultant"], unit=kohoku)
    assert me.get(f"/cases/{case_id}").status_code == 200
    views = _entries(runtime, yokohama, "case.view")
    assert len(views) == 1
    (view,) = views
    assert str(view.case_id) == case_id and view.actor_id == me.user_id
    assert view.legal_basis == f"case.read: consultant in org unit {kohoku.id}"
    assert me.get(f"/cases/{case_id}/diagram.bpmn").status_code == 200  # a part of the page, not a view
    assert me.get(f"/cases/{case_id}").status_code == 200
    assert len(_entries(runtime, yokohama, "case.view")) == 2
    _verifies(runtime, yokohama)


def test_each_api_read_of_a_case_adds_one_entry(runtime, yokohama, app):
    case_id = _start_case(runtime, yokohama, "佐藤 一郎", "サトウ イチロウ")
    admin = make_user(runtime, yokohama, "api-admin@example.jp", ["tenant_admin"], tenant_wide=True)
    client = app.test_client()
    response = client.get(
        f"/t/yokohama/api/v1/cases/{case_id}", headers={"Authorization": f"Bearer {admin.token}"}
    )
    assert response.status_code == 200
    reads = _entries(runtime, yokohama, "case.api_read")
    assert [(str(r.case_id), r.actor_id, r.legal_basis) for r in reads] == [
        (case_id, admin.user.id, "case.read: tenant_admin (tenant-wide role)")
    ]


def test_a_denied_case_view_adds_one_denial_and_no_view(runtime, yokohama, act_as):
    case_id = _start_case(runtime, yokohama, "鈴木 次郎", "スズキ ジロウ", unit="kohoku")
    other = act_as(yokohama, ["consultant"], unit=org_unit(runtime, yokohama, "tsurumi"))
    assert other.get(f"/cases/{case_id}").status_code == 404
    denials = _entries(runtime, yokohama, "permission.denied")
    assert len(denials) == 1
    assert str(denials[0].case_id) == case_id and denials[0].actor_id == other.user_id
    assert denials[0].details["permission"] == "case.read" and denials[0].details["status"] == 404
    assert _entries(runtime, yokohama, "case.view") == []
    _verifies(runtime, yokohama)


def test_a_role_refusal_adds_one_denial(runtime, yokohama, act_as):
    secretariat = act_as(yokohama, ["meeting_secretariat"])
    before = len(_entries(runtime, yokohama, "permission.denied"))
    assert secretariat.get("/cases/new").status_code == 403
    assert len(_entries(runtime, yokohama, "permission.denied")) == before + 1


def test_sign_ins_and_failed_sign_ins_are_recorded(runtime, yokohama, act_as, app):
    me = act_as(yokohama, ["consultant"])
    signed_in = _entries(runtime, yokohama, "auth.sign_in")
    assert [e.actor_id for e in signed_in] == [me.user_id]
    response = app.test_client().get("/t/yokohama/auth/callback?state=forged&code=x")
    assert 400 <= response.status_code < 500
    failed = _entries(runtime, yokohama, "auth.sign_in_failed")
    assert len(failed) == 1 and failed[0].actor_label == "anonymous" and failed[0].details["code"]
    _verifies(runtime, yokohama)


def test_the_auditor_searches_and_exports_and_both_are_audited(runtime, yokohama, act_as):
    case_id = _start_case(runtime, yokohama, "高橋 三郎", "タカハシ サブロウ")
    act_as(yokohama, ["tenant_admin"]).get(f"/cases/{case_id}")
    auditor = act_as(yokohama, ["auditor"])

    page = auditor.get(f"/audit/?case={case_id}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "監査ログ" in body and "case.view" in body and "tenant_admin (tenant-wide role)" in body
    searches = _entries(runtime, yokohama, "audit.search")
    assert len(searches) == 1 and searches[0].actor_id == auditor.user_id
    assert searches[0].details == {"case_id": case_id}

    export = auditor.get(f"/audit/export.csv?case={case_id}&action=case.view")
    assert export.status_code == 200 and export.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["action"], r["case_id"]) for r in rows] == [("case.view", case_id)]
    exports = _entries(runtime, yokohama, "audit.export")
    assert len(exports) == 1 and exports[0].details == {"case_id": case_id, "action": "case.view"}

    english = auditor.get("/audit/?user=nobody&lang=en").get_data(as_text=True)
    assert "Audit log" in english and "No entry matches." in english and "監査ログ" not in english
    assert auditor.get("/audit/?from=2026-13-01").status_code in {400, 422}
    assert auditor.get("/audit/?case=not-a-uuid").status_code in {400, 422}
    _verifies(runtime, yokohama)


def test_only_auditors_and_admins_open_the_audit_log(runtime, yokohama, act_as):
    consultant = act_as(yokohama, ["consultant"])
    assert consultant.get("/audit/").status_code == 403
    assert consultant.get("/audit/export.csv").status_code == 403
    assert act_as(yokohama, ["tenant_admin"]).get("/audit/").status_code == 200
    assert _entries(runtime, yokohama, "audit.search")[0].action == "audit.search"
    assert len(_entries(runtime, yokohama, "permission.denied")) == 2
