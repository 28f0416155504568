"""The one error language of the JSON API: ``{"error": {"code", "message", "details"}}`` for every error under
``/api/`` — the app's own errors, Werkzeug's (404, 405, 413, 415, …), the CSRF check, a host/path mismatch —
never HTML.

* ``code`` is stable (listed in the OpenAPI document, ``ERROR_CODES``); clients branch on it.
* ``message`` is in the request's language: ``Accept-Language`` (or ``?lang=``), Japanese by default, English
  second. Service messages are written ``"日本語 / English"`` (see ``web.pages.in_language``); Werkzeug's own
  English texts are replaced by :data:`HTTP_MESSAGES`.
* ``details`` is always a list of ``{field | file, line, element, code, message}`` (only the keys that apply),
  whichever form the raising code used (``{field: [message]}``, ``{"problems": [Problem | str]}`` or facts).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Response, current_app, jsonify, request

LANGUAGES = ("ja", "en")

#: Werkzeug's errors, worded in both languages (``{limit}``: the request size cap in bytes).
HTTP_MESSAGES: dict[int, tuple[str, str, str]] = {
    400: ("bad_request", "リクエストの形式が正しくありません", "the request is malformed"),
    401: ("unauthorized", "認証が必要です", "authentication is required"),
    403: ("forbidden", "この操作の権限がありません", "you may not do this"),
    404: ("not_found", "見つかりません", "not found"),
    405: ("method_not_allowed", "このメソッドは使えません", "this method is not allowed here"),
    406: ("not_acceptable", "この形式では応答できません", "no acceptable representation"),
    409: ("conflict", "ほかの操作と競合しました", "the request conflicts with another change"),
    412: ("precondition_failed", "前提条件が一致しません", "a precondition failed"),
    413: (
        "payload_too_large",
        "リクエストが大きすぎます（上限 {limit} バイト）",
        "the request is too large (limit {limit} bytes)",
    ),
    415: (
        "unsupported_media_type",
        "Content-Type は application/json にしてください",
        "send the body as application/json",
    ),
    422: ("validation_failed", "入力内容に誤りがあります", "the input is invalid"),
    428: ("precondition_required", "If-Match ヘッダーが必要です", "an If-Match header is required"),
    429: ("rate_limited", "リクエストが多すぎます", "too many requests"),
    500: ("internal_error", "予期しないエラーが発生しました", "an unexpected error occurred"),
    503: ("unavailable", "一時的に利用できません", "temporarily unavailable"),
}

#: Every ``code`` an API error may carry, with its meaning (published in the OpenAPI document).
ERROR_CODES: dict[str, str] = {
    "bad_request": "400: the request is malformed (bad query value, unreadable body)",
    "bad_json": "400: the body is not valid JSON",
    "json_too_deep": "400: the JSON body is nested too deeply",
    "json_too_large": "400: the JSON body holds too many values",
    "csrf_failed": "400: a cookie-authenticated form without its CSRF token (never the bearer-token API)",
    "idempotency_key_invalid": "400: the Idempotency-Key header is empty or longer than 200 characters",
    "unauthorized": "401: no bearer token, or an invalid, revoked or foreign one",
    "forbidden": "403: the caller may see the object but not do this to it",
    "not_found": "404: no such object, or one the caller may not know of (existence is hidden); also an unknown "
    "or suspended tenant, and a tenant host asking for another tenant's path",
    "method_not_allowed": "405: the path exists, the method does not (see the Allow header)",
    "conflict": "409: the task was completed or claimed by someone else, or a concurrent change won",
    "task_claimed": "409: the task is claimed by someone else",
    "task_completed": "409: the task was already completed (by someone else, or by an earlier request)",
    "task_not_ready": "409: the task is not ready (cancelled, or not yet reached)",
    "no_process": "409: the case has no running process",
    "not_running": "409: the case's process has ended",
    "not_waiting": "409: the case's process is not waiting for this message",
    "idempotency_key_reused": "409: the Idempotency-Key was used before with a different request",
    "idempotency_in_progress": "409: a request with this Idempotency-Key is still being processed",
    "precondition_failed": "412: If-Match names a version that is no longer current (re-read and retry)",
    "payload_too_large": "413: the body is larger than the limit (details: limit in bytes)",
    "unsupported_media_type": "415: the body is not application/json (or multipart where files are sent)",
    "validation_failed": "422: the input is invalid (details: one entry per field)",
    "workflow_error": "422: the workflow could not carry the step out (details: element, incident)",
    "input_too_complex": "422: an input is too large or too deeply nested to evaluate",
    "unprocessable": "422: well formed, but it cannot be carried out as asked",
    "rate_limited": "429: too many requests for this token (see Retry-After)",
    "internal_error": "500: an unexpected error (reported to the operators)",
    "database_unavailable": "503: the database is not answering; nothing was saved (see Retry-After)",
}


def is_api_request() -> bool:
    return "/api/" in request.path


def request_language() -> str:
    """The API's language: ``?lang=``, then ``Accept-Language``; Japanese unless English is preferred."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    best = request.accept_languages.best_match(LANGUAGES)
    return best if best in LANGUAGES else "ja"


