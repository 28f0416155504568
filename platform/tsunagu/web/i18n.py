"""Languages of the web UI: Japanese (default) and English, chosen with ``?lang=`` or the ``lang`` cookie.

Message ids in templates and Python are **English** (``_("Inbox")``); ``translations/ja`` holds the Japanese
text and ``translations/en`` repeats the English, so both catalogues are complete and a missing entry is
caught by ``tests/web/test_i18n.py``. Domain data (form labels, BPMN task names, tenant names) is Japanese and
is not translated. ``.po`` files are committed; ``make install`` compiles them to ``.mo`` (build outputs).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, Response, request
from flask_babel import Babel, get_locale

LANGUAGES: tuple[str, ...] = ("ja", "en")
DEFAULT_LANGUAGE = "ja"
COOKIE = "lang"
TRANSLATIONS_DIR = Path(__file__).resolve().parents[1] / "translations"


def select_locale() -> str:
    asked = request.args.get("lang") or request.cookies.get(COOKIE)
    return asked if asked in LANGUAGES else DEFAULT_LANGUAGE


def current_language() -> str:
    locale = get_locale()
    return locale.language if locale is not None and locale.language in LANGUAGES else DEFAULT_LANGUAGE


def switch_url(lang: str) -> str:
    """The current page in ``lang`` (the other query parameters kept)."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"]
    args.append(("lang", lang))
    return request.path + "?" + urlencode(args)


def _remember_choice(response: Response) -> Response:
    asked = request.args.get("lang")
    if asked in LANGUAGES and request.cookies.get(COOKIE) != asked:
        response.set_cookie(
            COOKIE, asked, max_age=365 * 24 * 3600, samesite="Lax", httponly=True, secure=request.is_secure
        )
    return response


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "Asia/Tokyo")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS_DIR)
    Babel(app, locale_selector=select_locale)
    app.after_request(_remember_choice)
    app.jinja_env.globals["current_language"] = current_language
    app.jinja_env.globals["lang_switch_url"] = switch_url
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
