"""Japanese and English UIs: every page renders in both languages with no untranslated message id, and the
catalogues (``translations/{ja,en}``) hold every message the code and templates use, each translated."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from tests.web.conftest import make_staff
from tests.web.test_browser_casework import _start_case

REPO = Path(__file__).resolve().parents[2]
TRANSLATIONS = REPO / "platform" / "tsunagu" / "translations"
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "_l": None, "ngettext": (1, 2)}


def _catalog(lang: str) -> dict[str, str]:
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as f:
        return {str(m.id): str(m.string) for m in read_po(f) if m.id}


def _extracted() -> set[str]:
    method_map = [
        ("platform/tsunagu/inbox/pages.py", "python"),
        ("platform/tsunagu/cases/pages.py", "python"),
        ("platform/tsunagu/cases/list_page.py", "python"),
        ("platform/tsunagu/cases/print_pages.py", "python"),
        ("platform/tsunagu/sharing/labels.py", "python"),
        ("platform/tsunagu/web/**.py", "python"),
        ("platform/tsunagu/web/templates/**.html", "jinja2"),
        ("platform/tsunagu/identity/templates/identity/admin/*.html", "jinja2"),
        ("platform/tsunagu/notifications/pages.py", "python"),
        ("platform/tsunagu/notifications/templates/notifications/*.html", "jinja2"),
        ("platform/tsunagu/admin/designer/**.py", "python"),
        ("platform/tsunagu/admin/designer/templates/**.html", "jinja2"),
        ("platform/tsunagu/admin/operations_pages.py", "python"),
        ("platform/tsunagu/admin/templates/**.html", "jinja2"),
        ("platform/tsunagu/meetings/pages.py", "python"),
        ("platform/tsunagu/meetings/templates/meetings/*.html", "jinja2"),
        ("platform/tsunagu/audit/pages.py", "python"),
        ("platform/tsunagu/audit/templates/**.html", "jinja2"),
        ("platform/tsunagu/referrals/pages.py", "python"),
        ("platform/tsunagu/referrals/templates/referrals/*.html", "jinja2"),
        ("platform/tsunagu/reports/pages.py", "python"),
        ("platform/tsunagu/reports/templates/**.html", "jinja2"),
    ]
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(REPO), method_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_message_in_the_code_is_in_both_catalogues_and_translated():
    extracted = _extracted()
    assert len(extracted) > 100
    for lang in ("ja", "en"):
        catalog = _catalog(lang)
        missing = sorted(extracted - set(catalog))
        assert not missing, f"{lang}: not in messages.po (run pybabel extract/update): {missing}"
        untranslated = sorted(k for k, v in catalog.items() if not v.strip())
        assert not untranslated, f"{lang}: untranslated: {untranslated}"
        stale = sorted(set(catalog) - extracted)
        assert not stale, f"{lang}: messages no longer used: {stale}"
        placeholders = re.compile(r"%\(\w+\)[sd]")
        for msgid, msgstr in catalog.items():
            assert sorted(placeholders.findall(msgid)) == sorted(placeholders.findall(msgstr)), (lang, msgid)


class _Text(HTMLParser):
    """Visible text and the attributes people hear or see (labels, titles, alternatives)."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("aria-label", "title", "alt", "placeholder", "data-label") and value:
                self.chunks.append(value.strip())

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.chunks.append(data.strip())


