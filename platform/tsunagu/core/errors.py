"""Errors a user or client can act on, mapped to HTTP statuses by the web layer."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        #: ``{field: [message, ...]}``, ``{"problems": [problem, ...]}`` or facts (``{"element": ...}``); the
        #: API words every form as one list of ``{field | file, line, element, code, message}`` (``web/errors``)
        self.details: dict[str, Any] = details or {}
        self.headers = headers or {}
        if code:
            self.code = code


class NotFound(AppError):
    status = 404
    code = "not_found"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class Conflict(AppError):
    status = 409
    code = "conflict"


class ValidationFailed(AppError):
    status = 422
    code = "validation_failed"


class Unprocessable(AppError):
    """The request was well formed, but carrying it out failed in a way the client can read and act on."""

    status = 422
    code = "unprocessable"


class PreconditionFailed(AppError):
    """``If-Match`` named a version of the resource that is no longer the current one."""

    status = 412
    code = "precondition_failed"


class RateLimited(AppError):
    status = 429
    code = "rate_limited"


class UnsupportedMediaType(AppError):
    status = 415
    code = "unsupported_media_type"
