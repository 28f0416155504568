"""The monthly figures (支援状況調査): per tenant and per reporting unit (each Yokohama ward), from the facts.

One grouped query over ``report_fact`` for the month (``tenant_id, month, org_unit_id, kind`` index); the
org-unit tree (a few dozen rows) rolls each fact's unit up to its top-level unit — a ward's 生活支援課 counts
for the ward. Per-100,000 figures use the preset's populations and are compared with the reference values
(目安値) of the month's fiscal year (April–March).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from ..core.errors import NotFound, ValidationFailed
from ..core.session import TenantSession
from ..tenancy.models import OrgUnit, Tenant
from .models import ReportFact

#: figure → the fact kind it counts, in the order of the national form
FIGURES: dict[str, str] = {
    "new_consultations": "consultation_received",  # 新規相談受付件数
    "plans": "plan_made",  # プラン作成件数
    "work_support_targets": "work_support_target",  # 就労支援対象者数
    "employed": "got_work",  # 就労者数
    "income_increased": "income_rose",  # 増収者数
    "referred": "referred",  # 他制度・他機関へのつなぎ
    "advice_only": "advice_only",  # 相談・情報提供のみで終了
    "evaluated": "evaluated",  # 評価実施件数 (plan holders evaluated)
    "improved": "improved",  # うち状態像の改善が見られた件数
}
#: the figures with a reference value per 100,000 population per month
PER_100K = ("new_consultations", "plans", "work_support_targets")
#: FY2017 guidance (平成29年度の目安値), used when a preset gives none
DEFAULT_REFERENCE = {"fiscal_year": 2017, "new_consultations": 24, "plans": 12, "work_support_targets": 7}
MONTH_RE = re.compile(r"^((?:19|20)\d{2})-(0[1-9]|1[0-2])$")
UNASSIGNED = "_unassigned"


def parse_month(raw: str | None) -> str:
    if raw is None or not MONTH_RE.match(raw):
        raise ValidationFailed(
            "month は YYYY-MM で指定してください / month must be YYYY-MM",
            details={"month": ["YYYY-MM（例: 2026-04）で指定してください"]},
        )
    return raw


def fiscal_year(month: str) -> int:
    year, mon = int(month[:4]), int(month[5:7])
    return year if mon >= 4 else year - 1


def reference_for(settings: dict[str, Any], month: str) -> dict[str, Any]:
    """The reference values of the month's fiscal year: the newest preset row not after it (else the oldest)."""
    rows = sorted(
        (settings.get("reports") or {}).get("reference_values") or [DEFAULT_REFERENCE],
        key=lambda r: r["fiscal_year"],
    )
    fy = fiscal_year(month)
    chosen = rows[0]
    for row in rows:
        if row["fiscal_year"] <= fy:
            chosen = row
    return {"fiscal_year": chosen["fiscal_year"], **{k: chosen[k] for k in PER_100K}}


@dataclass
class Row:
    code: str
    name: str
    org_unit_id: uuid.UUID | None
    population: int | None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIGURES, 0))

    def as_json(self, reference: dict[str, Any]) -> dict[str, Any]:
        per = None
        if self.population:
            per = {k: round(self.counts[k] * 100_000 / self.population, 2) for k in PER_100K}
        return {
            "code": self.code,
            "name": self.name,
            "org_unit_id": str(self.org_unit_id) if self.org_unit_id else None,
            "population": self.population,
            "figures": dict(self.counts),
            "improvement_share": round(self.counts["improved"] / self.counts["evaluated"], 4)
            if self.counts["evaluated"]
            else None,
            "per_100k": per,
            "meets_reference": None if per is None else {k: per[k] >= reference[k] for k in PER_100K},
        }


@dataclass(frozen=True)
class Unit:
    id: uuid.UUID
    code: str
    name: str
    parent_id: uuid.UUID | None
    kind: str


def units(session: TenantSession) -> dict[uuid.UUID, Unit]:
    return {
        u.id: Unit(u.id, u.code, u.name, u.parent_id, u.kind)
        for u in session.execute(
            # the preset's order (a city's wards in their official order), as the sync created them
            select(OrgUnit.id, OrgUnit.code, OrgUnit.name, OrgUnit.parent_id, OrgUnit.kind).order_by(
                OrgUnit.created_at, OrgUnit.code
            )
        ).all()
    }


