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
from tests.web.browser_support import SCREENSHOTS, fill_required, screenshot
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
    assert (
        page.locator('.djs-palette [data-action="create.task"]').get_attribute("aria-label") == "タスクを作成"
    )
    assert page.locator(".bio-properties-panel-header-type").inner_text().strip() != ""
    assert designer.get_attribute("data-lint-issues") == "0"  # the library passes the server's checks
    assert not page.locator("#designer-draft-notice").is_visible()  # an unedited file is no draft
    screenshot(page, "designer-bpmn-casework", full_page=False)

    # --- token simulation: a token started at the start event walks to the first gateway -------------------
    page.locator("#designer-simulation-button").click()
    page.locator("#designer[data-simulation=on]").wait_for()
    page.locator(".djs-overlays[data-container-id=start_case] .bts-context-pad").first.click()
    page.locator(".bts-log").get_by_text("相談受付").first.wait_for(state="attached")
    screenshot(page, "designer-bpmn-token-simulation", full_page=False)
    page.locator("#designer-simulation-button").click()
    page.locator("#designer[data-simulation=off]").wait_for()

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
    page.locator(
        ".bio-properties-panel-entry[data-entry-id=name] textarea, "
        ".bio-properties-panel-entry[data-entry-id=name] input"
    ).first.fill("事前確認")

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
    overlay.wait_for(state="detached")
    assert designer.get_attribute("data-lint-issues") == "0"

    # the diff highlights the new task
    page.locator("#designer-diff-button").click()
    page.locator("#designer-diff[data-state=shown]").wait_for()
    assert "diff-added" in (
        page.locator(f"#diff-after [data-element-id={new_id}]").get_attribute("class") or ""
    )
    added = page.locator(f".diff-list tr.diff-row-added[data-element-id={new_id}]")
    assert added.count() == 1 and "事前確認" in added.inner_text()
    screenshot(page, "designer-bpmn-diff", full_page=False)
    page.locator("#designer-diff").screenshot(path=str(SCREENSHOTS / "designer-bpmn-diff-section.png"))

    # validate, then deploy version 2 with a change note
    page.locator("#designer-validate").click()
    page.locator("#designer[data-validated=ok]").wait_for()
    page.locator("#designer-deploy-button").click()
    assert "変更内容のメモを入力してください" in page.locator("#designer-note-error").inner_text()
    page.locator("#designer-note").fill("相談受付の前に事前確認を追加")
    page.locator("#designer-deploy-button").click()
    page.wait_for_url(re.compile(r"/admin/designer/edit/casework/casework.bpmn$"))
    assert "バージョン 2 を配備しました" in page.locator(".flashes").inner_text()
    page.locator("#designer[data-state=ready]").wait_for()
    assert not page.locator("#designer-draft-notice").is_visible()  # the deployed draft is not kept
    assert _versions(runtime, yokohama) == [1, 2]

    # a new case reaches the new task; the older case keeps version 1 and its intake
    newer = api.start_case()["id"]
    assert [t["name"] for t in api.ready_tasks(newer)] == [new_id]
    assert [t["name"] for t in api.ready_tasks(older)] == ["intake"]
    assert _instance_version(runtime, yokohama, newer) == 2
    assert _instance_version(runtime, yokohama, older) == 1
    assert not foreign, f"requests left the app's origin: {foreign}"


def _through_plan(api: Api, case_id: str) -> None:
    """Intake → consent → assessment → plan, for a case the routing table sends to the regular meeting."""
    api.complete(case_id, "intake", screening_outcome="continue")
    api.complete(case_id, "consent", consent_application=True)
    api.complete(
        case_id,
        "assessment",
        emergency_support=False,
        urgency="normal",
        complexity="high",
        external_agencies=False,
    )
    api.complete(
        case_id,
        "plan_draft",
        plan_end_date="2027-12-31",
        early_start=False,
        internal_only=False,
        statutory_programmes=[],
    )


