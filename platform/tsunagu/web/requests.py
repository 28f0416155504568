"""Per-request database session, tenant binding and the one commit per request."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask, Response, g, request

from ..core.context import TenantRef
from ..core.errors import NotFound
from ..core.runtime import Runtime
from ..core.session import TenantSession


def runtime() -> Runtime:
    from flask import current_app

    rt: Runtime = current_app.extensions["tsunagu"]
    return rt


def db() -> TenantSession:
    """The request's session, bound to the request's tenant (or to none outside ``/t/<slug>/``)."""
    return open_db()


def open_db(*, bind_pending: bool = False) -> TenantSession:
    """The request's session, created on first use. ``bind_pending``: its first statement binds the tenant
    (tenant resolution), so the transaction's start does not (``core.session``)."""
    session: TenantSession | None = g.get("_db")
    if session is None:
        tenant: TenantRef | None = g.get("tenant")
        info: dict[str, Any] = {"tenant_id": tenant.id if tenant else None}
        if bind_pending:
            info["bind_pending"] = True
        session = runtime().sessions(info=info)
        g._db = session
    return session


def parse_id(raw: str | None) -> uuid.UUID:
    """An id from a URL; anything that is not a UUID is simply not found (never a 500)."""
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFound("見つかりません / not found") from None


def wants_json() -> bool:
    if "/api/" in request.path:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def init_app(app: Flask) -> None:
    @app.after_request
    def _commit(response: Response) -> Response:
        session: TenantSession | None = g.get("_db")
        if session is not None:
            if response.status_code < 400:
                session.commit()
            else:
                session.rollback()
        return response

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        session: TenantSession | None = g.pop("_db", None)
        if session is not None:
            session.rollback()
            session.close()
        token: Any = g.pop("_tenant_token", None)
        if token is not None:
            from ..core import context

            context._current.reset(token)
