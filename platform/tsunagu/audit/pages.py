"""The auditor's page (``/t/<slug>/audit/``): search the trail by person (case), user, action and date, and
export the result as CSV. Every search and every export is itself an audit entry (``audit.search``,
``audit.export``), written in the same transaction as the read."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from flask import Flask, Response, render_template, request, url_for
from flask_babel import gettext as _

from ..core.errors import Forbidden, ValidationFailed
from ..identity import permissions
from ..identity.auth import login_required
from ..web import hooks
from ..web.pages import current_actor, tenant_pages
from ..web.requests import db
from . import services as audit

bp = tenant_pages("audit", __name__)
bp.template_folder = "templates"

JST = timezone(timedelta(hours=9))
PAGE_LIMIT = 200
EXPORT_LIMIT = 10_000
CSV_COLUMNS = (
    "seq",
    "at",
    "actor_label",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "case_id",
    "legal_basis",
    "details",
    "hash",
)


def _allowed() -> Any:
    actor = current_actor()
    try:
        permissions.authorize(actor, "audit.read")
    except Forbidden:
        raise Forbidden(_("Only auditors and tenant administrators may search the audit log.")) from None
    return actor


def _day(name: str) -> date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(_("Enter dates as YYYY-MM-DD."), details={name: [raw[:40]]}) from None


def _filter(limit: int) -> audit.SearchFilter:
    args = request.args
    case_raw = (args.get("case") or "").strip()
    case_id = None
    if case_raw:
        try:
            case_id = uuid.UUID(case_raw)
        except ValueError:
            raise ValidationFailed(
                _("The case is given by its id."), details={"case": [case_raw[:40]]}
            ) from None
    action = (args.get("action") or "").strip()[:64]
    since, until = _day("from"), _day("to")
    return audit.SearchFilter(
        case_id=case_id,
        actor=(args.get("user") or "").strip()[:320],
        action=action,
        since=datetime.combine(since, time(), JST) if since else None,
        until=datetime.combine(until + timedelta(days=1), time(), JST) if until else None,
        limit=limit,
    )


def _query() -> dict[str, Any]:
    return {k: v for k, v in request.args.items() if k in ("case", "user", "action", "from", "to")}


@bp.get("/audit/")
@login_required
def index() -> str:
    actor = _allowed()
    flt = _filter(PAGE_LIMIT)
    result = audit.search(db(), flt, auditor=actor)
    return render_template(
        "audit/index.html",
        result=result,
        args=request.args,
        actions=audit.ACTIONS,
        export_url=url_for("audit.export", **_query()),
    )


@bp.get("/audit/export.csv")
@login_required
def export() -> Response:
    actor = _allowed()
    result = audit.search(db(), _filter(EXPORT_LIMIT), auditor=actor, export=True)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in result.entries:
        writer.writerow(
            [
                e.seq,
                e.at.isoformat(),
                e.actor_label,
                e.actor_id or "",
                e.action,
                e.target_type,
                e.target_id,
                e.case_id or "",
                e.legal_basis or "",
                audit.details_text(e),
                e.hash,
            ]
        )
    response = Response("\ufeff" + out.getvalue(), content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = 'attachment; filename="audit.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _menu_link(principal: Any) -> hooks.AdminLink | None:
    if not permissions.can(principal, "audit.read"):
        return None
    return hooks.AdminLink(url_for("audit.index"), _("Audit log"))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    hooks.admin_link(app, _menu_link)
    app.jinja_env.globals["audit_details"] = audit.details_text
