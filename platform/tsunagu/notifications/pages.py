"""HTML pages of the notification centre: the bell, the list, preferences, and the administrators' failed
deliveries. Endpoints ``notifications.*``; thin views over ``centre``.
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from werkzeug.wrappers import Response

from ..identity import permissions
from ..identity.auth import login_required
from ..web.hooks import AdminLink
from ..web.i18n import current_language
from ..web.pages import current_actor, parse_id, tenant_pages
from ..web.requests import db
from . import centre
from .kinds import all_kinds, get_kind
from .models import Mode

bp = tenant_pages("notifications", __name__)

#: How often an open page asks for the unread count (seconds): a handed-over task shows within this.
BELL_POLL_SECONDS = 10


def _tenant_path(link: str) -> str:
    """``tasks/<id>`` → ``/t/<slug>/tasks/<id>``."""
    return f"{request.script_root}/t/{g.tenant.slug}/{link}"


def bell_html(principal: Any) -> Markup:
    """The header's bell: a link to the list with the unread count, refreshed by htmx without a reload."""
    count = centre.unread_count(db(), principal.user_id)
    html = render_template("notifications/_bell.html", count=count, poll=BELL_POLL_SECONDS)
    return Markup(html)  # noqa: S704 - our own template, rendered with autoescape


def failed_link(principal: Any) -> AdminLink | None:
    if not permissions.can(principal, "admin.notifications"):
        return None
    return AdminLink(
        url=url_for("notifications.failed"),
        label=_("Failed e-mail"),
        count=centre.failed_count(db()),
    )


@bp.get("/notifications/bell")
@login_required
def bell() -> str:
    actor = current_actor()
    return render_template(
        "notifications/_bell.html", count=centre.unread_count(db(), actor.user_id), poll=BELL_POLL_SECONDS
    )


@bp.get("/notifications")
@login_required
def index() -> str:
    actor = current_actor()
    unread_only = request.args.get("show") == "unread"
    try:
        page = max(int(request.args.get("page", "1")), 1)
    except ValueError:
        page = 1
    items = centre.list_items(
        db(), actor, unread_only=unread_only, limit=centre.PAGE_SIZE + 1, offset=(page - 1) * centre.PAGE_SIZE
    )
    return render_template(
        "notifications/index.html",
        items=items[: centre.PAGE_SIZE],
        has_next=len(items) > centre.PAGE_SIZE,
        page=page,
        unread_only=unread_only,
        unread=centre.unread_count(db(), actor.user_id),
        lang=current_language(),
        tenant_path=_tenant_path,
    )


@bp.get("/notifications/<notification_id>/open")
@login_required
def open_notification(notification_id: str) -> Response:
    """Mark read and go where it points (the task, the case); back to the list when that is no longer visible."""
    actor = current_actor()
    link = centre.open_item(db(), actor, parse_id(notification_id))
    if link is None:
        flash(_("You can no longer open what this notification was about."), "error")
        return redirect(url_for("notifications.index"))
    return redirect(_tenant_path(link))


@bp.post("/notifications/<notification_id>/read")
@login_required
def read(notification_id: str) -> Any:
    actor = current_actor()
    centre.mark_read(db(), actor.user_id, parse_id(notification_id))
    if request.headers.get("HX-Request"):
        response = Response("", 204)
        response.headers["HX-Trigger"] = "notifications-changed"
        return response
    return redirect(url_for("notifications.index"))


@bp.post("/notifications/read-all")
@login_required
def read_all() -> Response:
    actor = current_actor()
    count = centre.mark_all_read(db(), actor.user_id)
    flash(_("Marked %(n)d notification(s) as read.", n=count), "success")
    return redirect(url_for("notifications.index"))


MODE_LABELS = {
    Mode.EMAIL: _l("In the app and by e-mail at once"),
    Mode.DIGEST: _l("In the app, and in the daily digest e-mail"),
    Mode.IN_APP: _l("In the app only"),
}


@bp.route("/notifications/preferences", methods=["GET", "POST"])
@login_required
def preferences() -> Any:
    actor = current_actor()
    session = db()
    if request.method == "POST":
        choices = {
            key.removeprefix("kind:"): value for key, value in request.form.items() if key.startswith("kind:")
        }
        centre.set_preferences(session, actor.user_id, choices)
        flash(_("Notification settings saved."), "success")
        return redirect(url_for("notifications.preferences"))
    return render_template(
        "notifications/preferences.html",
        kinds=all_kinds(),
        chosen=centre.preferences(session, actor.user_id),
        lang=current_language(),
        mode_labels={mode.value: str(label) for mode, label in MODE_LABELS.items()},
    )


@bp.get("/admin/notifications/failed")
@login_required
def failed() -> str:
    actor = current_actor()
    permissions.authorize(actor, "admin.notifications")
    lang = current_language()
    return render_template(
        "notifications/failed.html",
        deliveries=centre.failed_deliveries(db()),
        lang=lang,
        kind_label=_kind_label,
    )


def _kind_label(key: str, lang: str) -> str:
    try:
        return get_kind(key).label(lang)
    except ValueError:
        return key


@bp.post("/admin/notifications/failed/retry")
@login_required
def retry_failed() -> Response:
    actor = current_actor()
    permissions.authorize(actor, "admin.notifications")
    ids = [parse_id(raw) for raw in request.form.getlist("delivery")]
    count = centre.retry_deliveries(db(), ids)
    flash(_("%(n)d delivery(ies) will be sent again.", n=count), "success")
    return redirect(url_for("notifications.failed"))
