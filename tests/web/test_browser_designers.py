"""The designers in a real browser (Debian's Chromium through Playwright), signed in as a tenant administrator.

BPMN: casework opens with Japanese labels; a user task dropped onto a flow inside a lane shows the lint error
for its missing form at that element; choosing a form in the properties panel fixes it; the diff highlights the
new task; the draft deploys as version N+1 — a new case reaches the new task while an older case keeps version
N. DMN: the routing table ``meeting_route`` is edited and a new case is routed by the new rule. Forms: a field
added in the form designer shows in the server-rendered preview, deploys, and appears on the task page, where
the server validates it. Every request goes to the app's origin (no CDN), nothing is blocked by the CSP (the
``sign_in`` fixture fails the test otherwise), and each designer is photographed into test-artifacts/.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from tests.engine_api.driver import Api
from tests.factories import make_user
from tests.web.browser_support import screenshot
from tests.web.conftest import make_staff
from tsunagu.core.session import transaction

pytestmark = pytest.mark.browser


def _same_origin_only(page, base: str) -> list[str]:
    """Record every request the page makes that does not go to the app's origin."""
    origin = urlsplit(base).netloc
    foreign: list[str] = []

    def check(request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https") and parts.netloc != origin:
            foreign.append(request.url)

    page.on("request", check)
    return foreign


def _admin_page(runtime, tenant, sign_in, live_server, name: str = "管理 花子"):
    admin = make_staff(runtime, tenant, "admin-designer@example.jp", name, ["tenant_admin"])
    page = sign_in(admin, tenant)
    foreign = _same_origin_only(page, live_server)
    page.on("console", lambda m: print("CONSOLE", m.type, m.text))
    page.on("pageerror", lambda e: print("PAGEERROR", e))
    return page, foreign


def _api(app, runtime, tenant) -> Api:
    user = make_user(runtime, tenant, email="api-admin@example.jp", roles=["tenant_admin"])
    return Api(app.test_client(), tenant.slug, user.token)


def _versions(runtime, tenant) -> list[int]:
    from tsunagu.engine.models import Deployment

    with transaction(runtime.sessions, tenant.id) as session:
        return list(session.execute(select(Deployment.version).order_by(Deployment.version)).scalars())


def _instance_version(runtime, tenant, case_id: str) -> int:
    import uuid

    from tsunagu.engine.models import Deployment, ProcessInstance

    with transaction(runtime.sessions, tenant.id) as session:
        instance = session.execute(
            select(ProcessInstance).where(
                ProcessInstance.case_id == uuid.UUID(case_id), ProcessInstance.process_id == "casework"
            )
        ).scalar_one()
        deployment = session.get(Deployment, (tenant.id, instance.deployment_id))
        assert deployment is not None
        return deployment.version


def _center(page, selector: str) -> tuple[float, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_an_administrator_adds_a_user_task_in_the_bpmn_designer_and_deploys_the_next_version(
    app, runtime, yokohama, sign_in, live_server
):
    api = _api(app, runtime, yokohama)
    older = api.start_case()["id"]  # deploys the library as version 1; this case stays on it
    assert _versions(runtime, yokohama) == [1]

    page, foreign = _admin_page(runtime, yokohama, sign_in, live_server)
    base = f"{live_server}/t/{yokohama.slug}"
    page.goto(f"{base}/admin/designer/")
    page.get_by_role("link", name="casework/casework.bpmn").click()
    designer = page.locator("#designer[data-state=ready]")
    designer.wait_for()
    # Japanese labels: the palette (bpmn-js-i18n) and the properties panel (our catalogue)
    assert page.locator(".djs-palette [data-action=\"create.task\"]").get_attribute("aria-label") == "タスクを作成"
    assert page.locator(".bio-properties-panel-header-type").inner_text().strip() != ""
    assert designer.get_attribute("data-lint-issues") == "0"  # the library passes the server's checks
    screenshot(page, "designer-bpmn-casework", full_page=False)

    # --- make room after the start event (space tool), then drop a task onto that flow ------------------
    start_x, start_y = _center(page, "[data-element-id=start_case]")
    intake = page.locator("[data-element-id=intake]").bounding_box()
    assert intake is not None
    gap_x = (start_x + intake["x"]) / 2
    page.locator('.djs-palette [data-action="space-tool"]').click()
    page.mouse.move(gap_x, start_y + 60)
    page.mouse.down()
    page.mouse.move(gap_x + 80, start_y + 60, steps=5)
    page.mouse.move(gap_x + 160, start_y + 60, steps=5)
    page.mouse.up()
    moved = page.locator("[data-element-id=intake]").bounding_box()
    assert moved is not None and moved["x"] > intake["x"] + 100
    page.locator('.djs-palette [data-action="create.task"]').click()
    x, y = _center(page, "[data-element-id=Flow_01]")
    page.mouse.move(x - 5, y)
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.locator(".djs-context-pad .entry[data-action=replace]").click()
    page.locator(".djs-popup [data-id=replace-with-user-task]").click()
    new_id = page.locator(".bio-properties-panel-entry[data-entry-id=id] input").input_value()
    assert new_id.startswith("Activity_")
    page.locator(".bio-properties-panel-entry[data-entry-id=name] textarea, "
                 ".bio-properties-panel-entry[data-entry-id=name] input").first.fill("事前確認")

    # the lint error at that element, in the server's words
    overlay = page.locator(f".djs-overlays[data-container-id={new_id}] .bjsl-overlay")
    overlay.wait_for()
    overlay.hover()
    issue = page.locator(f".djs-overlays[data-container-id={new_id}] .bjsl-dropdown")
    assert "ユーザータスクにフォームがありません / user task has no form" in issue.inner_text()
    form_entry = page.locator(".bio-properties-panel-entry[data-entry-id=tsunagu-form-key]")
    assert "ユーザータスクにフォームがありません" in form_entry.inner_text()
    screenshot(page, "designer-bpmn-lint-missing-form", full_page=False)

    # fix it: the form from the dropdown
    form_entry.locator("select").select_option("intake")
    page.wait_for_function(f"!document.querySelector('.djs-overlays[data-container-id={new_id}] .bjsl-overlay')")
    assert designer.get_attribute("data-lint-issues") == "0"

    # the diff highlights the new task
    page.locator("#designer-diff-button").click()
    page.locator("#designer-diff[data-state=shown]").wait_for()
    assert "diff-added" in (page.locator(f"#diff-after [data-element-id={new_id}]").get_attribute("class") or "")
    added = page.locator(f".diff-list tr.diff-row-added[data-element-id={new_id}]")
    assert added.count() == 1 and "事前確認" in added.inner_text()
    screenshot(page, "designer-bpmn-diff", full_page=False)
    page.locator("#designer-diff").screenshot(path=str(screenshot.__globals__["SCREENSHOTS"] / "designer-bpmn-diff-section.png"))

    # validate, then deploy version 2 with a change note
    page.locator("#designer-validate").click()
    page.locator("#designer[data-validated=ok]").wait_for()
    page.locator("#designer-deploy-button").click()
    assert "変更内容のメモを入力してください" in page.locator("#designer-note-error").inner_text()
    page.locator("#designer-note").fill("相談受付の前に事前確認を追加")
    page.locator("#designer-deploy-button").click()
    page.wait_for_url(re.compile(r"/admin/designer/edit/casework/casework.bpmn$"))
    assert "バージョン 2 を配備しました" in page.locator(".flashes").inner_text()
    assert _versions(runtime, yokohama) == [1, 2]

    # a new case reaches the new task; the older case keeps version 1 and its intake
    newer = api.start_case()["id"]
    assert [t["name"] for t in api.ready_tasks(newer)] == [new_id]
    assert [t["name"] for t in api.ready_tasks(older)] == ["intake"]
    assert _instance_version(runtime, yokohama, newer) == 2
    assert _instance_version(runtime, yokohama, older) == 1
    assert not foreign, f"requests left the app's origin: {foreign}"
