"""Wires the HTML side of the web layer: security headers, languages, date filters, layout globals.

Called last in ``create_app`` so that globals other modules register (``csrf_token``) are already there.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import Flask, g

from . import dates, i18n, labels, security


def current_user_label() -> str | None:
    """Display name of the signed-in user for the header, or ``None`` when nobody is signed in."""
    from .hooks import hooks

    principal = hooks().current_principal() if g.get("tenant") is not None else None
    if principal is None:
        return None
    return principal.display_name or principal.email or None


def _header_widgets() -> list[Any]:
    """The header's widgets for the signed-in user of a tenant page (none for anybody else)."""
    from .hooks import hooks

    if g.get("tenant") is None:
        return []
    principal = hooks().current_principal()
    if principal is None:
        return []
    drawn = (widget(principal) for widget in hooks().header_widgets)
    return [html for html in drawn if html]


def _admin_links() -> list[Any]:
    from .hooks import hooks

    principal = hooks().current_principal() if g.get("tenant") is not None else None
    if principal is None:
        return []
    made = (link(principal) for link in hooks().admin_links)
    return [link for link in made if link is not None]


def may(action: str) -> bool:
    """Whether the signed-in user of this tenant page may do ``action`` (menus show only what they may)."""
    from .hooks import hooks

    principal = hooks().current_principal() if g.get("tenant") is not None else None
    if principal is None:
        return False
    # ``can``, not ``authorize``: drawing a menu for a user who may not is no permission denial to audit.
    return bool(hooks().can(principal, action))


def _tenant_name() -> str | None:
    if g.get("tenant") is None:
        return None
    if "tenant_name" not in g:
        from .hooks import hooks
        from .requests import db

        g.tenant_name = hooks().tenant_name(db(), g.tenant)
    name: str | None = g.tenant_name
    return name


def _csrf_fallback() -> str:
    # Used only until the sign-in work registers the real ``csrf_token`` global (see init_app).
    return ""


def init_app(app: Flask) -> None:
    security.init_app(app)
    i18n.init_app(app)
    dates.register_filters(app.jinja_env)
    app.jinja_env.globals["current_user_label"] = current_user_label
    app.jinja_env.globals["endpoint_exists"] = lambda name: name in app.view_functions
    for name, table in (
        ("role_label", labels.ROLE_LABELS),
        ("event_label", labels.EVENT_KINDS),
        ("method_label", labels.PROGRESS_METHODS),
        ("consent_label", labels.CONSENT_STATUSES),
        ("status_label", labels.CASE_STATUSES),
        ("message_label", labels.MESSAGES),
        ("meeting_style_label", labels.MEETING_STYLES),
    ):
        app.jinja_env.globals[name] = functools.partial(labels.label, table)
    app.jinja_env.globals["tenant_name"] = _tenant_name
    app.jinja_env.globals["header_widgets"] = _header_widgets
    app.jinja_env.globals["admin_links"] = _admin_links
    app.jinja_env.globals["may"] = may
    if "csrf_token" not in app.jinja_env.globals:
        app.jinja_env.globals["csrf_token"] = _csrf_fallback

    @app.context_processor
    def _layout() -> dict[str, Any]:
        return {"tenant_ref": g.get("tenant")}
