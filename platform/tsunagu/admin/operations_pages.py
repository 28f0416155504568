"""The instance-operation pages (``/t/<slug>/admin/instances/...``): list, one instance, migration.

Thin views over ``operations``: reading needs ``instance.read`` (administrators, auditors — who see no
variables and no buttons), operating ``instance.operate`` (administrators). A refused or failed operation
re-renders the instance page with the reason and the status of the refusal (409 / 422), never a 500.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask, flash, redirect, render_template, request, url_for
from flask import Response as FlaskResponse
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from ..core.errors import AppError, Forbidden, NotFound, ValidationFailed
from ..identity import permissions
from ..identity.auth import login_required
from ..identity.principal import Principal
from ..web import hooks
from ..web.i18n import current_language
from ..web.pages import current_actor, in_language, parse_id, tenant_pages
from ..web.requests import db
from . import operations as ops
from .operations_api import parse_filters

bp = tenant_pages("operate", __name__)
bp.template_folder = "templates"

#: Served with the BPMN XML of an instance (tenant-uploaded, untrusted as a document); as the case page's.
DIAGRAM_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"


def _allowed(action: str) -> Principal:
    actor: Principal = current_actor()
    try:
        permissions.authorize(actor, action)
    except Forbidden:
        raise Forbidden(_("Only tenant administrators and auditors may see process instances.")) from None
    return actor


def _int_arg(name: str) -> int | None:
    value = request.values.get(name, "")
    if not value:
        return None
    if not value.isdigit() or len(value) > 9:
        raise ValidationFailed(_("Choose a version from the list."))
    return int(value)


@bp.get("/admin/instances/")
@login_required
def index() -> str:
    actor = _allowed("instance.read")
    filters = parse_filters(request.args)
    page = max(1, min(_int_arg("page") or 1, 10_000))
    rows, total = ops.list_instances(db(), **filters, limit=50, offset=(page - 1) * 50)
    return render_template(
        "operations/index.html",
        rows=rows,
        total=total,
        page=page,
        pages=max(1, (total + 49) // 50),
        filters=request.args,
        versions=ops.versions(db()),
        states=ops.STATES,
        may_operate=permissions.can(actor, "instance.operate"),
    )


def _detail_page(instance_id: uuid.UUID, error: str = "", status: int = 200) -> tuple[str, int]:
    actor = _allowed("instance.read")
    detail = ops.instance_detail(db(), actor, instance_id)
    return (
        render_template(
            "operations/instance.html",
            d=detail,
            error=error,
            versions=[(row, n) for row, n in ops.versions(db()) if row.version > detail.version],
            may_operate=permissions.can(actor, "instance.operate"),
        ),
        status,
    )


@bp.get("/admin/instances/<instance_id>")
@login_required
def show(instance_id: str) -> tuple[str, int]:
    return _detail_page(parse_id(instance_id))


@bp.get("/admin/instances/<instance_id>/diagram.bpmn")
@login_required
def diagram(instance_id: str) -> FlaskResponse:
    _allowed("instance.read")
    xml = ops.diagram_xml(db(), ops.get_instance(db(), parse_id(instance_id)))
    response = FlaskResponse(xml, content_type="application/xml; charset=utf-8")
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["Content-Security-Policy"] = DIAGRAM_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = 'inline; filename="diagram.bpmn"'
    return response


_DONE = {
    "retry": _l("The incident was retried."),
    "suspend": _l("The instance is suspended."),
    "resume": _l("The instance was resumed."),
    "terminate": _l("The instance was terminated."),
    "migrate": _l("The instance moved to the new version."),
}


@bp.post("/admin/instances/<instance_id>/<action>")
@login_required
def operate(instance_id: str, action: str) -> Any:
    if action not in ops.ACTIONS:
        raise NotFound(_("This operation does not exist."))
    actor = _allowed("instance.operate")
    session = db()
    key = parse_id(instance_id)
    form = request.form
    try:
        if action == "retry":
            incident = form.get("incident_id") or None
            ops.retry(
                session,
                actor,
                key,
                parse_id(incident) if incident else None,
                ops.check_reason(form.get("reason", ""), required=False),
            )
        elif action == "migrate":
            target = _int_arg("target_version")
            if target is None:
                raise ValidationFailed(_("Choose a version from the list."))
            ops.migrate_one(
                session,
                actor,
                key,
                target,
                ops.check_reason(form.get("reason", "")),
                expected_version=_int_arg("expected_version"),
            )
        else:
            run = {"suspend": ops.suspend, "resume": ops.resume, "terminate": ops.terminate}[action]
            run(session, actor, key, ops.check_reason(form.get("reason", "")))
    except NotFound:
        raise
    except AppError as exc:
        session.rollback()
        return _detail_page(key, _error_text(exc), exc.status)
    flash(str(_DONE[action]), "success")
    return redirect(url_for("operate.show", instance_id=key), code=303)


def _error_text(exc: AppError) -> str:
    text = in_language(exc.message, current_language())
    reasons = exc.details.get("reasons") if isinstance(exc.details, dict) else None
    if reasons:
        text += " " + " ".join(in_language(r.get("message", ""), current_language()) for r in reasons)
    return text


# ---- migration -----------------------------------------------------------------------------------------------


@bp.get("/admin/instances/migrate")
@login_required
def migration() -> str:
    actor = _allowed("instance.read")
    target = _int_arg("target_version")
    from_version = _int_arg("from_version")
    rows = ops.dry_run(db(), actor, target, from_version=from_version) if target else None
    diff = None
    if target and from_version and from_version != target:
        try:
            diff = ops.version_diff(db(), from_version, target, request.args.get("process", "casework")[:100])
        except AppError:
            diff = None  # the process is not in one of the versions: the dry run says so per instance
    return render_template(
        "operations/migrate.html",
        diff=diff,
        versions=ops.versions(db()),
        target=target,
        from_version=from_version,
        rows=rows,
        may_operate=permissions.can(actor, "instance.operate"),
    )


@bp.post("/admin/instances/migrate")
@login_required
def migrate_bulk() -> Response:
    actor = _allowed("instance.operate")
    target = _int_arg("target_version")
    if target is None:
        raise ValidationFailed(_("Choose a version from the list."))
    items: list[tuple[uuid.UUID, int | None]] = []
    for value in request.form.getlist("instance"):
        instance, _sep, version = value.partition(":")
        items.append((parse_id(instance), int(version) if version.isdigit() else None))
    if not items:
        raise ValidationFailed(_("No instance can move to this version."))
    result = ops.migrate_bulk(db(), actor, target, items, ops.check_reason(request.form.get("reason", "")))
    flash(
        _(
            "%(moved)d instances moved to version %(version)d; %(skipped)d were left as they are.",
            moved=len(result.migrated),
            version=target,
            skipped=len(result.skipped),
        ),
        "success" if not result.skipped else "warning",
    )
    return redirect(url_for("operate.migration", target_version=target), code=303)


def _menu_link(principal: Any) -> hooks.AdminLink | None:
    if not permissions.can(principal, "instance.read"):
        return None
    from sqlalchemy import func, select

    from ..engine.services import Incident

    count = db().execute(select(func.count(Incident.id)).where(Incident.resolved_at.is_(None))).scalar_one()
    return hooks.AdminLink(url_for("operate.index"), _("Process instances"), int(count))


INSTANCE_STATES = {
    "running": _l("Running"),
    "suspended": _l("Suspended"),
    "completed": _l("Completed"),
    "terminated": _l("Terminated"),
    "error": _l("Error"),
}
OPERATIONS = {
    "retry": _l("Retry"),
    "suspend": _l("Suspend"),
    "resume": _l("Resume"),
    "terminate": _l("Terminate"),
    "migrate": _l("Migrate"),
}
OUTCOMES = {"ok": _l("Done"), "refused": _l("Refused"), "failed": _l("Failed again")}


def _label(table: dict[str, Any], code: str | None) -> str:
    return str(table.get(code or "", code or ""))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    hooks.admin_link(app, _menu_link)
    app.jinja_env.globals["instance_state_label"] = lambda code: _label(INSTANCE_STATES, code)
    app.jinja_env.globals["operation_label"] = lambda code: _label(OPERATIONS, code)
    app.jinja_env.globals["outcome_label"] = lambda code: _label(OUTCOMES, code)
    app.jinja_env.globals["in_language"] = in_language