def test_an_administrator_edits_the_routing_table_and_a_new_case_is_routed_by_the_new_rule(
    app, runtime, yokohama, sign_in, live_server
):
    api = _api(app, runtime, yokohama)
    older = api.start_case()["id"]
    _through_plan(api, older)
    # Yokohama's own routing table (workflows/tenants/yokohama): every plan to an ad hoc meeting in its ward
    assert [t["name"] for t in api.ready_tasks(older)] == ["convene_adhoc"]

    page, foreign = _admin_page(runtime, yokohama, sign_in, live_server)
    page.goto(f"{live_server}/t/{yokohama.slug}/admin/designer/")
    screenshot(page, "designer-index")
    page.get_by_role("link", name="meeting_hybrid/meeting_route.dmn").click()
    page.locator("#designer[data-state=ready]").wait_for()
    assert page.locator("th.input-cell .clause").first.inner_text().strip() == "条件"  # Japanese labels
    cell = page.locator('td[data-row-id="Rule_meeting_route_1"][data-col-id="Output_route"]')
    assert cell.inner_text().strip() == '"adhoc"'
    screenshot(page, "designer-dmn-meeting-route", full_page=False)

    # a broken cell: the server's check names the file and the cell
    cell.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("adhoc internal")  # two names: not an expression
    page.locator("#designer-validate").click()
    page.locator("#designer[data-validated=problems]").wait_for()
    problems = page.locator("#designer-problems li")
    assert "meeting_hybrid/meeting_route.dmn" in problems.first.inner_text()

    # the new rule: every plan goes to the internal ad hoc meeting
    cell.click()
    page.keyboard.press("Control+A")
    page.keyboard.type('"adhoc_internal"')
    assert cell.inner_text().strip() == '"adhoc_internal"'
    page.locator("#designer-validate").click()
    page.locator("#designer[data-validated=ok]").wait_for()
    page.locator("#designer-note").fill("随時会議を庁内のみに")
    page.locator("#designer-deploy-button").click()
    page.wait_for_url(re.compile(r"/admin/designer/edit/meeting_hybrid/meeting_route.dmn$"))
    assert "バージョン 2 を配備しました" in page.locator(".flashes").inner_text()
    assert _versions(runtime, yokohama) == [1, 2]

    newer = api.start_case()["id"]
    _through_plan(api, newer)
    assert [t["name"] for t in api.ready_tasks(newer)] == ["convene_internal"]
    assert [t["name"] for t in api.ready_tasks(older)] == ["convene_adhoc"]  # the older case keeps version 1
    assert not foreign, f"requests left the app's origin: {foreign}"


