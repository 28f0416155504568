"""Reports: the national monthly figures, month closing, exports, dashboards, platform-wide aggregates.

Other modules and the views use these. ``cases`` does not import this module: ``init_app`` registers
:func:`facts.project` as a listener of completed steps on the advance path.
"""

from __future__ import annotations

from .closing import close_month, closings, monthly_report
from .dashboard import build as dashboard_tables
from .dashboard import months_back
from .exports import csv_bytes, month_title, xlsx_bytes
from .facts import KINDS, declaration, project, record_fact, today_jst
from .figures import FIGURES, PER_100K, fiscal_year, parse_month, reference_for
from .platform import platform_aggregates

__all__ = [
    "FIGURES",
    "KINDS",
    "PER_100K",
    "close_month",
    "closings",
    "csv_bytes",
    "dashboard_tables",
    "declaration",
    "fiscal_year",
    "month_title",
    "monthly_report",
    "months_back",
    "parse_month",
    "platform_aggregates",
    "project",
    "record_fact",
    "reference_for",
    "today_jst",
    "xlsx_bytes",
]
