"""ReportFact (the statistics projection) and ReportClosing (a month closed by the tenant, frozen)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, TenantScoped, UTCDateTime, new_id, utcnow


class ReportFact(TenantScoped, Base):
    """統計の事実 — one thing the national monthly report (支援状況調査) counts, written on the advance path in
    the transaction of the step that produced it (``reports.facts``), never recomputed from workflow state.

    One row per (case, kind, plan cycle): a step re-submitted within the same cycle (a plan sent back by the
    meeting and drafted again) replaces its fact instead of counting twice. ``case_id`` is a plain reference,
    not a foreign key: the figures of a reported month must not change when a case is deleted later.
    """

    __tablename__ = "report_fact"
    __table_args__ = (
        UniqueConstraint("tenant_id", "case_id", "kind", "cycle"),
        # the monthly report: one month's facts of a tenant, grouped by unit and kind
        Index(None, "tenant_id", "month", "org_unit_id", "kind"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    case_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    #: the case's org unit when the fact happened (rolled up to its ward at read time)
    org_unit_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    #: how many plans the case had decided before this fact (0 until the first 支援決定・確認)
    cycle: Mapped[int] = mapped_column(Integer, default=0)
    #: ``YYYY-MM`` of ``occurred_on`` (JST): the report month
    month: Mapped[str] = mapped_column(String(7))
    occurred_on: Mapped[date] = mapped_column(Date)
    #: the form key of the step that produced it
    source: Mapped[str] = mapped_column(String(100), default="")
    task_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReportClosing(TenantScoped, Base):
    """月次締め — a month closed by the tenant: the figures as reported, frozen.

    Revision 1 is the first closing. Facts that arrive later for a closed month (a late correction) do not
    change it; closing the month again records revision 2 with the figures then and their difference.
    """

    __tablename__ = "report_closing"
    __table_args__ = (UniqueConstraint("tenant_id", "month", "revision"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    month: Mapped[str] = mapped_column(String(7))
    revision: Mapped[int] = mapped_column(Integer)
    #: the monthly report as it was closed (``figures.MonthlyReport.as_json``)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")
    closed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
