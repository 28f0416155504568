"""The API reference page renders the generated document with Swagger UI served locally, CSP-clean."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.web.browser_support import CHROMIUM_ARGS, DESKTOP, screenshot

pytestmark = pytest.mark.browser


def test_the_api_reference_page_renders_every_operation_from_the_local_document(
    chromium, live_server, yokohama
):
    context = chromium.new_context(viewport=DESKTOP, locale="ja-JP")
    page = context.new_page()
    blocked: list[str] = []
    foreign: list[str] = []
    page.on(
        "console",
        lambda m: (
            blocked.append(m.text) if "Content Security Policy" in m.text or "Refused to" in m.text else None
        ),
    )
    origin = urlsplit(live_server).netloc
    page.on(
        "request", lambda r: foreign.append(r.url) if urlsplit(r.url).netloc not in ("", origin) else None
    )
    page.goto(f"{live_server}/t/{yokohama.slug}/api/docs")
    page.locator(".opblock").first.wait_for(timeout=20000)
    assert page.locator(".opblock").count() >= 30
    assert page.get_by_text("/cases/{case_id}/timeline").first.is_visible()
    screenshot(page, "api-docs")
    context.close()
    assert not blocked, blocked
    assert not foreign, foreign
    assert CHROMIUM_ARGS  # Debian's Chromium, as every browser test
