"""Platform-level endpoints (health) and the error handlers that word every error the same way."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, render_template
from sqlalchemy import text
from werkzeug.exceptions import HTTPException

from ..core.errors import AppError
from .requests import runtime, wants_json


def register_platform_views(app: Flask) -> None:
    """Health endpoints and the error handlers; every module's views are registered by ``app.create_app``."""
    app.add_url_rule("/healthz", "healthz", healthz)
    app.add_url_rule("/readyz", "readyz", readyz)
    app.register_error_handler(AppError, _app_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def healthz() -> Response:
    return jsonify(status="ok")


def readyz() -> tuple[Response, int]:
    checks: dict[str, str] = {}
    ok = True
    rt = runtime()
    try:
        with rt.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        ok = False
        checks["database"] = f"unreachable: {type(exc).__name__}"
    if rt.settings.redis_url:
        try:
            import redis

            redis.Redis.from_url(rt.settings.redis_url, socket_connect_timeout=2, socket_timeout=2).ping()
            checks["broker"] = "ok"
        except Exception as exc:
            ok = False
            checks["broker"] = f"unreachable: {type(exc).__name__}"
    else:
        checks["broker"] = "in-process (no Redis configured)"
    return jsonify(status="ok" if ok else "unavailable", checks=checks), (200 if ok else 503)


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
    status = exc.code or 500
    code = (exc.name or "error").lower().replace(" ", "_")
    return _render_error(status, code, exc.description or exc.name or "error")


def _unexpected_error(exc: Exception) -> Any:
    import logging

    logging.getLogger("tsunagu.web").exception("unexpected error")
    return _render_error(
        500, "internal_error", "予期しないエラーが発生しました / an unexpected error occurred"
    )
