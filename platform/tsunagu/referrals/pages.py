"""HTML pages: the partner portal (``/partner``: referrals with their feedback, requests for cooperation to
answer, a department's early-detection flag), the receiving unit's referral page (duplicate check, accept),
a case's requests for cooperation, and the panels the inbox and the meeting page show.

Thin views: parse the form, call one service, redirect; the request commits once. A partner's user reaches
only their own organisation's rows (``services.partner_of``); anything else is 404.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select
from werkzeug.wrappers import Response

from ..cases import services as cases
from ..core.errors import AppError, Conflict, NotFound, ValidationFailed
from ..identity import permissions
from ..identity.auth import login_required
from ..inbox import services as inbox
from ..meetings import services as meetings
from ..tenancy.models import OrgUnit, Tenant
from ..web.i18n import current_language
from ..web.pages import current_actor, in_language, parse_id, tenant_pages
from ..web.requests import db
from . import inputs
from . import services as referrals
from .models import PartnerOrganisation, Referral

bp = tenant_pages("referrals", __name__)
bp.template_folder = "templates"


def labels() -> dict[str, Any]:
    return {
        "status": {
            "received": _("Received"),
            "in_progress": _("In progress"),
            "closed": _("Finished"),
            "sent": _("Requested"),
            "accepted": _("Accepted"),
            "declined": _("Declined"),
            "reported": _("Reported"),
        },
        "topic": {
            "health": _("Illness, health, disability"),
            "housing": _("Housing"),
            "income": _("Income and living costs"),
            "rent_loan": _("Rent or loan payments"),
            "tax_utilities": _("Taxes and utility bills"),
            "debt": _("Debt"),
            "work": _("Finding work"),
            "work_trouble": _("Worries or trouble at work"),
            "community": _("Relations with the neighbourhood"),
            "family": _("Relations with the family"),
            "childcare": _("Raising children"),
            "care": _("Long-term care"),
            "hikikomori": _("Social withdrawal, school refusal"),
            "dv_abuse": _("Domestic violence, abuse"),
            "food": _("Nothing to eat"),
            "other": _("Other"),
        },
        "urgency": {"high": _("Urgent"), "normal": _("Normal"), "low": _("Low")},
        "category": {
            "general": _("General information"),
            "sensitive": _("Sensitive information (health, disability, DV)"),
            "household": _("Household information"),
            "tax": _("Tax information"),
        },
    }


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"rl": labels(), "topics": inputs.TOPICS, "lang": current_language()}


def _partner() -> tuple[Any, PartnerOrganisation]:
    actor = current_actor()
    session = db()
    referrals.sync_partners(session)
    partner = referrals.partner_of(session, actor)
    if partner is None:
        raise NotFound(_("Not found"))  # not a partner's user: the portal does not exist for them
    return actor, partner


def _error_text(exc: AppError) -> str:
    return in_language(exc.message, current_language())


# ---- the partner portal --------------------------------------------------------------------------------------
@bp.get("/partner")
@login_required
def portal() -> str:
    _actor, partner = _partner()
    session = db()
    rows = referrals.referrals_for_partner(session, partner)
    requests = referrals.cooperation_for_partner(session, partner)
    return render_template(
        "referrals/portal.html",
        partner=partner,
        rows=[(r, referrals.feedback(session, r)) for r in rows],
        requests=[(c, referrals.person_shown_to_partner(session, c)) for c in requests],
    )


def _referral_form() -> dict[str, Any]:
    form = request.form
    anonymous = form.get("consent_status") != "obtained"
    return {
        "anonymous": anonymous,
        "person": None
        if anonymous
        else {
            "name": form.get("name", ""),
            "name_kana": form.get("name_kana", ""),
            "birth_date": form.get("birth_date"),
        },
        "topics": form.getlist("topics"),
        "main_topic": form.get("main_topic") or None,
        "urgency": form.get("urgency") or "normal",
        "reason": form.get("reason", ""),
        "actions_taken": form.get("actions_taken", ""),
        "consent": {
            "status": form.get("consent_status", ""),
            "given_on": form.get("given_on") or None,
            "channel": form.get("channel") or "signed_form",
            "categories": form.getlist("categories"),
            "feedback": form.get("feedback") == "yes",
        },
        "contact_name": form.get("contact_name", ""),
        "contact_phone": form.get("contact_phone", ""),
    }


@bp.route("/partner/referrals/new", methods=["GET", "POST"])
@login_required
def new_referral() -> Any:
    actor, partner = _partner()
    permissions.authorize(actor, "referral.submit")
    if request.method == "GET":
        return render_template("referrals/new.html", partner=partner, values={}, errors={})
    values = request.form
    try:
        data = inputs.parse_referral(_referral_form())
        files = [
            (f.filename or "", f.mimetype or "", f.read(inputs.ATTACHMENT_MAX_BYTES + 1))
            for f in request.files.getlist("attachments")
            if f and f.filename
        ]
        attachments = inputs.check_attachments(files)
    except ValidationFailed as exc:
        return render_template("referrals/new.html", partner=partner, values=values, errors=exc.details), 422
    referral = referrals.submit_referral(db(), partner, data, actor_id=actor.user_id, attachments=attachments)
    flash(_("The referral was sent."), "success")
    return redirect(url_for("referrals.partner_referral", referral_id=referral.id), code=303)


@bp.get("/partner/referrals/<referral_id>")
@login_required
def partner_referral(referral_id: str) -> str:
    _actor, partner = _partner()
    session = db()
    referral = referrals.get_referral(session, parse_id(referral_id), partner=partner)
    return render_template(
        "referrals/partner_referral.html",
        partner=partner,
        referral=referral,
        told=referrals.feedback(session, referral),
        attachments=referrals.attachments_of(session, referral),
    )


@bp.post("/partner/cooperation/<cooperation_id>")
@login_required
def respond(cooperation_id: str) -> Response:
    actor, partner = _partner()
    permissions.authorize(actor, "cooperation.respond")
    session = db()
    row = referrals.get_cooperation(session, parse_id(cooperation_id), partner=partner)
    try:
        action, text = inputs.parse_response(
            {"action": request.form.get("action"), "text": request.form.get("text")}
        )
        with session.begin_nested():
            referrals.respond_to_cooperation(session, row, partner, action, text, actor.user_id)
        flash(_("Your answer was sent."), "success")
    except (ValidationFailed, Conflict) as exc:
        flash(_error_text(exc), "error")
    return redirect(url_for("referrals.portal") + "#cooperation", code=303)  # type: ignore[return-value]


@bp.post("/partner/flags")
@login_required
def flag() -> Response:
    actor, partner = _partner()
    permissions.authorize(actor, "referral.submit")
    session = db()
    try:
        data = inputs.parse_flag(
            {
                "signs": request.form.getlist("signs"),
                "summary": request.form.get("summary", ""),
                "no_tax_information": request.form.get("no_tax_information") == "yes",
            }
        )
        with session.begin_nested():
            referrals.flag_for_support_meeting(session, partner, data, actor.user_id)
        flash(_("The flag was put on the next support meeting."), "success")
    except AppError as exc:
        flash(_error_text(exc), "error")
    return redirect(url_for("referrals.portal") + "#flag", code=303)  # type: ignore[return-value]


# ---- the receiving unit ---------------------------------------------------------------------------------------
def _staff_referral(referral_id: str) -> tuple[Any, Referral]:
    actor = current_actor()
    session = db()
    referral = referrals.get_referral(
        session, parse_id(referral_id), partner=referrals.partner_of(session, actor)
    )
    if referrals.partner_of(session, actor) is None:
        permissions.authorize(actor, "referral.read", referral)  # another unit's referral: 404
    return actor, referral


@bp.get("/referrals/<referral_id>")
@login_required
def show(referral_id: str) -> Any:
    actor, referral = _staff_referral(referral_id)
    session = db()
    if referrals.partner_of(session, actor) is not None:
        return redirect(url_for("referrals.partner_referral", referral_id=referral.id))
    return render_template("referrals/show.html", **_show_context(referral, actor))


def _show_context(referral: Referral, actor: Any, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    session = db()
    partner = session.get(PartnerOrganisation, (referral.tenant_id, referral.partner_id))
    candidates = []
    if referral.status == "received" and not referral.anonymous:
        for case in referrals.duplicate_candidates(
            session, referral.person_name, referral.person_kana, referral.birth_date
        ):
            if permissions.can(actor, "case.read", case):
                candidates.append((case, cases.case_detail(session, case)["person"]))
    unit = session.get(OrgUnit, (referral.tenant_id, referral.org_unit_id))
    return {
        "referral": referral,
        "partner": partner,
        "unit": unit,
        "candidates": candidates,
        "attachments": referrals.attachments_of(session, referral),
        "can_accept": permissions.can(actor, "referral.accept", referral) and referral.status == "received",
        "errors": errors or {},
    }


@bp.post("/referrals/<referral_id>/accept")
@login_required
def accept(referral_id: str) -> Any:
    actor, referral = _staff_referral(referral_id)
    session = db()
    form = request.form
    body: dict[str, Any] = {"new_case": form.get("choice") == "new"}
    if form.get("choice", "").startswith("join:"):
        body["join_case_id"] = form["choice"].removeprefix("join:")
    if form.get("name"):
        body["person"] = {
            "name": form.get("name"),
            "name_kana": form.get("name_kana", ""),
            "birth_date": form.get("birth_date") or None,
        }
    tenant = session.get(Tenant, g.tenant.id)
    assert tenant is not None
    try:
        choice = inputs.parse_accept(body)
        with session.begin_nested():
            case = referrals.accept_referral(
                session,
                tenant,
                current_app.extensions["tsunagu"].settings.workflows_dir,
                referral,
                actor,
                choice,
            )
    except (ValidationFailed, Conflict) as exc:
        details = dict(exc.details) if isinstance(exc, ValidationFailed) else {"choice": [_error_text(exc)]}
        return render_template("referrals/show.html", **_show_context(referral, actor, details)), 422
    flash(_("The referral was accepted."), "success")
    return redirect(url_for("cases.show", case_id=case.id), code=303)


@bp.get("/referrals/<referral_id>/attachments/<attachment_id>")
@login_required
def attachment(referral_id: str, attachment_id: str) -> Response:
    _actor, referral = _staff_referral(referral_id)
    wanted = parse_id(attachment_id)
    item = next((a for a in referrals.attachments_of(db(), referral) if a.id == wanted), None)
    if item is None:
        raise NotFound(_("Not found"))
    response = Response(item.data, mimetype=item.content_type)
    response.headers["Content-Disposition"] = "attachment"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


# ---- a case's requests for cooperation -----------------------------------------------------------------------
@bp.route("/cases/<case_id>/cooperation", methods=["GET", "POST"])
@login_required
def case_cooperation(case_id: str) -> Any:
    actor = current_actor()
    session = db()
    case = cases.get_case(session, parse_id(case_id))
    permissions.authorize(actor, "case.read", case)  # another unit's case, or a partner's user: 404
    referrals.sync_partners(session)
    errors: dict[str, Any] = {}
    if request.method == "POST":
        try:
            data = inputs.parse_cooperation(
                {
                    "partner": request.form.get("partner"),
                    "request": request.form.get("request"),
                    "due_on": request.form.get("due_on"),
                }
            )
            with session.begin_nested():
                referrals.request_cooperation(session, case, data, actor)
            flash(_("The request for cooperation was sent."), "success")
            return redirect(url_for("referrals.case_cooperation", case_id=case.id), code=303)
        except ValidationFailed as exc:
            errors = exc.details
    return render_template(
        "referrals/case_cooperation.html",
        case=case,
        person=cases.case_detail(session, case)["person"],
        rows=referrals.cooperation_for_case(session, case.id),
        partners={p.id: p for p in referrals.partners(session)},
        can_request=permissions.can(actor, "cooperation.request", case),
        errors=errors,
    ), (422 if errors else 200)


# ---- panels on other modules' pages ---------------------------------------------------------------------------
def inbox_panel(session: Any, actor: Any) -> Markup | None:
    """The inbox: a partner's user is pointed to the portal; the receiving unit sees referrals to accept."""
    referrals.sync_partners(session)
    partner = referrals.partner_of(session, actor)
    if partner is not None:
        html = render_template("referrals/_inbox_partner.html", partner=partner, **_helpers())
        return Markup(html)  # noqa: S704 - an autoescaped template's output
    if not permissions.can(actor, "referral.accept"):
        return None
    pending = referrals.pending_for(session, actor)
    if not pending:
        return None
    names = {p.id: p.name for p in session.execute(select(PartnerOrganisation)).scalars()}
    html = render_template("referrals/_inbox_pending.html", pending=pending, names=names, **_helpers())
    return Markup(html)  # noqa: S704 - an autoescaped template's output


def meeting_panel(session: Any, meeting: Any, actor: Any) -> Markup | None:
    """A 支援会議's page: the departments' early-detection flags, to its registered members only."""
    flags = referrals.flags_for_meeting(session, meeting.id)
    if not flags:
        return None
    key = flags[0].meeting_key
    visible = referrals.may_see_flags(session, actor, key)
    names = {p.id: p.name for p in session.execute(select(PartnerOrganisation)).scalars()}
    html = render_template(
        "referrals/_meeting_flags.html", flags=flags, visible=visible, names=names, **_helpers()
    )
    return Markup(html)  # noqa: S704 - an autoescaped template's output


def register() -> None:
    inbox.register_panel(inbox_panel)
    meetings.register_agenda_panel(meeting_panel)
