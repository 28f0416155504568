"""HTML pages for cases: start a case (相談受付, with つなぎ from another agency), the case workspace, the
process diagram (BPMN XML of the case's deployment) and progress records (支援経過記録)."""

from __future__ import annotations

from typing import Any

from flask import Response as FlaskResponse
from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from ..audit import services as audit
from ..core import limits
from ..core.db import utcnow
from ..core.errors import Forbidden, ValidationFailed
from ..forms.localize import localize_errors
from ..identity import permissions
from ..identity.auth import login_required
from ..identity.models import Role
from ..sharing import services as sharing
from ..tenancy.models import OrgUnit, Tenant
from ..web.dates import to_local_date
from ..web.i18n import current_language
from ..web.pages import current_actor, parse_id, tenant_pages
from ..web.requests import db
from . import information, services, workspace
from .models import Case
from .referral import CONSENT_STATUSES, parse_referral

bp = tenant_pages("cases", __name__)

#: who may add progress records (支援経過記録): case workers and the providers delivering support
RECORDERS = frozenset({Role.TENANT_ADMIN, Role.CONSULTANT, Role.MUNICIPAL_STAFF, Role.PROVIDER})


def _allowed(action: str, case: Case | None = None) -> Any:
    """The acting user, after ``identity.permissions`` agreed (403 for the role, 404 outside their org units)."""
    actor = current_actor()
    try:
        permissions.authorize(actor, action, case)
    except Forbidden:
        raise Forbidden(_("Your roles do not allow this page.")) from None
    return actor


def _today() -> str:
    """Today in Japan (the server runs on UTC)."""
    return to_local_date(utcnow()).isoformat()  # type: ignore[union-attr]


def _org_units() -> list[OrgUnit]:
    """The active units the actor may open a case in (all of them for a tenant administrator)."""
    actor = current_actor()
    # listed in the Japanese reading order of their names (the codes are romaji)
    stmt = select(OrgUnit).where(OrgUnit.active.is_(True)).order_by(OrgUnit.name_kana, OrgUnit.code)
    if not actor.is_admin:
        stmt = stmt.where(
            OrgUnit.id.in_(sorted(permissions.units_for(actor, permissions.ACTION_ROLES["case.create"])))
        )
    return list(db().execute(stmt).scalars())


def _default_unit_code(units: list[OrgUnit]) -> str:
    """The actor's own unit preselected (a case defaults to its creator's unit)."""
    home = permissions.creation_unit(current_actor(), None)
    return next((u.code for u in units if u.id == home), units[0].code if len(units) == 1 else "")


# ---- start a case ------------------------------------------------------------------------------------------
def _new_case_page(
    values: dict[str, Any], errors: dict[str, list[str]], status: int = 200
) -> tuple[str, int]:
    units = _org_units()
    if not values.get("org_unit"):
        values = {**values, "org_unit": _default_unit_code(units)}
    return (
        render_template(
            "cases/new.html",
            values=values,
            errors=localize_errors(errors, current_language()),
            org_units=units,
            consent_statuses=CONSENT_STATUSES,
            today=_today(),
            # the browser's maxlength are the server's limits (``cases.inputs``, the referral schema)
            limits={"name": limits.PERSON_NAME_MAX, "name_kana": limits.PERSON_KANA_MAX},
        ),
        status,
    )


@bp.get("/cases/new")
@login_required
def new_case() -> tuple[str, int]:
    _allowed("case.create")
    return _new_case_page({}, {})


@bp.post("/cases/new")
@login_required
def create_case() -> Any:
    actor = _allowed("case.create")
    form = request.form
    values = {k: form.get(k, "") for k in form if k != "csrf_token"}
    errors: dict[str, list[str]] = {}
    person = None
    try:
        person = services.parse_person(
            {
                "name": form.get("name", ""),
                "name_kana": form.get("name_kana", ""),
                "birth_date": form.get("birth_date"),
            }
        )
    except ValidationFailed as exc:
        errors.update({k.removeprefix("person."): v for k, v in exc.details.items()})
    referral = None
    if form.get("referred") == "true":
        referral = {
            "source_agency": form.get("source_agency", "").strip(),
            "reason": form.get("reason", "").strip(),
            "consent_status": form.get("consent_status", ""),
        }
        if not referral["source_agency"]:
            errors["source_agency"] = [_("This field is required")]
        if not referral["reason"]:
            errors["reason"] = [_("This field is required")]
        if referral["consent_status"] not in CONSENT_STATUSES:
            errors["consent_status"] = [_("Choose one of the options")]
        try:  # issue #10: the referral schema (lengths, one line) — the same rule as the API
            parse_referral(referral, field="")
        except ValidationFailed as exc:
            errors.update({k: v for k, v in exc.details.items() if k not in errors})
    unit_code = form.get("org_unit") or None
    if errors or person is None:
        return _new_case_page(values, errors, 422)
    session = db()
    tenant = session.get(Tenant, g.tenant.id)
    assert tenant is not None
    try:
        case = services.start_case(
            session,
            tenant,
            current_app.extensions["tsunagu"].settings.workflows_dir,
            person,
            org_unit_code=unit_code,
            referral=referral,
            actor_id=actor.user_id,
            actor=actor,
        )
    except ValidationFailed as exc:
        return _new_case_page(values, {k: list(v) for k, v in exc.details.items()}, 422)
    except Forbidden:
        # another ward's unit: refused, and everything typed stays in the form
        session.rollback()
        message = _("You cannot open a case in that org unit. Choose one of your own.")
        return _new_case_page(values, {"org_unit": [message]}, 403)
    flash(_("Opened a case for %(name)s.", name=person.name), "success")
    # Straight on to the intake form when the user can work it.
    first = services.first_ready_task(session, actor, case.id)
    if first is not None and permissions.can(actor, "task.act", first):
        return redirect(url_for("inbox.task", task_id=first.id))
    return redirect(url_for("cases.show", case_id=case.id))