def top_unit(all_units: dict[uuid.UUID, Unit], unit_id: uuid.UUID | None) -> Unit | None:
    """The top-level unit above ``unit_id`` (a ward for its departments), or ``None``."""
    seen: set[uuid.UUID] = set()
    unit = all_units.get(unit_id) if unit_id else None
    while unit is not None and unit.parent_id is not None and unit.parent_id not in seen:
        seen.add(unit.id)
        parent = all_units.get(unit.parent_id)
        if parent is None:
            break
        unit = parent
    return unit


def reporting_units(all_units: dict[uuid.UUID, Unit]) -> list[Unit]:
    """The rows of the report: the wards when the tenant has wards, else its top-level units."""
    wards = [u for u in all_units.values() if u.kind == "ward" and u.parent_id is None]
    return wards or [u for u in all_units.values() if u.parent_id is None]


def resolve_unit(all_units: dict[uuid.UUID, Unit], raw: str) -> Unit:
    """``org_unit`` of the API: a top-level unit's code or id."""
    rows = reporting_units(all_units)
    for unit in rows:
        if raw in (unit.code, str(unit.id)):
            return unit
    raise NotFound(
        f"報告単位 {raw!r} はありません / no reporting unit {raw!r}",
        details={"org_unit": [", ".join(u.code for u in rows)]},
    )


def counts_by_unit(session: TenantSession, months: list[str]) -> dict[tuple[str, uuid.UUID | None, str], int]:
    """``{(month, org unit, kind): count}`` — one grouped query."""
    rows = session.execute(
        select(ReportFact.month, ReportFact.org_unit_id, ReportFact.kind, func.count())
        .where(ReportFact.month.in_(months))
        .group_by(ReportFact.month, ReportFact.org_unit_id, ReportFact.kind)
    ).all()
    return {(m, u, k): int(n) for m, u, k, n in rows}


def compute(
    session: TenantSession,
    tenant: Tenant,
    month: str,
    *,
    org_unit: str | None = None,
    all_units: dict[uuid.UUID, Unit] | None = None,
    counts: dict[tuple[str, uuid.UUID | None, str], int] | None = None,
) -> dict[str, Any]:
    """The live monthly report of ``month`` (JSON-ready)."""
    all_units = all_units if all_units is not None else units(session)
    counts = counts if counts is not None else counts_by_unit(session, [month])
    population = (tenant.settings.get("reports") or {}).get("population") or {}
    rows: dict[str, Row] = {
        u.code: Row(u.code, u.name, u.id, population.get(u.code)) for u in reporting_units(all_units)
    }
    kind_figure = {kind: name for name, kind in FIGURES.items()}
    for (m, unit_id, kind), n in counts.items():
        if m != month or kind not in kind_figure:
            continue
        top = top_unit(all_units, unit_id)
        code = top.code if top is not None else UNASSIGNED
        if code not in rows:
            rows[code] = Row(code, "所属なし" if top is None else top.name, top.id if top else None, None)
        rows[code].counts[kind_figure[kind]] += n
    chosen = list(rows.values())
    if org_unit is not None:
        unit = resolve_unit(all_units, org_unit)
        chosen = [rows[unit.code]]
    total = Row("total", "合計", None, tenant.population if org_unit is None else chosen[0].population)
    for row in chosen:
        for name in FIGURES:
            total.counts[name] += row.counts[name]
    reference = reference_for(tenant.settings or {}, month)
    return {
        "month": month,
        "fiscal_year": fiscal_year(month),
        "reference": reference,
        "rows": [row.as_json(reference) for row in chosen],
        "total": total.as_json(reference),
    }


def difference(live: dict[str, Any], frozen: dict[str, Any]) -> dict[str, Any]:
    """Per row and total: live − frozen for every figure (only rows with a change)."""

    def delta(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, int]:
        return {k: (a or {}).get(k, 0) - (b or {}).get(k, 0) for k in FIGURES}

    before = {r["code"]: r for r in frozen["rows"]}
    rows = []
    for row in live["rows"]:
        d = delta(row["figures"], before.get(row["code"], {}).get("figures"))
        if any(d.values()):
            rows.append({"code": row["code"], "name": row["name"], "figures": d})
    return {"rows": rows, "total": delta(live["total"]["figures"], frozen["total"]["figures"])}
