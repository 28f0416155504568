"""JSON API of the reports under ``/t/<slug>/api/v1/reports`` (in the OpenAPI document).

``GET reports/monthly?month=&org_unit=`` (the month's figures per reporting unit and in total, frozen when
closed, with any later correction), ``POST reports/monthly/close`` (administrators), and the export files
``GET reports/monthly/export.csv`` / ``export.xlsx`` (``from``/``to`` months, one sheet per month).
"""

from __future__ import annotations

from typing import Any

from flask import Response, g
from pydantic import BaseModel, ConfigDict, Field

from ..web.api import operation
from ..web.blueprints import api_bp, require_roles
from ..web.etag import respond
from ..web.requests import db
from . import services as reports
from .access import CLOSERS, READERS, file_name, months_between, tenant_of

_TAGS = ["reports"]
_MONTH = r"^(19|20)\d{2}-(0[1-9]|1[0-2])$"


class MonthlyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    month: str = Field(pattern=_MONTH, description="the report month, YYYY-MM")
    org_unit: str | None = Field(None, max_length=64, description="a reporting unit's code or id (a ward)")


class ExportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from", pattern=_MONTH, description="first month, YYYY-MM")
    to: str | None = Field(None, pattern=_MONTH, description="last month (default: the first); at most 36")


class Figures(BaseModel):
    model_config = ConfigDict(extra="allow")
    new_consultations: int
    plans: int
    work_support_targets: int
    employed: int
    income_increased: int
    referred: int
    advice_only: int
    evaluated: int
    improved: int


class ReportRow(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str
    name: str
    org_unit_id: str | None
    population: int | None
    figures: Figures
    improvement_share: float | None
    per_100k: dict[str, float] | None
    meets_reference: dict[str, bool] | None


class MonthlyReport(BaseModel):
    """The month's figures: per reporting unit and the total; per 100,000 population against the reference
    values of the fiscal year; ``status`` closed → the frozen figures, ``correction`` what changed since."""

    model_config = ConfigDict(extra="allow")
    month: str
    fiscal_year: int
    reference: dict[str, float]
    rows: list[ReportRow]
    total: ReportRow
    status: str
    revision: int | None
    closed_at: str | None
    revisions: list[dict[str, Any]]
    correction: dict[str, Any] | None


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    month: str = Field(pattern=_MONTH)
    note: str = Field("", max_length=2000)


class ClosingOut(BaseModel):
    month: str
    revision: int
    closed_at: str


@api_bp.get("/reports/monthly")
@require_roles(*READERS)
@operation(query=MonthlyQuery, resp={200: MonthlyReport}, errors=(403, 404), tags=_TAGS)
def monthly_report(query: MonthlyQuery) -> Any:
    """The national monthly figures (支援状況調査) of a month, per ward and in total."""
    session = db()
    return respond(reports.monthly_report(session, tenant_of(session), query.month, query.org_unit))


@api_bp.post("/reports/monthly/close")
@require_roles(*CLOSERS)
@operation(json=CloseIn, resp={201: ClosingOut}, errors=(403, 409), tags=_TAGS)
def close_month(json: CloseIn) -> Any:
    """Close (締め) a month: its figures are frozen as the next revision; 409 when nothing changed since."""
    session = db()
    closing = reports.close_month(session, tenant_of(session), json.month, g.principal.user_id, json.note)
    body = {"month": closing.month, "revision": closing.revision, "closed_at": closing.closed_at.isoformat()}
    return respond(body, 201)


def _reports(query: ExportQuery) -> tuple[Any, list[dict[str, Any]], list[str]]:
    session = db()
    tenant = tenant_of(session)
    months = months_between(query.from_, query.to or query.from_)
    return tenant, [reports.monthly_report(session, tenant, m) for m in months], months


@api_bp.get("/reports/monthly/export.csv")
@require_roles(*READERS)
@operation(query=ExportQuery, resp={200: None}, errors=(403,), tags=_TAGS)
def export_monthly_csv(query: ExportQuery) -> Any:
    """The months' figures as CSV (UTF-8 with BOM), a row per ward and a totals row per month."""
    tenant, rows, months = _reports(query)
    name = file_name(tenant, months[0], months[-1], "csv")
    return Response(
        reports.csv_bytes(rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={name}", "X-Content-Type-Options": "nosniff"},
    )


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@api_bp.get("/reports/monthly/export.xlsx")
@require_roles(*READERS)
@operation(query=ExportQuery, resp={200: None}, errors=(403,), tags=_TAGS)
def export_monthly_xlsx(query: ExportQuery) -> Any:
    """The months' figures as an Excel workbook: one sheet per month, ward rows, a totals row."""
    tenant, rows, months = _reports(query)
    name = file_name(tenant, months[0], months[-1], "xlsx")
    return Response(
        reports.xlsx_bytes(rows, tenant.name),
        mimetype=XLSX,
        headers={"Content-Disposition": f"attachment; filename={name}", "X-Content-Type-Options": "nosniff"},
    )
