"""The tenant blueprint ``/t/<tenant>/`` and the JSON API blueprint ``/t/<tenant>/api/v1/``.

Modules attach their routes to these blueprints from their own ``views.py``; the tenant is resolved once per
request here, before any view runs, and unknown or suspended tenants answer 404. Resolving tenants,
authenticating tokens and the permission rules are injected (:mod:`.hooks`): the toolkit knows no feature.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, g, jsonify, request
from flask.globals import request_ctx
from werkzeug.exceptions import BadRequest

from ..core import context, idempotency
from ..core.errors import AppError, NotFound, Unauthorized, UnsupportedMediaType
from .hooks import hooks
from .requests import db, open_db

tenant_bp = Blueprint("tenant", __name__, url_prefix="/t/<tenant>")
api_bp = Blueprint("api", __name__, url_prefix="/api/v1")

F = TypeVar("F", bound=Callable[..., Any])


@tenant_bp.url_value_preprocessor
def _resolve_tenant(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    slug = (values or {}).pop("tenant", None)
    # The request's session resolves its tenant and binds it in the same statement (see ``hooks``).
    session = open_db(bind_pending=True)
    ref = hooks().resolve_tenant(session, slug) if slug else None
    if ref is not None:
        session.info["tenant_id"] = ref.id
    session.info.pop("bind_pending", None)
    if ref is None:
        raise NotFound("この自治体（テナント）は見つかりません / tenant not found")
    g.tenant = ref
    g._tenant_token = context._current.set(ref)


@tenant_bp.url_defaults
def _add_tenant(_endpoint: str, values: dict[str, Any]) -> None:
    if "tenant" not in values and g.get("tenant") is not None:
        values["tenant"] = g.tenant.slug


#: Bodies the API reads: JSON, and multipart where files are uploaded (``POST definitions``).
_BODY_TYPES = ("application/json", "multipart/form-data")


@api_bp.before_request
def _authenticate_api() -> Any:
    if request.method == "OPTIONS":  # what a path allows, as JSON (never Flask's empty HTML answer)
        adapter = request_ctx.url_adapter
        methods = sorted(adapter.allowed_methods()) if adapter is not None else []
        return jsonify({"allow": methods}), 200, {"Allow": ", ".join(methods)}
    if request.method in ("POST", "PUT", "PATCH") and (request.content_length or request.data):
        mimetype = request.mimetype or ""
        if mimetype not in _BODY_TYPES and not mimetype.endswith("+json"):
            raise UnsupportedMediaType(
                "Content-Type は application/json にしてください / send the body as application/json",
                details={"Content-Type": [f"{mimetype or '(なし / none)'}: application/json が必要です"]},
            )
        if request.is_json:
            try:
                request.get_json()  # parsed once here (and cached): malformed JSON is 400, never "{}"
            except BadRequest:
                raise AppError(
                    "本文を JSON として読めません / the body is not valid JSON", code="bad_json"
                ) from None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("API トークン（Bearer）が必要です / a bearer API token is required")
    principal = hooks().authenticate_token(db(), token.strip())
    if principal is None:
        raise Unauthorized(
            "API トークンが無効か、失効しているか、別の自治体のものです"
            " / the API token is invalid, revoked, or belongs to another tenant"
        )
    g.principal = principal
    if request.method == "POST" and "Idempotency-Key" in request.headers:
        return _begin_idempotent()
    return None


def _begin_idempotent() -> Any:
    """Take the request's ``Idempotency-Key``, or answer again what the first request with it answered."""
    key = idempotency.check_key(request.headers["Idempotency-Key"])
    print_ = idempotency.fingerprint(request.method, request.path, request.get_data(cache=True))
    record, answer = idempotency.begin(db(), g.principal.user_id, key, print_)
    if answer is not None:
        headers = {"Idempotent-Replayed": "true"}
        if answer.etag:
            headers["ETag"] = answer.etag
        return Response(answer.body, status=answer.status_code, mimetype=answer.mimetype, headers=headers)
    g._idempotency = record
    return None


@api_bp.after_request
def _finish_idempotent(response: Response) -> Response:
    record = g.pop("_idempotency", None)
    if record is not None and response.status_code < 400:  # errors roll back: the key is free again
        idempotency.finish(
            db(),
            record,
            response.status_code,
            response.mimetype or "application/json",
            response.headers.get("ETag", ""),
            response.get_data(as_text=True),
        )
    return response


def require_roles(*roles: str) -> Callable[[F], F]:
    """Allow the view only to principals holding one of ``roles`` (``identity.permissions.check_roles``)."""
    return _guard(lambda principal: hooks().check_roles(principal, roles))


def require_permission(action: str) -> Callable[[F], F]:
    """Allow the view only to principals the permission rules let do ``action`` (``identity.permissions``)."""
    return _guard(lambda principal: hooks().authorize(principal, action))


def _guard(check: Callable[[Any], None]) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = hooks().current_principal()
            if principal is None:
                return hooks().unauthenticated()
            check(principal)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator
