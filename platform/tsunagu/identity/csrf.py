"""CSRF protection for HTML forms: a per-session token, checked on every state-changing request.

Forms carry it in the hidden field ``csrf_token`` (``{{ csrf_token() }}`` in templates); htmx and scripts send
the header ``X-CSRF-Token``. The JSON API is exempt: it authenticates with bearer tokens, which a browser never
attaches by itself, and it opens no cookie session.
"""

from __future__ import annotations

import hmac
import re
import secrets

from flask import Flask, request, session

from ..core.errors import AppError

SESSION_KEY = "_csrf"
FORM_FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_API_PATH = re.compile(r"^/t/[^/]+/api(/|$)")
#: ``web.hosts`` sends a host/path tenant mismatch here; nothing is served under it, so nothing to protect.
_MISMATCH_PATH = "/__tenant_mismatch__/"


class CsrfFailed(AppError):
    status = 400
    code = "csrf_failed"


def csrf_token() -> str:
    """The session's CSRF token (created on first use). Empty where there is no session (e.g. ``/``)."""
    from .sessions import _server_session

    current = _server_session()
    if current is None:
        return ""
    token = current.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        current[SESSION_KEY] = token
    return token


def is_exempt(path: str) -> bool:
    return bool(_API_PATH.match(path)) or path.startswith(_MISMATCH_PATH)


def check_request() -> None:
    if request.method in SAFE_METHODS or is_exempt(request.path):
        return
    expected = session.get(SESSION_KEY)
    sent = request.headers.get(HEADER) or request.form.get(FORM_FIELD)
    if not isinstance(expected, str) or not expected or not sent or not hmac.compare_digest(expected, sent):
        raise CsrfFailed(
            "フォームの有効期限が切れたか、不正な送信です。ページを再読み込みしてからもう一度お試しください。"
            " / The form has expired or was not sent from this site; reload the page and try again."
        )


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.before_request(check_request)
