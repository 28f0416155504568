"""HTML pages: the dashboard (ECharts, each chart with its table view and downloads), the monthly report with
its exports and month closing, and the operators' platform-wide aggregates.

Charts are drawn by ``frontend/reports/dashboard.js`` from the table next to them — the table is the source,
so what a screen reader reads and what the chart shows are the same numbers. Without scripts the tables stay.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from werkzeug.wrappers import Response as WerkzeugResponse

from ..core.errors import Conflict, Forbidden, NotFound
from ..identity.auth import login_required
from ..identity.operator import operator_required
from ..web.i18n import current_language
from ..web.pages import current_actor, in_language, tenant_pages
from ..web.requests import db, runtime
from . import services as reports
from .access import CLOSERS, READERS, file_name, tenant_of
from .api import XLSX
from .exports import cell
from .figures import MONTH_RE

bp = tenant_pages("reports", __name__)
bp.template_folder = "templates"
operator_bp = Blueprint("reports_operator", __name__, url_prefix="/operator", template_folder="templates")

FIGURE_LABELS = {
    "new_consultations": lazy_gettext("New consultations"),
    "plans": lazy_gettext("Plans made"),
    "work_support_targets": lazy_gettext("Work-support targets"),
    "employed": lazy_gettext("Got work"),
    "income_increased": lazy_gettext("Income rose"),
    "referred": lazy_gettext("Referred to other programmes or agencies"),
    "advice_only": lazy_gettext("Ended with advice or information only"),
    "evaluated": lazy_gettext("Evaluations"),
    "improved": lazy_gettext("Showing improvement"),
}
COLUMN_LABELS = {
    **FIGURE_LABELS,
    "count": lazy_gettext("Count"),
    "decided": lazy_gettext("Plans approved"),
    "after_the_fact": lazy_gettext("After-the-fact reports"),
    "ratio_percent": lazy_gettext("Share (%)"),
    "warn_percent": lazy_gettext("Warning level (%)"),
    "open": lazy_gettext("Open tasks"),
    "overdue": lazy_gettext("Overdue"),
}
CHARTS = (
    ("trend", "line", lazy_gettext("Monthly trend")),
    ("funnel", "funnel", lazy_gettext("Consultation → plan → work (last 12 months)")),
    ("wards", "bar", lazy_gettext("Per 100,000 population, by ward (this month)")),
    ("after_the_fact", "bar", lazy_gettext("After-the-fact report ratio per meeting series")),
    ("open_by_consultant", "bar", lazy_gettext("Open work and overdue per consultant")),
    ("open_by_ward", "bar", lazy_gettext("Open work and overdue per ward")),
)


def _actor(roles: tuple[str, ...]) -> Any:
    actor = current_actor()
    if not actor.roles & set(roles):
        raise Forbidden(_("Your roles do not allow this page."))
    return actor


def _month(raw: str | None = None) -> str:
    value = raw if raw is not None else request.args.get("month")
    if value and MONTH_RE.match(value):
        return value
    return reports.today_jst().strftime("%Y-%m")


def _row_label(key: str, label: str) -> str:
    if key == "funnel":
        return str(FIGURE_LABELS.get(label, label))
    if label == "未割当":
        return _("Unassigned")
    if label == "所属なし":
        return _("No org unit")
    return label


def _tables(month: str) -> list[dict[str, Any]]:
    session = db()
    tables = reports.dashboard_tables(session, tenant_of(session), month)
    out = []
    for key, kind, title in CHARTS:
        table = tables[key]
        out.append(
            {
                "key": key,
                "kind": kind,
                "title": str(title),
                "columns": [str(COLUMN_LABELS.get(c, c)) for c in table.columns],
                "rows": [(_row_label(key, label), values) for label, values in table.rows],
            }
        )
    return out


@bp.get("/reports")
@login_required
def dashboard() -> str:
    actor = _actor(READERS)
    month = _month()
    return render_template(
        "reports/dashboard.html",
        month=month,
        month_title=reports.month_title(month),
        charts=_tables(month),
        may_close=bool(actor.roles & set(CLOSERS)),
    )


@bp.get("/reports/charts/<key>.csv")
@login_required
def chart_csv(key: str) -> Response:
    """One chart's table as CSV (UTF-8 with BOM)."""
    _actor(READERS)
    month = _month()
    chart = next((c for c in _tables(month) if c["key"] == key), None)
    if chart is None:
        raise NotFound(_("No such chart."))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["", *chart["columns"]])
    for label, values in chart["rows"]:
        writer.writerow([cell(label), *values])  # a consultant's display name is typed by people
    return Response(
        out.getvalue().encode("utf-8-sig"),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=dashboard-{key}-{month}.csv"},
    )


@bp.get("/reports/monthly")
@login_required
def monthly() -> str:
    actor = _actor(READERS)
    month = _month()
    session = db()
    report = reports.monthly_report(session, tenant_of(session), month)
    return render_template(
        "reports/monthly.html",
        month=month,
        month_title=reports.month_title(month),
        report=report,
        labels=FIGURE_LABELS,
        figures=list(reports.FIGURES),
        per_100k=list(reports.PER_100K),
        may_close=bool(actor.roles & set(CLOSERS)),
    )


@bp.get("/reports/monthly/export.<fmt>")
@login_required
def export(fmt: str) -> Response:
    _actor(READERS)
    if fmt not in ("csv", "xlsx"):
        raise NotFound(_("No such export."))
    session = db()
    tenant = tenant_of(session)
    month = _month()
    data = [reports.monthly_report(session, tenant, month)]
    body = reports.csv_bytes(data) if fmt == "csv" else reports.xlsx_bytes(data, tenant.name)
    return Response(
        body,
        mimetype="text/csv" if fmt == "csv" else XLSX,
        headers={"Content-Disposition": f"attachment; filename={file_name(tenant, month, month, fmt)}"},
    )


@bp.post("/reports/monthly/close")
@login_required
def close() -> WerkzeugResponse:
    actor = _actor(CLOSERS)
    month = _month(request.form.get("month", ""))
    session = db()
    try:
        closing = reports.close_month(
            session, tenant_of(session), month, actor.user_id, request.form.get("note", "")
        )
    except Conflict as exc:
        flash(in_language(exc.message, current_language()), "error")
        return redirect(url_for("reports.monthly", month=month))
    flash(_("Closed %(month)s as revision %(revision)s.", month=month, revision=closing.revision), "success")
    return redirect(url_for("reports.monthly", month=month))


@operator_bp.get("/reports")
@operator_required
def platform() -> str:
    month = _month()
    aggregates = reports.platform_aggregates(runtime(), month)
    return render_template("reports/platform.html", month=month, data=aggregates)
