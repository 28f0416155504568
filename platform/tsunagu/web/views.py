"""Platform-level endpoints (health) and the error handlers that word every error the same way."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template
from werkzeug.exceptions import HTTPException, InternalServerError

from ..core.db import is_database_unavailable
from ..core.errors import AppError
from . import errors
from .health import readiness
from .requests import note_database_unavailable, wants_json

log = logging.getLogger("tsunagu.web")

#: Seconds a client is asked to wait before trying again when the database cannot serve.
RETRY_AFTER_SECONDS = 5
DATABASE_UNAVAILABLE = (
    "データベースが応答しません。入力した内容は保存されていません。しばらくしてからもう一度お試しください。"
    " / The database is not answering and nothing was saved; try again in a moment."
)


def register_platform_views(app: Flask) -> None:
    """Health endpoints and the error handlers; every module's views are registered by ``app.create_app``."""
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/readyz", "readyz", readyz)
    app.register_error_handler(AppError, _app_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


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
    if errors.is_api_request():
        return errors.api_error(503, "database_unavailable", DATABASE_UNAVAILABLE, headers=headers)
    if wants_json():
        body = {"error": {"code": "database_unavailable", "message": DATABASE_UNAVAILABLE}}
        return jsonify(body), 503, headers
    return render_template("unavailable.html", message=DATABASE_UNAVAILABLE), 503, headers


def _render_error(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    if errors.is_api_request():  # the API's one error language, whatever raised it
        return errors.api_error(status, code, message, details, headers)
    if wants_json():
        body: dict[str, Any] = {"error": {"code": code, "message": message}}
        if details:
            body["error"]["details"] = details
        return jsonify(body), status, headers or {}
    return render_template("error.html", status=status, code=code, message=message), status, headers or {}


def _app_error(exc: AppError) -> Any:
    return _render_error(exc.status, exc.code, exc.message, exc.details, exc.headers)


def _http_error(exc: HTTPException) -> Any:
    # An error raised after the view (the request's commit, saving the session) reaches Flask as a 500.
    original = exc.original_exception if isinstance(exc, InternalServerError) else None
    if original is not None and is_database_unavailable(original):
        log.warning("database unavailable: %s", original)
        return database_unavailable()
    status = exc.code or 500
    if errors.is_api_request():  # Werkzeug's texts are English only and 413 does not say the limit
        code, message = errors.http_message(status, errors.request_language())
        details = (
            [{"code": code, "limit": current_app.config.get("MAX_CONTENT_LENGTH")}] if status == 413 else None
        )
        headers = dict(exc.get_headers())
        headers.pop("Content-Type", None)
        return errors.api_error(status, code, message, details, headers)
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
