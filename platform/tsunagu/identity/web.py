"""Wires identity into the Flask app: server-side sessions, CSRF, sign-in state, operator pages, templates."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app

from ..core.errors import RateLimited
from ..core.runtime import Runtime
from ..core.session import TenantSession
from ..web import hooks
from . import csrf, permissions
from .auth import current_principal, unauthenticated_response
from .models import ROLE_LABELS_JA
from .oidc import ClientRegistry
from .principal import Principal
from .ratelimit import RateLimiter
from .sessions import TenantSessionInterface, make_store
from .state import EXTENSION, IdentityState
from .tokens import authenticate_token


def _rate_limited(runtime: Runtime, authenticate: Any) -> Any:
    """Token authentication with a per-token budget of ``TSUNAGU_API_RATE_LIMIT_PER_MINUTE`` requests."""
    limit = runtime.settings.api_rate_limit_per_minute

    def authenticate_and_count(session: TenantSession, token: str) -> Principal | None:
        principal: Principal | None = authenticate(session, token)
        if principal is not None and limit > 0:
            state: IdentityState = current_app.extensions[EXTENSION]
            if not state.limiter.hit(f"api:{principal.tenant_id}:{principal.session_id}", limit):
                raise RateLimited(
                    f"リクエストが多すぎます（1分あたり{limit}件まで）。しばらくしてからお試しください"
                    f" / too many requests (at most {limit} a minute per token); try again shortly",
                    details={"limit": limit},
                    headers={"Retry-After": str(state.limiter.window)},
                )
        return principal

    return authenticate_and_count


#: Routes-less blueprint that makes ``identity/templates`` visible to ``render_template``.
templates_bp = Blueprint("identity", __name__, template_folder="templates")


def init_app(app: Flask, runtime: Runtime) -> None:
    """Call before the UI layer's ``init_app`` (it keeps our ``csrf_token`` global) and before the views."""
    registered = hooks.init_app(app)  # the web toolkit asks identity who is signed in and what they may do
    registered.authenticate_token = _rate_limited(runtime, authenticate_token)
    registered.current_principal = current_principal
    registered.unauthenticated = unauthenticated_response
    registered.check_roles = permissions.check_roles
    registered.authorize = permissions.authorize
    registered.can = permissions.can
    store = make_store(runtime)
    interface = TenantSessionInterface(runtime, store)
    app.session_interface = interface
    app.extensions[EXTENSION] = IdentityState(
        runtime=runtime,
        store=store,
        sessions=interface,
        clients=ClientRegistry(),
        limiter=RateLimiter(runtime.settings.redis_url),
    )
    csrf.init_app(app)
    app.jinja_env.globals.setdefault("role_labels", ROLE_LABELS_JA)
    app.register_blueprint(templates_bp)

    from .operator import operator_bp

    app.register_blueprint(operator_bp)
