"""Who is signed in: :func:`current_principal` and the :func:`login_required` decorator for HTML views.

The principal of a request comes from one of two places, decided once per request and kept in ``g.principal``:

* the JSON API (``/t/<slug>/api/v1/``) authenticates a bearer token (``web.blueprints``);
* HTML pages read the server-side session (:mod:`tsunagu.identity.sessions`) that sign-in created.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import g, redirect, request, session
from werkzeug.wrappers import Response

from ..core.errors import Unauthorized
from .principal import Principal

F = TypeVar("F", bound=Callable[..., Any])

#: Keys of the server-side session written at sign-in.
SESSION_USER_KEY = "uid"


def current_principal() -> Principal | None:
    """The principal of this request, or ``None`` when nobody is signed in (or outside a tenant)."""
    if "principal" in g:
        principal: Principal | None = g.principal
        return principal
    principal = _principal_from_session()
    g.principal = principal
    return principal


def _principal_from_session() -> Principal | None:
    from sqlalchemy import select

    from ..web.requests import db
    from .models import User
    from .principal import load_access
    from .sessions import end_current_session, session_record_id

    tenant = g.get("tenant")
    if tenant is None:
        return None
    raw = session.get(SESSION_USER_KEY)
    if not raw:
        return None
    try:
        user_id = uuid.UUID(str(raw))
    except ValueError:
        return None
    database = db()
    user = database.execute(select(User).where(User.id == user_id)).scalar_one_or_none()
    if user is None or not user.active:
        # A deactivated (or deleted) user's session ends at once, even if the purge missed it.
        end_current_session()
        return None
    access = load_access(database, user.id)
    return Principal(
        user_id=user.id,
        tenant_id=tenant.id,
        roles=access.roles,
        org_unit_ids=access.org_unit_ids,
        grants=access.grants,
        home_units=access.home_units,
        email=user.email,
        display_name=user.display_name,
        via="session",
        session_id=session_record_id(),
    )


def login_url(next_path: str | None = None) -> str:
    """``/t/<slug>/auth/login?next=...`` for the request's tenant (``&expired=1`` when a session timed out)."""
    from .sessions import session_expired

    slug = g.tenant.slug
    target = next_path if next_path is not None else _current_path()
    params = {"next": target} if target else {}
    if session_expired():
        params["expired"] = "1"
    query = urlencode(params)
    return f"/t/{slug}/auth/login" + (f"?{query}" if query else "")


def _current_path() -> str:
    path = request.full_path if request.query_string else request.path
    return path.rstrip("?")


def login_required(view: F) -> F:
    """HTML views: redirect to the tenant's sign-in page when nobody is signed in; JSON requests get 401."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_principal() is None:
            return unauthenticated_response()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def unauthenticated_response() -> Response:
    """Nobody is signed in: HTML → the sign-in page (``?next=`` this page); htmx → 401 with ``HX-Redirect``;
    JSON → 401 (raised, so the error handler words it)."""
    from ..web.requests import wants_json

    if wants_json() or g.get("tenant") is None:
        raise Unauthorized("サインインが必要です / sign-in required")
    if request.headers.get("HX-Request"):
        return Response("", 401, {"HX-Redirect": login_url(_htmx_page())})
    return redirect(login_url())


def _htmx_page() -> str | None:
    # htmx tells which page the fragment belongs to; come back to that page, not to the fragment.
    from urllib.parse import urlsplit

    current = urlsplit(request.headers.get("HX-Current-URL", ""))
    return current.path if current.path.startswith(f"/t/{g.tenant.slug}/") else None
