"""事例番号 — the case number staff say on the phone: the fiscal year in 和暦 and a sequence, ``R8-00012``.

Japanese municipalities count in fiscal years (年度, April to March) and name them by era (令和8年度), so
"令和8年度の12番" is what a consultant reads out; ``R8-00012`` is how it is written. The sequence is per
tenant and fiscal year and restarts each April.

Numbers come from one counter row per (tenant, fiscal year), bumped with a single ``INSERT … ON CONFLICT DO
UPDATE … RETURNING`` (PostgreSQL and SQLite alike): concurrent starts queue on that row for the rest of their
transaction and never get the same number; a start that rolls back gives its number back. The unique
constraint ``(tenant_id, number)`` on ``support_case`` is the last line. Gaps are tolerated (a number is never
reused for another case, a deleted case leaves its gap) — nothing relies on the numbers being dense.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from ..core.db import utcnow
from ..core.session import TenantSession
from .models import CaseNumberCounter

_JST = timezone(timedelta(hours=9))
REIWA_FIRST_YEAR = 2019  # 令和元年度 = fiscal year 2019
#: what a typed case number may look like (``R8-12``, ``r8-00012``, ``Ｒ８－００１２`` after normalising)
NUMBER_PATTERN = re.compile(r"^R(\d{1,3})-(\d{1,7})$")


def fiscal_year(day: date) -> int:
    """年度: April to March, named by the calendar year it starts in."""
    return day.year if day.month >= 4 else day.year - 1


def format_number(year: int, sequence: int) -> str:
    """``(2026, 12)`` → ``R8-00012`` (令和8年度の12番)."""
    return f"R{year - REIWA_FIRST_YEAR + 1}-{sequence:05d}"


def normalise_query(text: str) -> str | None:
    """A typed case number in the canonical form, or ``None`` when it is not one: full-width characters,
    lower case, missing zeros (``r8-12`` → ``R8-00012``)."""
    import unicodedata

    raw = unicodedata.normalize("NFKC", text).strip().upper().replace("ー", "-").replace("−", "-")
    match = NUMBER_PATTERN.match(raw)
    if match is None:
        return None
    return f"R{int(match.group(1))}-{int(match.group(2)):05d}"


def next_number(session: TenantSession, now: datetime | None = None) -> str:
    """Take the next 事例番号 of the tenant's current fiscal year (Japan time)."""
    tenant_id = session.require_tenant_id()
    year = fiscal_year((now or utcnow()).astimezone(_JST).date())
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table: Any = CaseNumberCounter.__table__
    stmt = (
        insert(table)
        .values(tenant_id=tenant_id, fiscal_year=year, last_value=1)
        .on_conflict_do_update(
            index_elements=[table.c.tenant_id, table.c.fiscal_year],
            set_={"last_value": table.c.last_value + 1},
        )
        .returning(table.c.last_value)
    )
    sequence = int(session.execute(stmt).scalar_one())
    return format_number(year, sequence)
