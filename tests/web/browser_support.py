"""Helpers for the Playwright tests: Debian's Chromium, screenshots, filling server-rendered forms."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def screenshot(page: Any, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def fill_required(page: Any, overrides: dict[str, Any] | None = None, *, skip: tuple[str, ...] = ()) -> None:
    """Fill every required, still empty control of the task form with a valid value, then ``overrides``.

    ``overrides`` maps a field key to: a string (typed or selected), ``True``/``False`` (a checkbox), or a
    list (checklist values). Keys in ``skip`` are left alone (to submit an invalid form on purpose).
    """
    overrides = dict(overrides or {})
    form = page.locator("form.task-form")
    _fill_required(form, overrides, skip)
    _apply(form, overrides)
    # an override may show conditional fields (conditional.hide): they become required only then
    _fill_required(form, overrides, skip)


def _fill_required(form: Any, overrides: dict[str, Any], skip: tuple[str, ...]) -> None:
    today = date.today().isoformat()
    for control in form.locator("input[required], select[required], textarea[required]").all():
        name = control.get_attribute("name") or ""
        if name in overrides or name in skip:
            continue
        tag = control.evaluate("e => e.tagName.toLowerCase()")
        kind = control.get_attribute("type") or ""
        if kind == "radio":
            group = form.locator(f'input[type=radio][name="{name}"]')
            if not any(r.is_checked() for r in group.all()):
                group.first.check()
        elif kind == "checkbox":
            control.check()
        elif tag == "select":
            if not control.input_value():
                values = [
                    v for v in control.locator("option").evaluate_all("os => os.map(o => o.value)") if v
                ]
                control.select_option(values[0])
        elif control.input_value():
            continue
        elif kind == "date":
            control.fill(today)
        elif kind == "number":
            control.fill(control.get_attribute("min") or "1")
        else:
            control.fill("テスト記入")


def _apply(form: Any, overrides: dict[str, Any]) -> None:
    for name, value in overrides.items():
        if isinstance(value, bool):
            box = form.locator(f'input[type=checkbox][name="{name}"]')
            box.set_checked(value)
        elif isinstance(value, list):
            for item in value:
                form.locator(f'input[name="{name}"][value="{item}"]').check()
        else:
            control = form.locator(f'[name="{name}"]').first
            tag = control.evaluate("e => e.tagName.toLowerCase()")
            kind = control.get_attribute("type") or ""
            if tag == "select":
                control.select_option(value)
            elif kind == "radio":
                form.locator(f'input[type=radio][name="{name}"][value="{value}"]').check()
            else:
                control.fill(value)