def test_a_field_added_in_the_form_designer_appears_on_the_task_page_and_is_validated_by_the_server(
    app, runtime, yokohama, sign_in, live_server
):
    api = _api(app, runtime, yokohama)
    api.start_case()  # the library is version 1
    page, foreign = _admin_page(runtime, yokohama, sign_in, live_server)
    base = f"{live_server}/t/{yokohama.slug}"
    page.goto(f"{base}/admin/designer/")
    page.get_by_role("link", name="casework/forms/intake.form").click()
    page.locator("#designer[data-state=ready]").wait_for()
    page.locator("#designer-preview .designer-preview-fields").wait_for()
    assert page.locator(".fjs-palette-field[data-field-type=textfield]").inner_text().strip() == "テキスト"
    assert page.locator(".fjs-palette-field[data-field-type=filepicker]").count() == 0  # not checkable

    # drag a text field into the first group of the form
    source = page.locator(".fjs-palette-field[data-field-type=textfield]").bounding_box()
    group = page.locator(".fjs-form-field-group").first.bounding_box()
    assert source is not None and group is not None
    page.mouse.move(source["x"] + source["width"] / 2, source["y"] + source["height"] / 2)
    page.mouse.down()
    page.mouse.move(source["x"] + source["width"] / 2 + 20, source["y"] + source["height"] / 2 + 5, steps=3)
    page.mouse.move(group["x"] + group["width"] / 2, group["y"] + group["height"] - 25, steps=10)
    page.mouse.move(group["x"] + group["width"] / 2, group["y"] + group["height"] - 20, steps=3)
    page.mouse.up()
    panel = page.locator("#designer-properties")
    if not panel.locator("[data-entry-id=label]").is_visible():
        panel.locator(".bio-properties-panel-group-header", has_text="General").click()
    panel.locator("[data-entry-id=label] input, [data-entry-id=label] [contenteditable]").first.fill(
        "連絡のつきやすい時間帯"
    )
    key = panel.locator("[data-entry-id=key] input")
    key.fill("preferred_contact_time")
    key.press("Tab")
    for entry, group in (("tsunagu-category", "つなぐの設定"), ("required", "Validation")):
        if not panel.locator(f"[data-entry-id={entry}]").is_visible():
            panel.locator(".bio-properties-panel-group-header-title", has_text=group).click()
    panel.locator("[data-entry-id=tsunagu-category] select").select_option("household")
    panel.locator("[data-entry-id=required] input[type=checkbox]").check()
    preview = page.locator("#designer-preview")
    page.locator("#designer-preview[data-state=fresh]").get_by_text("連絡のつきやすい時間帯").wait_for()
    assert preview.locator("#f-preferred_contact_time").count() == 1  # the server's own rendering
    screenshot(page, "designer-form-intake", full_page=False)

    # the draft survives a reload in this browser
    page.wait_for_timeout(700)  # kept half a second after the last edit
    page.reload()
    page.locator("#designer[data-state=ready]").wait_for()
    notice = page.locator("#designer-draft-notice")
    assert (
        notice.is_visible()
        and page.locator(".fjs-form-field", has_text="連絡のつきやすい時間帯").count() == 0
    )
    notice.get_by_role("button", name="下書きを復元").click()
    page.locator(".fjs-form-field", has_text="連絡のつきやすい時間帯").first.wait_for()
    page.locator(".designer-preview").screenshot(path=str(SCREENSHOTS / "designer-form-preview.png"))

    page.locator("#designer-note").fill("相談受付に連絡のつきやすい時間帯を追加")
    page.locator("#designer-deploy-button").click()
    page.wait_for_url(re.compile(r"/admin/designer/edit/casework/forms/intake.form$"))
    assert "バージョン 2 を配備しました" in page.locator(".flashes").inner_text()

    import json

    from tsunagu.engine.models import Deployment

    with transaction(runtime.sessions, yokohama.id) as session:
        latest = session.execute(select(Deployment).where(Deployment.version == 2)).scalar_one()
        schema = json.loads(latest.files["casework/forms/intake.form"])
    fields = [c for g in schema["components"] for c in g.get("components", [])] + schema["components"]
    added = next(c for c in fields if c.get("key") == "preferred_contact_time")
    assert added["properties"]["category"] == "household" and added["validate"]["required"] is True

    # the task page of a new case shows the field, and the server refuses the form without it
    case_id = api.start_case()["id"]
    task = api.ready_tasks(case_id)[0]
    page.goto(f"{base}/tasks/{task['id']}")
    field = page.locator("#f-preferred_contact_time")
    assert field.count() == 1
    assert "連絡のつきやすい時間帯" in page.locator("label[for=f-preferred_contact_time]").inner_text()
    fill_required(
        page,
        {"screening_outcome": "continue", "contact_route": "office", "consultation_topics": ["income"]},
        skip=("preferred_contact_time",),
    )
    page.evaluate("document.querySelector('form.task-form').noValidate = true")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.locator("button[name=action][value=complete]").click()
    assert answer.value.status == 422
    assert "必須項目です" in page.locator("#f-preferred_contact_time-error").inner_text()
    assert not foreign, f"requests left the app's origin: {foreign}"
