"""Flask application factory: ``gunicorn 'tsunagu.app:create_app()'``."""

from __future__ import annotations

import logging

from flask import Flask

from . import models as _models  # noqa: F401 - every mapper configured before the first request
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

    from .identity import web as identity_web
    from .tenancy import web as tenancy_web
    from .web import hosts, json, requests, ui

    json.init_app(app)  # bounded parsing of every JSON body (depth, items); no ASCII escapes in responses

    requests.init_app(app)
    tenancy_web.init_app(app)  # how a request finds its tenant
    identity_web.init_app(app, runtime)  # sessions, CSRF, sign-in, tokens, permissions; before the views
    app.wsgi_app = hosts.TenantHostMiddleware(app.wsgi_app, settings.base_domain)  # type: ignore[method-assign]
    register_views(app)
    ui.init_app(app)  # HTML layer: security headers + CSP, languages, date filters (after every global)
    return app


def register_views(app: Flask) -> None:
    """Every module's views, in one place at the top layer: importing a ``views`` module attaches its routes
    to the shared blueprints of the web toolkit."""
    from . import meetings, notifications, reports
    from .admin import operations_api as _operations_api  # noqa: F401
    from .admin import operations_pages
    from .admin import views as _admin_views  # noqa: F401
    from .admin.designer.pages import bp as designer_pages
    from .audit import pages as audit_pages
    from .audit import web as audit_web
    from .cases import notices as cases_notices
    from .cases import print_pages as _cases_print_pages  # noqa: F401 - the print routes on cases' blueprint
    from .cases import views as _cases_views  # noqa: F401
    from .cases.pages import bp as cases_pages
    from .identity import admin_views as _identity_admin_views  # noqa: F401
    from .identity import api as _identity_api  # noqa: F401
    from .identity import views as _identity_views  # noqa: F401
    from .inbox import views as _inbox_views  # noqa: F401
    from .inbox.pages import bp as inbox_pages
    from .referrals import api as _referrals_api  # noqa: F401
    from .referrals import pages as referrals_pages
    from .sharing import views as _sharing_views  # noqa: F401
    from .tenancy import views as tenancy_views
    from .web import openapi as _openapi  # noqa: F401
    from .web.blueprints import api_bp, tenant_bp
    from .web.views import register_platform_views

    notifications.init_app(app, app.extensions["tsunagu"].settings)  # pages, the header's bell, admin menu
    cases_notices.register()  # how the notification centre describes tasks and cases, at read time
    meetings.init_app(app)  # the meetings API and pages (calendar, agenda, secretariat page)
    reports.init_app(app)  # the statistics listener on the advance path, the reports API, dashboard, exports
    if not any(child is api_bp for child, _ in tenant_bp._blueprints):
        tenant_bp.register_blueprint(api_bp)
    app.register_blueprint(tenant_bp)
    app.register_blueprint(inbox_pages)
    app.register_blueprint(cases_pages)
    app.register_blueprint(designer_pages)
    app.register_blueprint(referrals_pages.bp)  # the partner portal, referral pages (issue #20)
    referrals_pages.register()  # its panels on the inbox and the 支援会議 page
    audit_web.init_app(app)  # security events (sign-ins, denials) become audit entries; after web.requests
    audit_pages.init_app(app)  # the auditor's page and its admin menu entry
    operations_pages.init_app(app)  # instance operations: pages, the admin menu entry, their labels
    app.add_url_rule("/", "index", tenancy_views.index)
    register_platform_views(app)
