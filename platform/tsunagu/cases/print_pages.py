"""The print page of a case: ``/cases/<id>/print/<form>.pdf``, HTML rendered to PDF by WeasyPrint with Noto
Sans CJK, like the meeting agenda. The route hangs on the cases blueprint (``cases.print_form``); the
printout itself is ``cases.printing``."""

from __future__ import annotations

from flask import Response, render_template, request
from flask_babel import gettext as _

from ..audit import services as audit
from ..core.db import utcnow
from ..core.errors import Forbidden, NotFound
from ..identity import permissions
from ..identity.auth import login_required
from ..sharing import services as sharing
from ..web.pages import current_actor, parse_id
from ..web.requests import db
from . import services
from .pages import bp
from .printing import FORMS, Printout, build_printout, print_id

__all__ = ["print_form"]


def _printout(case_id: str, kind: str) -> tuple[Printout, str]:
    if kind not in FORMS:
        raise NotFound(_("There is no such form."))
    case = services.get_case(db(), parse_id(case_id))
    actor = current_actor()
    try:
        permissions.authorize(actor, "case.read", case)
    except Forbidden:
        raise Forbidden(_("Your roles do not allow this page.")) from None
    printout = build_printout(db(), case, actor, kind)
    # one entry per print, with its legal basis (the PDF and the browser's print page alike)
    audit.record_access(
        db(), actor, "case.print", case, details={"form": kind, "visibility": printout.file.level.value}
    )
    html = render_template(
        printout.form.template,
        p=printout,
        printed_at=utcnow(),
        printed_by=actor.display_name or actor.email,
        reference=print_id(case, kind),
        sharing_label=sharing.label,
    )
    return printout, html


@bp.get("/cases/<case_id>/print/<kind>.pdf")
@login_required
def print_form(case_id: str, kind: str) -> Response:
    """相談受付・申込票 (``intake``), プラン兼事業等利用申込書 (``plan``), 評価シート (``evaluation``) as PDF."""
    printout, html = _printout(case_id, kind)
    from weasyprint import HTML  # imported here: only these pages need it (and its system libraries)

    pdf = HTML(string=html, base_url=request.host_url).write_pdf()
    response = Response(pdf, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{print_id(printout.case, kind)}.pdf"'
    response.headers["Cache-Control"] = "no-store"  # personal data: never kept by a browser or a proxy
    return response
