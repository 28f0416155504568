"""Notifications (issue #13): one ``notify`` service, the in-app centre, e-mail, daily digests and
escalations, calendar invitations.

Layer 2, beside ``engine`` and ``forms``: it uses ``core``, ``config``, ``tenancy`` and ``identity``, never a
domain module. Domain modules call :func:`tsunagu.notifications.services.notify` in the transaction of the
change that causes the notification; they describe their subjects for the in-app list through
:func:`tsunagu.notifications.centre.register_subject`. ``init_app`` (from ``app.create_app``) adds the pages,
the bell in the shared header and the failed-deliveries entry of the administration menu.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from ..config import Settings


def init_app(app: Flask, settings: Settings) -> None:
    from flask import Blueprint

    from ..web import hooks
    from . import api as _api  # noqa: F401 - attaches the JSON routes to the API blueprint
    from . import invitations
    from .delivery import configure
    from .pages import bell_html, bp, failed_link

    configure(settings)
    invitations.init_app()
    app.register_blueprint(Blueprint("notifications_templates", __name__, template_folder="templates"))
    app.register_blueprint(bp)
    hooks.header_widget(app, bell_html)
    hooks.admin_link(app, failed_link)
