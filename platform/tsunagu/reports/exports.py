"""Exports in the layout staff enter into the national system: CSV (UTF-8 with BOM, what Japanese Excel
opens without garbling) and Excel (``openpyxl``): one sheet per month, a row per reporting unit (ward), a
totals row; a closed month shows its frozen figures, and a later correction gets a sheet with the difference.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from ..web.dates import wareki
from .figures import FIGURES, PER_100K

LABELS_JA = {
    "new_consultations": "新規相談受付件数",
    "plans": "プラン作成件数",
    "work_support_targets": "就労支援対象者数",
    "employed": "就労者数",
    "income_increased": "増収者数",
    "referred": "他制度・他機関へのつなぎ",
    "advice_only": "相談・情報提供のみで終了",
    "evaluated": "評価実施件数",
    "improved": "うち改善が見られた件数",
}
HEADERS = [
    "報告単位",
    "人口",
    *(LABELS_JA[k] for k in FIGURES),
    "改善が見られた割合",
    *(f"{LABELS_JA[k]}（人口10万人あたり）" for k in PER_100K),
]


def month_title(month: str) -> str:
    """``令和8年4月（2026年4月）``."""
    day = date(int(month[:4]), int(month[5:7]), 1)
    return f"{wareki(day, with_day=False)}{day.month}月（{day.year}年{day.month}月）"


def cell(value: Any) -> Any:
    """A text cell Excel would read as a formula (``=``, ``+``, ``-``, ``@``) is quoted with ``'``."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _line(row: dict[str, Any]) -> list[Any]:
    per = row.get("per_100k") or {}
    share = row.get("improvement_share")
    return [
        cell(row["name"]),
        row.get("population"),
        *(row["figures"][k] for k in FIGURES),
        None if share is None else round(share * 100, 1),
        *(per.get(k) for k in PER_100K),
    ]


def csv_bytes(reports: list[dict[str, Any]]) -> bytes:
    """One CSV for the months asked: a month column, then the national layout; UTF-8 with BOM."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["対象月", "締め", *HEADERS])
    for report in reports:
        status = f"締め済（第{report['revision']}版）" if report["status"] == "closed" else "未締め"
        for row in [*report["rows"], report["total"]]:
            writer.writerow([report["month"], status, *_line(row)])
    return out.getvalue().encode("utf-8-sig")


def xlsx_bytes(reports: list[dict[str, Any]], tenant_name: str) -> bytes:
    book = Workbook()
    book.remove(book.active)  # type: ignore[arg-type]
    bold = Font(bold=True)
    for report in reports:
        sheet = book.create_sheet(report["month"])
        status = f"締め済（第{report['revision']}版）" if report["status"] == "closed" else "未締め（速報値）"
        sheet.append(
            [f"{tenant_name} 自立相談支援事業 支援状況 {month_title(report['month'])}", None, status]
        )
        ref = report["reference"]
        sheet.append(
            [
                f"目安値（人口10万人あたり・月, {ref['fiscal_year']}年度）",
                None,
                *(f"{LABELS_JA[k]} {ref[k]}" for k in PER_100K),
            ]
        )
        sheet.append(HEADERS)
        for cell in sheet[3]:
            cell.font = bold
        for row in report["rows"]:
            sheet.append(_line(row))
        sheet.append(_line(report["total"]))
        for cell in sheet[sheet.max_row]:
            cell.font = bold
        sheet.column_dimensions["A"].width = 22
        sheet.freeze_panes = "B4"
        correction = report.get("correction")
        if correction:
            diff = book.create_sheet(f"{report['month']} 修正差分")
            diff.append(
                [f"締め後の修正（第{report['revision']}版との差）", None, "次の締めで新しい版になります"]
            )
            diff.append(["報告単位", *(LABELS_JA[k] for k in FIGURES)])
            for row in correction["difference"]["rows"]:
                diff.append([row["name"], *(row["figures"][k] for k in FIGURES)])
            diff.append(["合計", *(correction["difference"]["total"][k] for k in FIGURES)])
    if not book.worksheets:
        book.create_sheet("empty")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
