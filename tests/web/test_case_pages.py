"""Starting a case from the UI, the case workspace, its diagram and progress records; security headers; and
the two-tenant check for saved views, progress records and the diagram."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select, text

from tests.factories import make_tenant, make_user
from tests.web.test_browser_casework import _start_case
from tsunagu.cases.models import Case, ProgressRecord
from tsunagu.cases.services import stage_of
from tsunagu.core.session import transaction
from tsunagu.inbox.models import SavedView


def test_starting_a_case_with_a_referral_opens_the_intake_form(runtime, yokohama, act_as):
    me = act_as(yokohama, ["consultant"])
    response = me.post(
        "/cases/new",
        {
            "name": "山田 花子",
            "name_kana": "ヤマダ ハナコ",
            "birth_date": "1980-04-01",
            "org_unit": "kohoku",
            "referred": "true",
            "source_agency": "港北区役所 保険年金課",
            "reason": "保険料の滞納相談",
            "consent_status": "obtained",
        },
    )
    assert response.status_code == 302 and "/tasks/" in response.headers["Location"]
    with transaction(runtime.sessions, yokohama.id) as session:
        case = session.execute(select(Case)).scalar_one()
        stage = stage_of(session, case)
    assert case.referral == {
        "source_agency": "港北区役所 保険年金課",
        "reason": "保険料の滞納相談",
        "consent_status": "obtained",
    }
    assert case.created_by == me.user_id and stage == "相談受付"
    intake = me.get(response.headers["Location"].removeprefix("/t/yokohama")).get_data(as_text=True)
    assert 'value="港北区役所 保険年金課"' in intake  # the referral source carried into the intake form


def test_starting_a_case_reports_every_mistake_and_keeps_the_input(yokohama, act_as):
    me = act_as(yokohama, ["consultant"])
    response = me.post("/cases/new", {"name": "山田 花子", "birth_date": "1980-13-01", "referred": "true"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    for field in ("name_kana", "birth_date", "source_agency", "reason", "consent_status"):
        assert f'id="{field}-error"' in body, field
    assert 'value="山田 花子"' in body
    assert act_as(yokohama, ["meeting_secretariat"]).get("/cases/new").status_code == 403


def test_the_workspace_shows_the_case_and_serves_its_diagram(runtime, yokohama, act_as):
    me = act_as(yokohama, ["consultant"])
    case_id = _start_case(runtime, yokohama, "山田 花子", "ヤマダ ハナコ")
    page = me.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "山田 花子" in page and "ヤマダ ハナコ" in page
    assert "1975-06-01（昭和50年6月1日）" in page
    assert 'data-highlight="intake"' in page
    assert "支援調整会議" in page and "会議のページ" in page  # points to the meeting records
    diagram = me.get(f"/cases/{case_id}/diagram.bpmn")
    assert diagram.status_code == 200 and diagram.mimetype == "application/xml"
    assert b'<bpmn:process id="casework"' in diagram.data
    assert me.get(f"/cases/{uuid.uuid4()}").status_code == 404


def test_current_steps_inside_a_called_process_mark_the_call_activity():
    from pathlib import Path

    from tsunagu.cases.workspace import highlight_ids

    xml = (Path(__file__).resolve().parents[2] / "workflows/casework/casework.bpmn").read_text(
        encoding="utf-8"
    )
    assert highlight_ids(xml, ["intake"]) == ["intake"]
    assert highlight_ids(xml, ["convene_adhoc"]) == ["call_meeting"]
    assert highlight_ids(xml, ["monitoring", "timer_plan_end"]) == [
        "delivery_monitoring",
        "monitoring",
        "timer_plan_end",
    ]


def test_progress_records_are_added_and_validated(runtime, yokohama, act_as):
    me = act_as(yokohama, ["consultant"], name="佐藤 美咲")
    case_id = _start_case(runtime, yokohama, "山田 花子", "ヤマダ ハナコ")
    bad = me.post(
        f"/cases/{case_id}/progress",
        {"record_date": "2026-02-30", "method": "fax", "staff_name": "", "content": " "},
    )
    assert bad.status_code == 422
    for field in ("record_date", "method", "staff_name", "content"):
        assert f'id="{field}-error"' in bad.get_data(as_text=True), field
    ok = me.post(
        f"/cases/{case_id}/progress",
        {
            "record_date": "2026-11-28",
            "method": "accompany",
            "staff_name": "佐藤 美咲",
            "content": "ハローワークへ同行",
        },
    )
    assert ok.status_code == 302
    page = me.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "ハローワークへ同行" in page and "同行" in page and "2026-11-28（令和8年11月28日）" in page
    auditor = act_as(yokohama, ["auditor"])
    assert auditor.get(f"/cases/{case_id}").status_code == 200
    assert auditor.post(f"/cases/{case_id}/progress", {"content": "x"}).status_code == 403


def test_security_headers_and_a_nonce_on_every_script(yokohama, act_as):
    me = act_as(yokohama, ["consultant"])
    response = me.get("/inbox")
    csp = response.headers["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp).group(1)  # type: ignore[union-attr]
    assert "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert "script-src 'self' 'nonce-" in csp and "'unsafe-inline'" not in csp.split("style-src-attr")[0]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response.headers["Permissions-Policy"]
    body = response.get_data(as_text=True)
    scripts = re.findall(r"<script[^>]*>", body)
    assert scripts and all(f'nonce="{nonce}"' in s for s in scripts)
    assert " on" not in "".join(re.findall(r"<[^>]+ on\w+=", body))  # no inline event handlers
    assert me.get("/inbox").headers["Content-Security-Policy"] != csp  # a fresh nonce per response
    assert "http" not in "".join(re.findall(r'(?:src|href)="([^"]*)"', body)).replace(
        "https://", ""
    )  # no CDN


@pytest.fixture
def two_tenants(runtime, yokohama, act_as):
    other = make_tenant(runtime, "other-city")
    make_user(runtime, other, email="x@other.example.jp", roles=["tenant_admin"])
    return yokohama, other


def test_saved_views_progress_records_and_diagrams_stay_in_their_tenant(runtime, two_tenants, act_as):
    yokohama, other = two_tenants
    me = act_as(yokohama, ["tenant_admin"])
    case_id = _start_case(runtime, yokohama, "山田 花子", "ヤマダ ハナコ")
    me.post("/inbox/views", {"name": "横浜のビュー", "shared": "true"})
    me.post(
        f"/cases/{case_id}/progress",
        {"record_date": "2026-11-28", "method": "visit", "staff_name": "a", "content": "b"},
    )
    with transaction(runtime.sessions, yokohama.id) as session:
        view_id = session.execute(select(SavedView.id)).scalar_one()
    with transaction(runtime.sessions, other.id) as session:
        assert session.execute(select(SavedView)).scalars().all() == []
        assert session.execute(select(ProgressRecord)).scalars().all() == []
        # row-level security, below the ORM filter
        for table in ("saved_view", "progress_record"):
            assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
    stranger = act_as(other, ["tenant_admin"])
    assert stranger.get(f"/cases/{case_id}").status_code == 404
    assert stranger.get(f"/cases/{case_id}/diagram.bpmn").status_code == 404
    assert stranger.get(f"/inbox?view={view_id}").status_code == 404
    assert "横浜のビュー" not in stranger.get("/inbox").get_data(as_text=True)


def test_a_case_outside_the_users_org_units_is_not_shown(runtime, yokohama, act_as):
    from tests.web.conftest import org_unit

    kohoku_case = _start_case(runtime, yokohama, "山田 花子", "ヤマダ ハナコ", unit="kohoku")
    tsurumi = act_as(yokohama, ["consultant"], unit=org_unit(runtime, yokohama, "tsurumi"))
    assert tsurumi.get(f"/cases/{kohoku_case}").status_code == 404
    assert tsurumi.get(f"/cases/{kohoku_case}/diagram.bpmn").status_code == 404
    assert "山田 花子" not in tsurumi.get("/inbox?scope=all").get_data(as_text=True)
    kohoku = act_as(yokohama, ["consultant"], unit=org_unit(runtime, yokohama, "kohoku"))
    assert kohoku.get(f"/cases/{kohoku_case}").status_code == 200
