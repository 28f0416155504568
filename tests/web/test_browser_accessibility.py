"""Accessibility in a real browser: a task completed with the keyboard alone (every stop visibly focused), 和暦
typed into a date, the task pages on a 390 px phone, and the administration pages in the design system.

axe-core checks every page these tests reach (tests/web/axe_audit.py, through the shared ``chromium`` fixture).
Screenshots go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from tests.web.browser_support import PHONE, fill_required, screenshot
from tests.web.conftest import make_staff
from tests.web.test_browser_casework import _complete, _start_case
from tsunagu.web.dates import JST, parse_date, wareki

pytestmark = pytest.mark.browser

# Read after two animation frames: right after Tab leaves a date input's last inner field, Chromium still names
# the input as the active element for a moment without its :focus style.
FOCUS_STYLE = """() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => {
  const e = document.activeElement;
  if (!e || e === document.body) return resolve(null);
  const s = getComputedStyle(e);
  resolve({ id: e.id, tag: e.tagName, name: e.getAttribute("name") || "", text: (e.innerText || "").slice(0, 40),
            outline: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2,
            shadow: s.boxShadow !== "none" });
})))"""


class Keyboard:
    """Moves through a page with Tab only, recording every stop and whether its focus is visible."""

    def __init__(self, page) -> None:
        self.page = page
        self.stops: list[dict] = []

    def tab_to(self, predicate: str, limit: int = 250) -> dict:
        """Press Tab until ``predicate`` (JS expression over ``e``, the focused element) holds."""
        for _ in range(limit):
            self.page.keyboard.press("Tab")
            stop = self.page.evaluate(FOCUS_STYLE)
            if stop is None:
                continue
            self.stops.append(stop)
            if self.page.evaluate(
                f"(() => {{ const e = document.activeElement; return !!({predicate}); }})()"
            ):
                return stop
        raise AssertionError(f"Tab never reached {predicate}; last stops: {self.stops[-5:]}")

    def unfocused(self) -> list[dict]:
        return [s for s in self.stops if not (s["outline"] or s["shadow"])]


def _today() -> date:
    from datetime import datetime

    return datetime.now(JST).date()


def test_a_task_is_completed_with_the_keyboard_only(runtime, yokohama, sign_in, live_server):
    consultant = make_staff(runtime, yokohama, "kb@example.jp", "鍵盤 太郎", ["consultant"])
    _start_case(runtime, yokohama, "打鍵 花子", "ダケン ハナコ")
    base = f"{live_server}/t/{yokohama.slug}"
    page = sign_in(consultant, yokohama)
    page.goto(f"{base}/inbox?scope=role")
    keys = Keyboard(page)

    # The skip link comes first; then Tab reaches the task in the list, and Enter opens it.
    first = keys.tab_to("true")
    assert "skip-link" in page.evaluate("document.activeElement.className"), first
    keys.tab_to("e.classList.contains('task-link') && e.closest('tr').innerText.includes('打鍵 花子')")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("h1").inner_text().startswith("相談受付")

    # The 和暦 entry beside a date input reads what people type, with the same rules as the server.
    samples = [
        "昭和55年4月1日",
        "S55.4.1",
        "Ｒ１．５．１",
        "令和元年5月1日",
        "H31.4.30",
        "昭和65年1月1日",
        "平成1.1.7",
    ]
    read = page.evaluate("(xs) => xs.map((x) => window.tsunaguWareki.parse(x))", samples)
    assert read == [(d.isoformat() if (d := parse_date(s)) else None) for s in samples]

    # Fill every required control with keys alone, in the order Tab reaches them.
    form = page.locator("form.task-form")
    today = _today()
    choice = {"screening_outcome": "continue"}
    handled: set[str] = set()
    controls = form.locator("input:not([type=hidden]):not(.wareki-input), select, textarea").all()
    for control in controls:
        name = control.get_attribute("name") or ""
        kind = control.get_attribute("type") or control.evaluate("e => e.tagName.toLowerCase()")
        dom_id = control.get_attribute("id") or ""
        if name in handled or not dom_id:
            continue
        group = control.evaluate("e => e.closest('fieldset.choice') ? e.closest('fieldset.choice').id : ''")
        required = control.get_attribute("required") is not None or (
            group and form.locator(f"#{group} .required").count() > 0
        )
        if not required:
            continue
        handled.add(name)
        if kind == "radio":
            keys.tab_to(f"e.name === {name!r}")
            if not page.evaluate("document.activeElement.checked"):
                page.keyboard.press("Space")
            wanted = choice.get(name)
            for _ in range(12):
                if not wanted or page.evaluate("document.activeElement.value") == wanted:
                    break
                page.keyboard.press("ArrowDown")
            assert form.locator(f'input[name="{name}"]:checked').count() == 1, name
        elif kind == "checkbox":
            keys.tab_to(f"e.name === {name!r}")
            if not page.evaluate("document.activeElement.checked"):
                page.keyboard.press("Space")
            assert form.locator(f'input[name="{name}"]:checked').count() >= 1, name
        elif kind == "select":
            keys.tab_to(f"e.id === {dom_id!r}")
            for _ in range(3):
                if control.input_value():
                    break
                page.keyboard.press("ArrowDown")
            assert control.input_value(), name
        elif kind == "date":
            if control.input_value():
                continue
            # typed in 和暦 into the entry beside the date, then Tab on: the date is filled in 西暦
            keys.tab_to(f"e.id === {dom_id + '-wareki'!r}")
            page.keyboard.type(wareki(today))
            keys.tab_to("true")
            assert control.input_value() == today.isoformat(), name
        elif control.input_value():
            continue
        else:
            keys.tab_to(f"e.id === {dom_id!r}")
            page.keyboard.type("1" if kind == "number" else "キーボードで記入")
    keys.tab_to("e.name === 'action' && e.value === 'complete'")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "「相談受付」を完了しました。" in page.locator(".flashes").inner_text()
    assert not page.url.endswith("/tasks/"), page.url

    # Every stop on the way showed where the focus was.
    assert len(keys.stops) > 10
    assert keys.unfocused() == [], keys.unfocused()


def _fits(page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def _checkboxes_beside_labels(page) -> list[str]:
    """Single checkboxes shown on the page (a field its form's condition hides has no box to place) whose
    label does not start on the same line, to the right of the box."""
    return page.evaluate(
        """() => [...document.querySelectorAll('.field.checkbox > input[type=checkbox]')].flatMap((box) => {
          if (!box.checkVisibility()) return [];
          const label = document.querySelector(`label[for="${box.id}"]`);
          if (!label) return [box.id + ': no label'];
          const b = box.getBoundingClientRect(), l = label.getBoundingClientRect();
          const beside = l.left >= b.right - 1 && l.top < b.bottom && b.top < l.top + 32;
          return beside ? [] : [`${box.id}: box ${Math.round(b.left)},${Math.round(b.top)} label ${Math.round(l.left)},${Math.round(l.top)}`];
        })"""
    )


def test_the_task_pages_fit_a_390px_phone_with_checkboxes_beside_their_labels(
    runtime, yokohama, sign_in, live_server
):
    consultant = make_staff(runtime, yokohama, "phone@example.jp", "電話 一子", ["consultant"])
    _start_case(runtime, yokohama, "携帯 次郎", "ケイタイ ジロウ")
    base = f"{live_server}/t/{yokohama.slug}"
    page = sign_in(consultant, yokohama, viewport=PHONE)
    steps = [
        ("相談受付", "intake", {"screening_outcome": "continue", "consultation_topics": ["income"]}),
        ("申込・同意", "consent", {"consent_application": True, "consent_agencies": ["municipality"]}),
        ("アセスメント", "assessment", {"urgency": "high"}),
        (
            "プラン(案)策定",
            "plan",
            {
                "plan_period": "P6M",  # the end date fits the period (the form's period_end rule)
                "plan_end_date": (date.today() + timedelta(days=182)).isoformat(),
            },
        ),
    ]
    widths = {}
    for step, slug, overrides in steps:
        page.goto(f"{base}/inbox?scope=all")
        row = page.locator("table.tasks tbody tr", has_text="携帯 次郎").filter(has_text=step)
        with page.expect_navigation():
            row.locator("a.task-link").click()
        assert page.locator("h1").inner_text().startswith(step)
        widths[slug] = page.evaluate("document.documentElement.scrollWidth")
        assert _fits(page), (step, widths[slug])
        assert _checkboxes_beside_labels(page) == [], step
        screenshot(page, f"task-phone-{slug}")
        if slug == "intake":
            screenshot(page, "task-phone-390", full_page=False)
        topics = overrides.pop("consultation_topics", None)
        fill_required(page, overrides)
        if topics:
            page.locator("#f-consultation_topics input[type=checkbox]").first.check()
        _complete(page)
        assert f"「{step}」を完了しました。" in page.locator(".flashes").inner_text(), step
    assert all(w <= PHONE["width"] for w in widths.values()), widths


def test_the_administration_is_in_the_header_and_its_pages_use_the_design_system(
    runtime, yokohama, sign_in, live_server
):
    admin = make_staff(runtime, yokohama, "chief@example.jp", "管理 一郎", ["tenant_admin"])
    consultant = make_staff(runtime, yokohama, "plain@example.jp", "相談 二郎", ["consultant"])
    base = f"{live_server}/t/{yokohama.slug}"

    plain = sign_in(consultant, yokohama)
    assert plain.locator(".main-nav").get_by_role("link", name="管理").count() == 0

    page = sign_in(admin, yokohama)
    page.locator(".main-nav").get_by_role("link", name="管理").click()
    page.wait_for_url(re.compile(r"/admin/users"))
    assert page.locator(".main-nav a[aria-current=page]").inner_text() == "管理"
    screenshot(page, "admin-users")

    accent = "rgb(11, 110, 79)"
    for path, shot in (
        ("/admin/users/invite", "admin-invite"),
        ("/admin/tokens", "admin-tokens"),
        ("/admin/identity-provider", "admin-identity-provider"),
    ):
        page.goto(base + path)
        buttons = page.locator("main button[type=submit]").all()
        assert buttons, path
        styled = [b.evaluate("e => getComputedStyle(e).backgroundColor") for b in buttons]
        assert all(s in (accent, "rgb(255, 255, 255)", "rgb(179, 38, 30)") for s in styled), (path, styled)
        radius = page.locator("main input[type=text], main input[type=email], main input[type=url]").first
        assert radius.evaluate("e => getComputedStyle(e).borderRadius") == "4px", path
        screenshot(page, shot)

    # Invite a user; the token page shows times in Japan time.
    page.goto(base + "/admin/users/invite")
    page.get_by_label("メールアドレス").fill("invitee@example.jp")
    page.get_by_label("氏名").fill("招待 三郎")
    page.locator("input[name=roles][value=consultant]").check()
    page.get_by_role("checkbox", name="港北区", exact=True).check()
    page.get_by_role("button", name="登録して招待メールを送る").click()
    page.wait_for_url(re.compile(r"/admin/users/[0-9a-f-]+\?invited=1"))
    assert "invitee@example.jp" in page.locator(".notice").inner_text()
    assert page.locator("#not-signed-in").is_visible()
    screenshot(page, "admin-user-invited")
    page.goto(base + "/admin/users")
    assert "招待中" in page.locator("tr", has_text="invitee@example.jp").inner_text()

    page.goto(base + "/admin/tokens")
    page.locator("input[name=name]").fill("nightly export")
    page.locator("select[name=user_id]").select_option(label="chief@example.jp")
    page.locator("input[name=roles][value=tenant_admin]").check()
    page.get_by_role("button", name="発行 / Create").click()
    created = (
        page.locator("table.tokens tbody tr", has_text="nightly export").locator("td").nth(4).inner_text()
    )
    from datetime import datetime

    now_jst = datetime.now(JST)
    shown = datetime.strptime(created, "%Y-%m-%d %H:%M").replace(tzinfo=JST)
    assert abs((now_jst - shown).total_seconds()) < 180, (created, now_jst)  # JST, not UTC (9 hours off)
    screenshot(page, "admin-tokens-created")
