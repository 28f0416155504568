"""Statistics (issue #19): the national monthly figures projected at each step, month closing, exports,
dashboards and the operators' platform-wide aggregates. Other modules use :mod:`.services`."""

from __future__ import annotations

from flask import Flask


def register() -> None:
    """Make the advance path write the statistics facts (idempotent). Called by ``init_app``: user tasks are
    completed by the web process (pages, API, administrators' retries); no Celery task completes one."""
    from ..cases.services import on_step_completed
    from .facts import project

    on_step_completed(project)


def init_app(app: Flask) -> None:
    """The listener, the JSON API, the pages and the operators' page (called by the app factory)."""
    from . import api as _api  # noqa: F401 - attaches the JSON routes to the API blueprint
    from .pages import bp, operator_bp

    register()
    app.register_blueprint(bp)
    app.register_blueprint(operator_bp)
