"""Closing a month (月次締め): the figures as reported are frozen; later corrections become a revision.

A closed month's report shows the frozen figures. Facts that arrive later for it (a late correction: an intake
entered after the closing with a reception date in that month) show as a pending difference; closing the
month again records the next revision, with its difference to the previous one.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from ..core.errors import Conflict
from ..core.session import TenantSession
from ..tenancy.models import Tenant
from . import figures
from .models import ReportClosing


def closings(session: TenantSession, month: str) -> list[ReportClosing]:
    return list(
        session.execute(
            select(ReportClosing).where(ReportClosing.month == month).order_by(ReportClosing.revision)
        ).scalars()
    )


def monthly_report(
    session: TenantSession, tenant: Tenant, month: str, org_unit: str | None = None
) -> dict[str, Any]:
    """The report of ``month``: live when open; frozen when closed, with any later correction and its
    difference, and the revisions so far."""
    live = figures.compute(session, tenant, month, org_unit=org_unit)
    history = closings(session, month)
    if not history:
        return {
            **live,
            "status": "open",
            "revision": None,
            "closed_at": None,
            "revisions": [],
            "correction": None,
        }
    last = history[-1]
    frozen = last.figures
    if org_unit is not None:
        frozen = _only(frozen, live["rows"][0]["code"])
    diff = figures.difference(live, frozen)
    changed = bool(diff["rows"]) or any(diff["total"].values())
    return {
        **frozen,
        "status": "closed",
        "revision": last.revision,
        "closed_at": last.closed_at.isoformat(),
        "revisions": [_revision_json(c, history[i - 1] if i else None) for i, c in enumerate(history)],
        "correction": {"live": live, "difference": diff} if changed else None,
    }


def _only(report: dict[str, Any], code: str) -> dict[str, Any]:
    rows = [r for r in report["rows"] if r["code"] == code]
    total = rows[0] if rows else {**report["total"], "figures": dict.fromkeys(figures.FIGURES, 0)}
    return {**report, "rows": rows, "total": {**total, "code": "total", "name": "合計"}}


def _revision_json(closing: ReportClosing, previous: ReportClosing | None) -> dict[str, Any]:
    return {
        "revision": closing.revision,
        "closed_at": closing.closed_at.isoformat(),
        "note": closing.note,
        "difference": figures.difference(closing.figures, previous.figures) if previous else None,
    }


def close_month(
    session: TenantSession, tenant: Tenant, month: str, actor_id: uuid.UUID | None, note: str = ""
) -> ReportClosing:
    """Freeze ``month``'s figures as the next revision; 409 when nothing changed since the last one."""
    live = figures.compute(session, tenant, month)
    history = closings(session, month)
    if history:
        diff = figures.difference(live, history[-1].figures)
        if not diff["rows"] and not any(diff["total"].values()):
            raise Conflict(
                "この月は締め済みで、その後の修正はありません / the month is closed and nothing changed since",
                code="already_closed",
            )
    closing = ReportClosing(
        tenant_id=session.require_tenant_id(),
        month=month,
        revision=len(history) + 1,
        figures=live,
        note=note,
        closed_by=actor_id,
    )
    session.add(closing)
    session.flush()
    return closing
