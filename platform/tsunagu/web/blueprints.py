"""The tenant blueprint ``/t/<tenant>/`` and the JSON API blueprint ``/t/<tenant>/api/v1/``.

Modules attach their routes to these blueprints from their own ``views.py``; the tenant is resolved once per
request here, before any view runs, and unknown or suspended tenants answer 404. Resolving tenants,
authenticating tokens and the permission rules are injected (:mod:`.hooks`): the toolkit knows no feature.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, g, request

from ..core import context
from ..core.errors import NotFound, Unauthorized
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


@api_bp.before_request
def _authenticate_api() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("a bearer API token is required")
    principal = hooks().authenticate_token(db(), token.strip())
    if principal is None:
        raise Unauthorized("the API token is invalid, revoked, or belongs to another tenant")
    g.principal = principal


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