#: Served with the BPMN XML of a case (tenant-uploaded, untrusted as a document).
DIAGRAM_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"


# ---- the workspace -----------------------------------------------------------------------------------------
@bp.get("/cases/<case_id>")
@login_required
def show(case_id: str) -> tuple[str, int]:
    case = services.get_case(db(), parse_id(case_id))
    actor = _allowed("case.read", case)
    audit.record_access(db(), actor, "case.view", case)  # one entry per view of the page, with its basis
    ws = workspace.load_workspace(db(), parse_id(case_id))
    return _workspace_page(ws, {}, {})


def _workspace_page(
    ws: workspace.Workspace, values: dict[str, str], errors: dict[str, list[str]], status: int = 200
) -> tuple[str, int]:
    xml_ids: list[str] = []
    if ws.case.process_instance_id is not None and ws.current_elements:
        xml_ids = workspace.highlight_ids(workspace.diagram_xml(db(), ws.case), ws.current_elements)
    from ..identity.models import User

    me = db().get(User, (g.tenant.id, current_actor().user_id))
    topics = ws.data.get("consultation_topics") or []
    info = information.case_information(
        db(), ws.case, current_actor(), [str(t) for t in topics] if isinstance(topics, list) else []
    )
    shared = {
        "info": info,
        "case_id": ws.case.id,
        "sharing_label": sharing.label,
        "sharing_categories": sharing.CATEGORIES,
        "sharing_sources": sharing.SOURCES,
    }
    if not info.file_full:
        # No legal basis for the case file: the anonymised summary, and the records the viewer may see.
        return render_template("cases/anonymised.html", **shared), status
    return (
        render_template(
            "cases/show.html",
            **shared,
            ws=ws,
            highlight=xml_ids,
            progress_values=values,
            progress_errors=localize_errors(errors, current_language()),
            progress_methods=workspace.PROGRESS_METHODS,
            my_name=(me.display_name or me.email) if me else "",
            today=_today(),
            can_write=bool(current_actor().roles & RECORDERS),
            **_responsible_context(ws.case),
            panels=services.case_panels(db(), ws.case, current_actor()),  # e.g. 支援の依頼 (issue #20)
        ),
        status,
    )


def _responsible_context(case: Case) -> dict[str, Any]:
    """The responsible consultant's name, and whom the viewer may hand the case to."""
    from ..identity.services import display_names
    from . import ownership
    from .list_page import consultants

    names = display_names(db(), {case.responsible_id} if case.responsible_id else set())
    may = ownership.may_change(current_actor(), case)
    choices = consultants({case.org_unit_id} if case.org_unit_id else set()) if may else []
    return {
        "responsible_name": names.get(case.responsible_id) if case.responsible_id else "",
        "may_change_responsible": may,
        "consultant_choices": [(uid, n) for uid, n in choices if uid != case.responsible_id],
    }


@bp.get("/cases/<case_id>/diagram.bpmn")
@login_required
def diagram(case_id: str) -> FlaskResponse:
    case = services.get_case(db(), parse_id(case_id))
    _allowed("case.read", case)
    xml = workspace.diagram_xml(db(), case)
    response = FlaskResponse(xml, content_type="application/xml; charset=utf-8")
    response.headers["Cache-Control"] = "private, max-age=300"
    # The viewer fetches this as data. Opened directly in a browser it is an untrusted document: a sandbox
    # (unique origin, no scripts, no forms) and no resource loads, and never sniffed into HTML.
    response.headers["Content-Security-Policy"] = DIAGRAM_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = 'inline; filename="diagram.bpmn"'
    return response


@bp.post("/cases/<case_id>/progress")
@login_required
def add_progress(case_id: str) -> Any:
    session = db()
    case: Case = services.get_case(session, parse_id(case_id))
    actor = _allowed("case.record_progress", case)
    if not actor.roles & RECORDERS:
        raise Forbidden(_("Your roles do not allow this page."))
    form = request.form
    values = {
        k: form.get(k, "")
        for k in ("record_date", "method", "staff_name", "content", "category", "source", "meeting_key")
    }
    values["category"] = values["category"] or "general"
    values["source"] = values["source"] or "consultant"
    try:
        workspace.add_progress_record(session, case, actor_id=actor.user_id, **values)
    except ValidationFailed as exc:
        return _workspace_page(workspace.load_workspace(session, case.id), values, exc.details, 422)
    flash(_("Added the progress record."), "success")
    return redirect(url_for("cases.show", case_id=case.id) + "#progress")


@bp.post("/cases/<case_id>/progress/<record_id>/promote")
@login_required
def promote_progress(case_id: str, record_id: str) -> Any:
    """Move a 支援会議 record into the case file, with the reason (who and why are recorded)."""
    session = db()
    case: Case = services.get_case(session, parse_id(case_id))
    actor = _allowed("case.read", case)
    information.promote(session, case, parse_id(record_id), request.form.get("reason", ""), actor)
    flash(_("Moved the record into the case file."), "success")
    return redirect(url_for("cases.show", case_id=case.id) + "#progress")


from . import list_page as _list_page  # noqa: E402, F401  (the case list registers on this blueprint)