def _texts(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.chunks


@pytest.fixture
def pages(yokohama, act_as, runtime):
    """Every page of the UI, as (name, path, method, form data) for one signed-in consultant."""
    browser = act_as(yokohama, ["consultant", "municipal_staff"], name="佐藤 美咲")
    case_id = _start_case(runtime, yokohama, "山田 花子", "ヤマダ ハナコ")
    make_staff(runtime, yokohama, "other@example.jp", "鈴木 健", ["consultant"])
    task_path = browser.get("/inbox?scope=role").get_data(as_text=True)
    task_id = re.search(r"/tasks/([0-9a-f-]{36})", task_path).group(1)  # type: ignore[union-attr]
    browser.post("/inbox/views", {"scope": "all", "name": "全件", "shared": "true"})
    return browser, [
        ("start page", "GET", "/", None),
        ("tenant home", "GET", f"/t/{yokohama.slug}/", None),
        ("inbox", "GET", "/inbox?scope=role", None),
        ("inbox filtered", "GET", "/inbox?scope=all&due=soon&q=ヤマダ&sort=updated&order=desc", None),
        ("inbox list fragment", "GET", "/inbox/list?scope=role", None),
        ("task", "GET", f"/tasks/{task_id}", None),
        ("task with errors", "POST", f"/tasks/{task_id}", {"action": "complete"}),
        ("new case", "GET", "/cases/new", None),
        ("new case with errors", "POST", "/cases/new", {"referred": "true"}),
        ("case workspace", "GET", f"/cases/{case_id}", None),
        ("progress record errors", "POST", f"/cases/{case_id}/progress", {"method": "visit"}),
        ("not found", "GET", "/cases/00000000-0000-0000-0000-000000000000", None),
    ]


def _render(browser, method: str, path: str, data, lang: str) -> str:
    sep = "&" if "?" in path else "?"
    if path.startswith("/t/") or path == "/":
        url_path = path
        client_get = browser.client.get
        response = client_get(f"{url_path}{sep}lang={lang}")
    elif method == "GET":
        response = browser.get(f"{path}{sep}lang={lang}")
    else:
        browser.get(f"/inbox?lang={lang}")
        response = browser.post(f"{path}?lang={lang}", data)
    assert response.status_code in (200, 404, 409, 422), (path, response.status_code)
    return response.get_data(as_text=True)


def test_every_page_renders_in_japanese_and_english_without_untranslated_ids(pages):
    browser, page_list = pages
    ja, en = _catalog("ja"), _catalog("en")
    english_ids = {msgid for msgid, text in ja.items() if text != msgid and re.search(r"[A-Za-z]{3}", msgid)}
    # Domain data (BPMN step names, form labels) is Japanese in both UIs; a translation that is also a step
    # name (相談受付) cannot be told apart from it on a page, so it is not counted as a leak.
    domain = " ".join(p.read_text(encoding="utf-8") for p in (REPO / "workflows").rglob("*.*"))
    japanese_texts = {
        text for text in ja.values() if re.search(r"[ぁ-んァ-ヶ一-龠]", text) and f'"{text}"' not in domain
    }
    for name, method, path, data in page_list:
        ja_html = _render(browser, method, path, data, "ja")
        fragment = name.endswith("fragment")
        assert fragment or '<html lang="ja">' in ja_html, name
        leaked = [t for t in _texts(ja_html) if t in english_ids]
        assert not leaked, f"{name} (ja) shows message ids: {leaked}"

        en_html = _render(browser, method, path, data, "en")
        assert fragment or '<html lang="en">' in en_html, name
        leaked = [t for t in _texts(en_html) if t in japanese_texts and t not in en.values()]
        assert not leaked, f"{name} (en) shows Japanese UI text: {leaked}"
        assert "{{" not in en_html and "%(" not in en_html and "%(" not in ja_html, name


def test_the_language_switch_is_remembered_in_a_cookie(yokohama, act_as):
    browser = act_as(yokohama, ["consultant"])
    first = browser.get("/inbox?lang=en")
    assert "lang=en" in first.headers.get("Set-Cookie", "")
    assert ">Inbox<" in first.get_data(as_text=True)
    again = browser.get("/inbox")
    assert ">Inbox<" in again.get_data(as_text=True)
    assert '<html lang="en">' in again.get_data(as_text=True)
    back = browser.get("/inbox?lang=ja")
    assert ">受信箱<" in back.get_data(as_text=True)
    assert browser.get("/inbox?lang=xx").status_code == 200  # unknown languages fall back, never fail
