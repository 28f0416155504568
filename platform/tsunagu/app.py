"""Flask application factory: ``gunicorn 'tsunagu.app:create_app()'``."""

from __future__ import annotations

import logging

from flask import Flask

from .config import Settings
from .core.runtime import Runtime


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    settings = settings or (runtime.settings if runtime else Settings.from_env())
    runtime = runtime or Runtime.from_settings(settings)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    app = Flask(__name__, template_folder="web/templates", static_folder="web/static")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        JSON_AS_ASCII=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.env == "production",
    )
    app.extensions["tsunagu"] = runtime

    from .web import hosts, json, requests, ui

    json.init_app(app)  # bounded parsing of every JSON body (depth, items); no ASCII escapes in responses

    requests.init_app(app)

    from .identity import web as identity_web

    identity_web.init_app(app, runtime)  # sessions, CSRF, sign-in; before the views and the UI layer
    app.wsgi_app = hosts.TenantHostMiddleware(app.wsgi_app, settings.base_domain)  # type: ignore[method-assign]

    from .web.views import register_views

    register_views(app)
    ui.init_app(app)  # HTML layer: security headers + CSP, languages, date filters (after every global)
    return app
