"""The instance-operation pages (``tsunagu.admin.operations_pages``) through signed-in test clients, and the
instance page in a real browser: the diagram with the position and the failed element marked, the incident,
retry after fix and migration, and a screenshot."""

from __future__ import annotations

import pytest

from tests.admin.definitions import V_N, V_N1, complete, deploy
from tests.engine_api.driver import Api
from tests.factories import make_user
from tests.web.browser_support import screenshot
from tests.web.conftest import make_staff


def _api(app, runtime, tenant) -> Api:
    user = make_user(runtime, tenant, email="ops-api@example.jp", roles=["tenant_admin"])
    return Api(app.test_client(), tenant.slug, user.token)


def test_admins_operate_auditors_read_without_variables_others_get_403(app, runtime, yokohama, act_as):
    api = _api(app, runtime, yokohama)
    deploy(api, V_N)
    case = api.start_case()
    instance_id = case["process_instance_id"]
    admin = act_as(yokohama, ["tenant_admin"])
    listing = admin.get("/admin/instances/")
    assert listing.status_code == 200
    page = listing.get_data(as_text=True)
    assert "プロセスインスタンス" in page and f"/admin/instances/{instance_id}" in page
    detail = admin.get(f"/admin/instances/{instance_id}").get_data(as_text=True)
    assert 'id="h-variables"' in detail and "一時停止" in detail and 'data-highlight="check"' in detail

    missing = admin.post(f"/admin/instances/{instance_id}/suspend", {"reason": ""})
    assert missing.status_code == 422 and "理由" in missing.get_data(as_text=True)
    done = admin.post(f"/admin/instances/{instance_id}/suspend", {"reason": "本人の申出"})
    assert done.status_code == 303
    page = admin.get(f"/admin/instances/{instance_id}").get_data(as_text=True)
    assert "一時停止中" in page and "本人の申出" in page and "再開" in page

    auditor = act_as(yokohama, ["auditor"])
    seen = auditor.get(f"/admin/instances/{instance_id}")
    assert seen.status_code == 200
    text = seen.get_data(as_text=True)
    assert 'id="h-variables"' not in text and f"/admin/instances/{instance_id}/resume" not in text
    assert auditor.post(f"/admin/instances/{instance_id}/resume", {"reason": "x"}).status_code == 403
    consultant = act_as(yokohama, ["consultant"])
    assert consultant.get("/admin/instances/").status_code == 403
    assert consultant.get(f"/admin/instances/{instance_id}").status_code == 403
    assert admin.get("/admin/instances/?state=bogus").status_code == 422
    assert admin.post(f"/admin/instances/{instance_id}/explode", {"reason": "x"}).status_code == 404


def test_the_migration_page_runs_the_dry_run_and_moves_the_movable_ones(app, runtime, yokohama, act_as):
    api = _api(app, runtime, yokohama)
    deploy(api, V_N)
    cases = [api.start_case() for _ in range(3)]
    assert complete(api, cases[0]["id"], "check").status_code == 200
    version = deploy(api, V_N1)["version"]
    admin = act_as(yokohama, ["tenant_admin"])
    page = admin.get(
        f"/admin/instances/migrate?target_version={version}&from_version={version - 1}"
    ).get_data(as_text=True)
    assert (
        "版 1 から 2 への変更点" in page and "<code>review</code>" in page and "<code>second</code>" in page
    )
    assert page.count('class="movable"') == 2 and page.count('class="blocked"') == 1
    assert "置き換えられています" in page
    instances = [v for v in _hidden_instances(page)]
    response = admin.post(
        "/admin/instances/migrate",
        [
            ("target_version", str(version)),
            ("reason", "二次確認の廃止"),
            *[("instance", v) for v in instances],
        ],
    )
    assert response.status_code == 303
    listed = api.get(f"/instances?version={version}").get_json()
    assert {i["id"] for i in listed["items"]} == {c["process_instance_id"] for c in cases[1:]}


def _hidden_instances(page: str) -> list[str]:
    import re

    return re.findall(r'name="instance" value="([^"]+)"', page)


def _deploy_library(api: Api, replace: tuple[str, str] | None = None, note: str = "test") -> int:
    """Upload the standard library (with its diagrams), ``replace`` applied to casework.bpmn."""
    import io

    from tests.conftest import REPO_ROOT
    from tsunagu.engine.services import read_library

    files = read_library(REPO_ROOT / "workflows")
    if replace:
        assert replace[0] in files["casework/casework.bpmn"]
        files["casework/casework.bpmn"] = files["casework/casework.bpmn"].replace(*replace)
    response = api.post(
        "/definitions",
        data={
            "files": [(io.BytesIO(text.encode("utf-8")), name) for name, text in files.items()],
            "note": note,
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    return int(response.get_json()["version"])


@pytest.mark.browser
def test_the_instance_page_shows_the_diagram_and_incident_and_retry_continues_the_case(
    app, runtime, yokohama, sign_in, live_server
):
    from tests.engine_api.driver import fill

    api = _api(app, runtime, yokohama)
    # a condition that names data nobody sets: valid at deploy, fails when the intake is completed
    _deploy_library(api, ("screening_outcome == 'advice_only'", "risk_level == 'advice_only'"))
    case = api.start_case()
    instance_id = case["process_instance_id"]
    intake = api.task(case["id"], "intake")
    data = fill(intake.get("form_schema"), {"screening_outcome": "continue"})
    assert api.post(f"/tasks/{intake['id']}/complete", json={"data": data}).status_code == 422
    fixed = _deploy_library(api, note="条件の修正")

    admin = make_staff(runtime, yokohama, "ops-admin@example.jp", "管理 花子", ["tenant_admin"])
    page = sign_in(admin, yokohama)
    page.goto(f"{live_server}/t/{yokohama.slug}/admin/instances/?incident=open")
    page.get_by_role("link", name=f"casework · {instance_id[:8]}").click()
    page.locator('#diagram[data-loaded="true"]').wait_for()
    assert page.locator("#diagram .djs-element.current-step").count() >= 1  # the token position (相談受付)
    assert page.locator("#diagram .djs-element.incident-step").count() == 1  # where it failed (the gateway)
    incident = page.locator(".incident-list .incident")
    assert "risk_level" in incident.inner_text() and "受付後の対応" in incident.inner_text()
    screenshot(page, "operations-instance-incident")

    page.locator("#migrate-version").select_option(str(fixed))
    page.locator("#migrate-reason").fill("条件の修正版へ移行")
    page.get_by_role("button", name="移行する").click()
    page.wait_for_load_state()
    assert "新しい版に移行しました" in page.content()
    page.get_by_role("button", name="再実行").click()
    page.wait_for_load_state()
    assert "障害を再実行しました" in page.content()
    assert page.locator(".incident-list").count() == 0
    assert "申込・同意" in page.locator(".stage").inner_text()
    page.locator('#diagram[data-loaded="true"]').wait_for()
    screenshot(page, "operations-instance-after-retry")
    assert [t["name"] for t in api.ready_tasks(case["id"])] == ["consent"]
