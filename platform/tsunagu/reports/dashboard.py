"""What the dashboards show: monthly trends, the funnel 相談 → プラン → 就労, the ward comparison, the 事後報告
ratio per meeting series, and open work and overdue tasks per consultant and per ward.

Every number comes from a projection table — ``report_fact``, ``human_task``, the meetings' agenda items —
in a handful of grouped queries; no workflow is loaded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select

from ..cases.services import HumanTask
from ..core.db import utcnow
from ..core.session import TenantSession
from ..identity.services import display_names
from ..meetings import services as meetings
from ..tenancy.models import Tenant
from . import figures


def months_back(month: str, count: int) -> list[str]:
    """``count`` months ending with ``month``, oldest first."""
    year, mon = int(month[:4]), int(month[5:7])
    out = []
    for _ in range(count):
        out.append(f"{year:04d}-{mon:02d}")
        mon -= 1
        if mon == 0:
            year, mon = year - 1, 12
    return out[::-1]


@dataclass(frozen=True)
class Table:
    """One chart's data, as its table view shows it: row labels down, column labels across."""

    key: str
    columns: list[str]
    rows: list[tuple[str, list[float | int | None]]]

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "columns": self.columns,
            "rows": [{"label": r, "values": v} for r, v in self.rows],
        }


TREND_FIGURES = (
    "new_consultations",
    "plans",
    "work_support_targets",
    "employed",
    "income_increased",
    "referred",
)


def build(session: TenantSession, tenant: Tenant, month: str, span: int = 12) -> dict[str, Table]:
    months = months_back(month, span)
    all_units = figures.units(session)
    counts = figures.counts_by_unit(session, months)
    reports = {m: figures.compute(session, tenant, m, all_units=all_units, counts=counts) for m in months}
    tables: dict[str, Table] = {}
    tables["trend"] = Table(
        "trend",
        list(TREND_FIGURES),
        [(m, [reports[m]["total"]["figures"][f] for f in TREND_FIGURES]) for m in months],
    )
    totals = {f: sum(reports[m]["total"]["figures"][f] for m in months) for f in figures.FIGURES}
    tables["funnel"] = Table(
        "funnel",
        ["count"],
        [(f, [totals[f]]) for f in ("new_consultations", "plans", "work_support_targets", "employed")],
    )
    current = reports[month]
    tables["wards"] = Table(
        "wards",
        ["new_consultations", "plans", "work_support_targets"],
        [
            (
                r["name"],
                [
                    (r["per_100k"] or {}).get(f)
                    for f in ("new_consultations", "plans", "work_support_targets")
                ],
            )
            for r in current["rows"]
        ],
    )
    tables["after_the_fact"] = _after_the_fact(session)
    tables["open_by_consultant"], tables["open_by_ward"] = _open_work(session, all_units)
    return tables


def _after_the_fact(session: TenantSession) -> Table:
    rows: list[tuple[str, list[float | int | None]]] = []
    series = session.execute(select(meetings.MeetingSeries).order_by(meetings.MeetingSeries.name)).scalars()
    for s in series:
        if not s.takes_cases or s.mode != "recurring":
            continue
        ratio = meetings.after_the_fact_ratio(session, s)
        rows.append(
            (
                s.name,
                [ratio.decided, ratio.after_the_fact, round(ratio.ratio * 100, 1), _pct(ratio.threshold)],
            )
        )
    return Table("after_the_fact", ["decided", "after_the_fact", "ratio_percent", "warn_percent"], rows)


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def _open_work(session: TenantSession, all_units: dict[uuid.UUID, figures.Unit]) -> tuple[Table, Table]:
    now = utcnow()
    overdue = func.sum(case((HumanTask.due_at < now, 1), else_=0))
    base = select(func.count(), overdue).where(HumanTask.state == "ready")
    by_assignee = session.execute(
        base.add_columns(HumanTask.assignee_id).group_by(HumanTask.assignee_id)
    ).all()
    names = display_names(session, {a for _, _, a in by_assignee if a is not None})
    consultant_rows: list[tuple[str, list[float | int | None]]] = sorted(
        ((names.get(a, str(a)) if a else "未割当", [int(n), int(o or 0)]) for n, o, a in by_assignee),
        key=lambda r: (r[0] == "未割当", r[0]),
    )
    by_unit = session.execute(base.add_columns(HumanTask.org_unit_id).group_by(HumanTask.org_unit_id)).all()
    wards: dict[str, list[int]] = {}
    for n, o, unit_id in by_unit:
        top = figures.top_unit(all_units, unit_id)
        label = top.name if top else "所属なし"
        acc = wards.setdefault(label, [0, 0])
        acc[0] += int(n)
        acc[1] += int(o or 0)
    order = [u.name for u in figures.reporting_units(all_units)]
    ward_rows: list[tuple[str, list[float | int | None]]] = [
        (label, list(wards[label])) for label in [*order, *sorted(set(wards) - set(order))] if label in wards
    ]
    return (
        Table("open_by_consultant", ["open", "overdue"], consultant_rows),
        Table("open_by_ward", ["open", "overdue"], ward_rows),
    )