def in_language(message: str, lang: str) -> str:
    """``"日本語 / English"`` → the half for ``lang``; a message in one language only stays as it is."""
    if " / " not in message:
        return message
    japanese, _, english = message.partition(" / ")
    return english.strip() if lang == "en" else japanese.strip()


def http_message(status: int, lang: str) -> tuple[str, str]:
    code, ja, en = HTTP_MESSAGES.get(status, HTTP_MESSAGES[500 if status >= 500 else 400])
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return code, (en if lang == "en" else ja).format(limit=limit)


def _problem_entry(problem: Any, lang: str) -> dict[str, Any]:
    if isinstance(problem, dict):
        entry = {k: v for k, v in problem.items() if v is not None}
        if "element_id" in entry:
            entry["element"] = entry.pop("element_id")
        if isinstance(entry.get("message"), str):
            entry["message"] = in_language(entry["message"], lang)
        return entry
    as_dict = getattr(problem, "as_dict", None)
    if callable(as_dict):
        return _problem_entry(as_dict(), lang)
    return {"message": in_language(str(problem), lang)}


def error_details(details: Any, lang: str) -> list[dict[str, Any]]:
    """Every form of ``AppError.details`` as one list of ``{field | file, line, element, code, message}``."""
    if not details:
        return []
    if isinstance(details, list):
        return [_problem_entry(p, lang) for p in details]
    if not isinstance(details, dict):
        return [{"message": in_language(str(details), lang)}]
    out: list[dict[str, Any]] = []
    facts: dict[str, Any] = {}
    for key, value in details.items():
        if key == "problems" and isinstance(value, list):
            out.extend(_problem_entry(p, lang) for p in value)
        elif isinstance(value, list) and all(isinstance(m, str) for m in value):
            out.extend({"field": key, "message": in_language(m, lang)} for m in value)
        elif isinstance(value, str) and key not in _FACT_KEYS:
            out.append({"field": key, "message": in_language(value, lang)})
        else:
            facts[key] = value
    if facts:  # e.g. a workflow error: {element, element_name, error, incident_id}
        entry = {k: v for k, v in facts.items() if v is not None}
        if "error" in entry and "message" not in entry:
            entry["message"] = in_language(str(entry["error"]), lang)
        out.append(entry)
    return out


_FACT_KEYS = frozenset({"element", "element_name", "error", "incident_id", "limit", "code", "file", "line"})


def _is_japanese(text: str) -> bool:
    return any("\u3040" <= c <= "\u9fff" or "\uff00" <= c <= "\uffef" for c in text)


def localized(message: str, lang: str, status: int) -> str:
    """The message in ``lang``; a message written in the other language only gives way to the status's own
    wording in ``lang`` (the details still say what exactly was wrong)."""
    if " / " in message:
        return in_language(message, lang)
    if message and (lang == "ja") == _is_japanese(message):
        return message
    return http_message(status, lang)[1]


def error_body(
    status: int, code: str, message: str, details: Any = None, *, lang: str | None = None
) -> dict[str, dict[str, Any]]:
    lang = lang or request_language()
    return {
        "error": {
            "code": code,
            "message": localized(message, lang, status),
            "details": error_details(details, lang),
        }
    }


def api_error(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | Iterable[tuple[str, str]] | None = None,
) -> Response:
    response = jsonify(error_body(status, code, message, details))
    response.status_code = status
    response.headers["Content-Language"] = request_language()
    if status == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="tsunagu"')
    for name, value in dict(headers or {}).items():
        response.headers[name] = value
    return response
