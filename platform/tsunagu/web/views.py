"""Platform-level pages (tenant list, health) and the registration of every module's views."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template
from werkzeug.exceptions import HTTPException, InternalServerError

from ..core.db import is_database_unavailable
from ..core.errors import AppError
from ..tenancy.services import list_active_tenants
from .health import readiness
from .requests import note_database_unavailable, runtime, wants_json

log = logging.getLogger("tsunagu.web")

#: Seconds a client is asked to wait before trying again when the database cannot serve.
RETRY_AFTER_SECONDS = 5
DATABASE_UNAVAILABLE = (
    "データベースが応答しません。入力した内容は保存されていません。しばらくしてからもう一度お試しください。"
    " / The database is not answering and nothing was saved; try again in a moment."
)


def register_views(app: Flask) -> None:
    # Importing a module's views attaches its routes to the shared blueprints.
    from ..cases import views as _cases_views  # noqa: F401
    from ..engine import views as _engine_views  # noqa: F401
    from ..identity import admin_views as _identity_admin_views  # noqa: F401
    from ..identity import views as _identity_views  # noqa: F401
    from ..inbox import views as _inbox_views  # noqa: F401
    from ..tenancy import views as _tenancy_views  # noqa: F401
    from . import openapi as _openapi  # noqa: F401
    from .blueprints import api_bp, tenant_bp

    if not any(child is api_bp for child, _ in tenant_bp._blueprints):
        tenant_bp.register_blueprint(api_bp)
    app.register_blueprint(tenant_bp)
    from ..cases.pages import bp as cases_pages
    from ..inbox.pages import bp as inbox_pages

    app.register_blueprint(inbox_pages)
    app.register_blueprint(cases_pages)

    app.add_url_rule("/", "index", index)
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/readyz", "readyz", readyz)
    app.register_error_handler(AppError, _app_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def index() -> str:
    return render_template("index.html", tenants=list_active_tenants(runtime()))


def healthz() -> Response:
    """Liveness: the process answers. Touches neither the database nor Redis."""
    return jsonify(status="ok")


def readyz() -> tuple[Response, int]:
    """Readiness, within 2 s: 503 only when this process cannot serve (the database); an unreachable broker
    is ``degraded`` with 200 — pages and the API work, background work waits (``web/health.py``)."""
    report = readiness(current_app).check()
    return jsonify(status=report.status, checks=report.checks), report.http_status


def database_unavailable() -> Any:
    """503 ``database_unavailable`` with ``Retry-After``: JSON for API clients, a page that needs neither the
    database nor the session for browsers."""
    note_database_unavailable()
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if wants_json():
        body = {"error": {"code": "database_unavailable", "message": DATABASE_UNAVAILABLE}}
        return jsonify(body), 503, headers
    return render_template("unavailable.html", message=DATABASE_UNAVAILABLE), 503, headers


def _render_error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Any:
    if wants_json():
        body: dict[str, Any] = {"error": {"code": code, "message": message}}
        if details:
            body["error"]["details"] = details
        return jsonify(body), status
    return render_template("error.html", status=status, code=code, message=message), status


def _app_error(exc: AppError) -> Any:
    return _render_error(exc.status, exc.code, exc.message, exc.details)


def _http_error(exc: HTTPException) -> Any:
    # An error raised after the view (the request's commit, saving the session) reaches Flask as a 500.
    original = exc.original_exception if isinstance(exc, InternalServerError) else None
    if original is not None and is_database_unavailable(original):
        log.warning("database unavailable: %s", original)
        return database_unavailable()
    status = exc.code or 500
    code = (exc.name or "error").lower().replace(" ", "_")
    return _render_error(status, code, exc.description or exc.name or "error")


def _unexpected_error(exc: Exception) -> Any:
    if is_database_unavailable(exc):
        log.warning("database unavailable: %s", exc)
        return database_unavailable()
    log.exception("unexpected error")
    return _render_error(
        500, "internal_error", "予期しないエラーが発生しました / an unexpected error occurred"
    )
