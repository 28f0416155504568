"""What the web toolkit calls but does not own, registered at start-up by the layers that do.

The toolkit (layer 0) knows no feature: resolving a tenant is ``tenancy``'s, authenticating a token and the
permission rules are ``identity``'s. Their ``init_app`` functions (called from ``app.create_app``) fill in a
:class:`WebHooks` on the app; the toolkit reads it through :func:`hooks`. A hook left unset answers as if
nothing matched (no tenant, nobody signed in), never as if everything were allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from ..core.context import TenantRef
from ..core.errors import Forbidden, Unauthorized
from ..core.session import TenantSession

EXTENSION = "tsunagu.web_hooks"


def _no_tenant(_session: TenantSession, _slug: str) -> TenantRef | None:
    return None


def _nobody() -> Any:
    return None


def _refuse_unauthenticated() -> Any:
    raise Unauthorized("サインインが必要です / sign-in required")


def _refuse(_principal: Any, *_args: Any) -> None:
    raise Forbidden("この操作の権限がありません / your roles do not allow this")


@dataclass
class WebHooks:
    #: ``(session, slug) → TenantRef | None``: resolve the request's tenant *and* bind it to the session's
    #: transaction (PostgreSQL: in the same statement); ``None`` for an unknown or suspended tenant
    resolve_tenant: Callable[[TenantSession, str], TenantRef | None] = _no_tenant
    #: the tenant's display name for the page header
    tenant_name: Callable[[TenantSession, TenantRef], str] = lambda _s, ref: ref.slug
    #: ``(session, bearer token) → principal | None`` for the JSON API
    authenticate_token: Callable[[TenantSession, str], Any] = lambda _s, _t: None
    #: the principal of this request, or ``None``
    current_principal: Callable[[], Any] = _nobody
    #: what to answer when nobody is signed in (HTML: redirect to sign-in; JSON: 401)
    unauthenticated: Callable[[], Any] = _refuse_unauthenticated
    #: ``(principal, roles)``: raise unless the principal holds one of them
    check_roles: Callable[[Any, Iterable[str]], None] = _refuse
    #: ``(principal, action)``: raise unless the permission rules allow it
    authorize: Callable[[Any, str], None] = _refuse
    #: ``(principal, action) → bool``: the same rules, asked quietly (menus; no denial is recorded)
    can: Callable[[Any, str], bool] = lambda _p, _a: False
    #: ``(principal) → HTML | None`` each, drawn in the shared header for a signed-in user (the bell)
    header_widgets: list[Callable[[Any], Any]] = field(default_factory=list)
    #: ``(principal) → AdminLink | None`` each, added to the tenant administration menu
    admin_links: list[Callable[[Any], AdminLink | None]] = field(default_factory=list)


@dataclass(frozen=True)
class AdminLink:
    """An entry of the administration menu a module adds; ``count`` is shown as a badge when non-zero."""

    url: str
    label: str
    count: int = 0


def init_app(app: Flask) -> WebHooks:
    registered: WebHooks = app.extensions.setdefault(EXTENSION, WebHooks())
    return registered


def header_widget(app: Flask, widget: Callable[[Any], Any]) -> None:
    """Draw ``widget(principal)`` in the shared header (registered by a feature's ``init_app``)."""
    init_app(app).header_widgets.append(widget)


def admin_link(app: Flask, link: Callable[[Any], AdminLink | None]) -> None:
    init_app(app).admin_links.append(link)


def hooks() -> WebHooks:
    registered: WebHooks = current_app.extensions[EXTENSION]
    return registered
