"""The designer pages and their JSON endpoints (``tsunagu.admin.designer``), through a signed-in test client.

Who may open and deploy, what the page embeds for its bundle, the server's checks of a draft and of one
expression (the same wording as the deploy), the form preview rendered by the server, and the deploy rules:
a required note, a stale base refused, a broken draft stores nothing, and each deploy is the next version.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import select

from tsunagu.core.session import transaction
from tsunagu.engine.models import Deployment

REPO = Path(__file__).resolve().parents[2]
CASEWORK = "casework/casework.bpmn"
INTAKE = "casework/forms/intake.form"
_DATA = re.compile(r'<script type="application/json" id="designer-data">(.*?)</script>', re.S)


def _casework() -> str:
    return (REPO / "workflows" / CASEWORK).read_text(encoding="utf-8")


def _page_data(browser, name: str) -> dict:
    response = browser.get(f"/admin/designer/edit/{name}")
    assert response.status_code == 200
    match = _DATA.search(response.get_data(as_text=True))
    assert match, "the page embeds its data for the bundle"
    return json.loads(match.group(1))


def _versions(runtime, tenant) -> list[tuple[int, str, str]]:
    with transaction(runtime.sessions, tenant.id) as session:
        rows = session.execute(select(Deployment).order_by(Deployment.version)).scalars()
        return [(r.version, r.source, r.note) for r in rows]


def _post(browser, path: str, body: dict):
    if not browser.token:
        browser.get("/admin/designer/")
    return browser.client.post(
        browser.url(path),
        json=body,
        headers={"X-CSRF-Token": browser.token, "Accept": "application/json"},
    )


def test_the_designer_index_lists_the_library_files_before_the_first_deployment(act_as, yokohama):
    admin = act_as(yokohama, ["tenant_admin"])
    response = admin.get("/admin/designer/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "まだ何も配備されていません" in page
    for name in (CASEWORK, "meeting_hybrid/meeting_route.dmn", INTAKE):
        assert f'/admin/designer/edit/{name}"' in page


def test_the_bpmn_page_embeds_the_file_and_what_the_engine_accepts(act_as, yokohama):
    admin = act_as(yokohama, ["tenant_admin"])
    data = _page_data(admin, CASEWORK)
    assert data["kind"] == "bpmn" and data["version"] == 0 and data["source"] == _casework()
    assert {op["name"] for op in data["operations"]} >= {"notify", "schedule_meeting", "add_to_agenda"}
    assert {"key": "consultant", "label": "相談支援員"} in data["roles"]
    assert "intake" in data["forms"] and "meeting_route" in data["decisions"]
    assert (
        "meeting_hybrid" in data["processes"] and "casework" not in data["processes"]
    )  # the others' processes
    assert data["aliases"] == ["meeting"] and data["mayDeploy"] is True
    assert data["urls"]["expression"].endswith("/admin/designer/validate-expression")


def test_the_designer_pages_speak_english_when_asked(act_as, yokohama):
    admin = act_as(yokohama, ["tenant_admin"])
    page = admin.get(f"/admin/designer/edit/{CASEWORK}?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page and "Process designer" in page and "Deploy as version 1" in page
    japanese = admin.get(f"/admin/designer/edit/{CASEWORK}?lang=ja").get_data(as_text=True)
    assert "プロセスの設計" in japanese and "バージョン 1 として配備" in japanese


def test_only_administrators_deploy_auditors_read_and_others_are_refused(act_as, yokohama):
    consultant = act_as(yokohama, ["consultant"])
    assert consultant.get("/admin/designer/").status_code == 403
    assert consultant.get(f"/admin/designer/edit/{CASEWORK}").status_code == 403
    auditor = act_as(yokohama, ["auditor"])
    data = _page_data(auditor, CASEWORK)
    assert data["mayDeploy"] is False
    answer = _post(
        auditor,
        "/admin/designer/deploy",
        {"file": CASEWORK, "content": _casework(), "note": "x", "base_version": 0},
    )
    assert answer.status_code == 403
    assert _post(auditor, "/admin/designer/validate", {"file": CASEWORK, "content": _casework()}).get_json()[
        "ok"
    ]


def test_an_unknown_or_unsupported_file_is_not_found(act_as, yokohama):
    admin = act_as(yokohama, ["tenant_admin"])
    assert admin.get("/admin/designer/edit/casework/nothing.bpmn").status_code == 404
    assert admin.get("/admin/designer/edit/casework/definition.toml").status_code == 404


def test_validating_a_draft_reports_the_servers_problems_at_the_element(act_as, yokohama):
    admin = act_as(yokohama, ["tenant_admin"])
    broken = _casework().replace('<spiffworkflow:property name="formKey" value="intake" />', "", 1)
    answer = _post(admin, "/admin/designer/validate", {"file": CASEWORK, "content": broken})
    body = answer.get_json()
    assert answer.status_code == 200 and body["ok"] is False
    problem = next(p for p in body["problems"] if p["element_id"] == "intake")
    assert problem["file"] == CASEWORK
    assert problem["message"].startswith("ユーザータスクにフォームがありません / user task has no form")
    fine = _post(admin, "/admin/designer/validate", {"file": CASEWORK, "content": _casework()}).get_json()
    assert fine == {"ok": True, "problems": []}


def test_an_expression_is_checked_as_the_deploy_checks_it(act_as, yokohama):
    admin = act_as(yokohama, ["tenant_admin"])

    def check(expression: str, kind: str = "conditionExpression") -> dict:
        return _post(
            admin, "/admin/designer/validate-expression", {"expression": expression, "kind": kind}
        ).get_json()

    assert check("screening_outcome == 'continue'") == {"ok": True, "message": ""}
    refused = check("person.__class__")
    assert refused["ok"] is False and "属性アクセスは使えません" in refused["message"]
    unquoted = check("P30D", "timeDuration")
    assert unquoted["ok"] is False and "タイマー値は引用符で囲んでください" in unquoted["message"]
    assert check("'P30D'", "timeDuration")["ok"] is True
    assert check("'P30X'", "timeDuration")["message"].startswith("ISO 8601 の形式ではありません")
    missing = _post(admin, "/admin/designer/validate-expression", {"kind": "timeDate"})
    assert missing.status_code == 422


def test_the_form_preview_is_the_servers_rendering_of_the_schema(act_as, yokohama):
    admin = act_as(yokohama, ["tenant_admin"])
    schema = json.loads((REPO / "workflows" / INTAKE).read_text(encoding="utf-8"))
    schema["components"].append(
        {
            "type": "textfield",
            "key": "contact_time",
            "label": "<b>連絡時間</b>",
            "validate": {"required": True},
        }
    )
    answer = _post(admin, "/admin/designer/form-preview", {"schema": schema})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert 'id="f-contact_time"' in html and "&lt;b&gt;連絡時間&lt;/b&gt;" in html  # escaped, never markup
    unsupported = {"components": [{"type": "filepicker", "key": "upload", "label": "添付"}]}
    refused = _post(admin, "/admin/designer/form-preview", {"schema": unsupported})
    assert refused.status_code == 422


def test_deploying_needs_a_note_and_stores_the_next_version_with_it(act_as, runtime, yokohama):
    admin = act_as(yokohama, ["tenant_admin"])
    changed = _casework().replace('name="相談受付"', 'name="相談の受付"', 1)
    no_note = _post(
        admin,
        "/admin/designer/deploy",
        {"file": CASEWORK, "content": changed, "note": "  ", "base_version": 0},
    )
    assert no_note.status_code == 422 and "メモ" in no_note.get_json()["error"]["message"]
    assert _versions(runtime, yokohama) == []
    first = _post(
        admin,
        "/admin/designer/deploy",
        {"file": CASEWORK, "content": changed, "note": "名前の変更", "base_version": 0},
    )
    assert first.status_code == 201 and first.get_json()["version"] == 1
    assert _versions(runtime, yokohama) == [(1, "designer", "名前の変更")]
    assert _page_data(admin, CASEWORK)["source"] == changed  # the designer now starts from version 1
    with transaction(runtime.sessions, yokohama.id) as session:
        files = session.execute(select(Deployment.files)).scalar_one()
    assert INTAKE in files and "meeting_hybrid/meeting_route.dmn" in files  # the rest of the bundle kept


def test_a_stale_draft_or_a_broken_one_deploys_nothing(act_as, runtime, yokohama):
    admin = act_as(yokohama, ["tenant_admin"])
    body = {"file": CASEWORK, "content": _casework(), "note": "v1", "base_version": 0}
    assert _post(admin, "/admin/designer/deploy", body).status_code == 201
    stale = _post(admin, "/admin/designer/deploy", {**body, "note": "v2 from an old page"})
    assert stale.status_code == 409 and "バージョン 1" in stale.get_json()["error"]["message"]
    broken = _casework().replace("screening_outcome == 'advice_only'", "__import__('os')", 1)
    refused = _post(admin, "/admin/designer/deploy", {**body, "content": broken, "base_version": 1})
    assert refused.status_code == 422
    problems = refused.get_json()["error"]["details"]["problems"]
    assert any(p["element_id"] == "Flow_03" for p in problems)
    assert [v for v, _, _ in _versions(runtime, yokohama)] == [1]


def test_a_form_with_a_component_the_server_cannot_check_is_refused(act_as, runtime, yokohama):
    admin = act_as(yokohama, ["tenant_admin"])
    schema = json.loads((REPO / "workflows" / INTAKE).read_text(encoding="utf-8"))
    schema["components"].append({"type": "filepicker", "key": "upload", "label": "添付"})
    answer = _post(
        admin,
        "/admin/designer/validate",
        {"file": INTAKE, "content": json.dumps(schema, ensure_ascii=False)},
    )
    body = answer.get_json()
    assert body["ok"] is False and body["problems"][0]["message"].startswith("フォームを使えません")


def test_the_designers_of_one_tenant_never_show_another_tenants_versions(act_as, runtime, yokohama):
    from tests.factories import make_tenant

    other = make_tenant(runtime, "other-city")
    changed = _casework().replace('name="相談受付"', 'name="他市の受付"', 1)
    with transaction(runtime.sessions, other.id) as session:
        from tsunagu.cases.services import LANE_ROLES
        from tsunagu.engine.definitions import deploy, read_library

        deploy(
            session,
            {CASEWORK: changed},
            lanes=LANE_ROLES,
            source="upload",
            note="他市",
            base_files=read_library(REPO / "workflows"),
        )
    admin = act_as(yokohama, ["tenant_admin"])
    data = _page_data(admin, CASEWORK)
    assert data["version"] == 0 and "他市の受付" not in data["source"]
    assert "他市" not in admin.get("/admin/designer/").get_data(as_text=True)


def test_concurrent_deploys_of_one_version_store_one_and_answer_the_others_409(act_as, runtime, yokohama):
    import threading

    admins = [act_as(yokohama, ["tenant_admin"], name=f"管理 {i}") for i in range(4)]
    for admin in admins:
        admin.get("/admin/designer/")  # each has its CSRF token
    barrier = threading.Barrier(len(admins))
    statuses: list[int] = []
    lock = threading.Lock()

    def deploy(admin, index: int) -> None:
        body = {"file": CASEWORK, "content": _casework(), "note": f"同時 {index}", "base_version": 0}
        barrier.wait()
        answer = _post(admin, "/admin/designer/deploy", body)
        with lock:
            statuses.append(answer.status_code)

    threads = [threading.Thread(target=deploy, args=(a, i)) for i, a in enumerate(admins)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [201, 409, 409, 409]
    assert [v for v, _, _ in _versions(runtime, yokohama)] == [1]
