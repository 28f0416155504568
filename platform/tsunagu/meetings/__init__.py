"""Support coordination meetings (支援調整会議) and the other meeting kinds: series, calendars, agendas,
attendance, decisions, ad hoc meetings. Other modules use :mod:`.services`."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Attach the JSON API and the pages (called by the app factory)."""
    from . import api as _api  # noqa: F401 - attaches the JSON routes to the API blueprint
    from . import tasks as _tasks  # noqa: F401 - the service operations' executors (the web runs none)
    from .pages import bp

    app.register_blueprint(bp)
