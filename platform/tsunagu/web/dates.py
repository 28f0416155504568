"""Dates as Japanese users read them: 西暦 (ISO) and 和暦 (令和8年11月28日), in Japan time.

Era boundaries are the first day of each era (the day after the previous emperor's last day):
大正 1912-07-30, 昭和 1926-12-25, 平成 1989-01-08, 令和 2019-05-01. The first year of an era is written
元年 (令和元年5月1日), as on official documents. Dates before 明治6年 (1873-01-01, when Japan adopted the
Gregorian calendar) have no reliable 和暦 form here and are shown in 西暦 only.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

JST = timezone(timedelta(hours=9), "JST")

#: (first day, kanji name, romanised name, one-letter abbreviation), newest first
ERAS: tuple[tuple[date, str, str, str], ...] = (
    (date(2019, 5, 1), "令和", "Reiwa", "R"),
    (date(1989, 1, 8), "平成", "Heisei", "H"),
    (date(1926, 12, 25), "昭和", "Showa", "S"),
    (date(1912, 7, 30), "大正", "Taisho", "T"),
    (date(1868, 10, 23), "明治", "Meiji", "M"),
)
_GREGORIAN_FROM = date(1873, 1, 1)


def to_local_date(value: date | datetime | str | None) -> date | None:
    """A date in Japan time: datetimes are converted to JST (naive ones are taken as UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(JST).date()
    return value


def to_local_datetime(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(JST)


def era_of(day: date) -> tuple[str, str, str, int] | None:
    """``(kanji, romanised, letter, year of era)`` for ``day``, or ``None`` before 1873."""
    if day < _GREGORIAN_FROM:
        return None
    for start, kanji, roman, letter in ERAS:
        if day >= start:
            return kanji, roman, letter, day.year - start.year + 1
    return None  # pragma: no cover - guarded by _GREGORIAN_FROM


def wareki(value: date | datetime | str | None, *, with_day: bool = True) -> str:
    """``date(2026, 11, 28)`` → ``令和8年11月28日``; ``with_day=False`` → ``令和8年``. Empty for ``None``."""
    day = to_local_date(value)
    if day is None:
        return ""
    era = era_of(day)
    if era is None:
        return f"{day.year}年{day.month}月{day.day}日" if with_day else f"{day.year}年"
    kanji, _roman, _letter, year = era
    year_text = "元" if year == 1 else str(year)
    if not with_day:
        return f"{kanji}{year_text}年"
    return f"{kanji}{year_text}年{day.month}月{day.day}日"


def wareki_en(value: date | datetime | str | None) -> str:
    """``date(2026, 11, 28)`` → ``Reiwa 8``: the era year for English readers."""
    day = to_local_date(value)
    era = era_of(day) if day else None
    if era is None:
        return ""
    return f"{era[1]} {era[3]}"


def iso_date(value: date | datetime | str | None) -> str:
    day = to_local_date(value)
    return day.isoformat() if day else ""


_MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def english_date(value: date | datetime | str | None) -> str:
    """``date(2026, 12, 3)`` → ``3 Dec 2026`` (day, month and year: no reader mistakes the order)."""
    day = to_local_date(value)
    if day is None:
        return ""
    return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"


def dual_date(value: date | datetime | str | None, lang: str = "ja") -> str:
    """Both calendars: ``2026-11-28（令和8年11月28日）`` in Japanese, ``28 Nov 2026 (Reiwa 8)`` in English."""
    day = to_local_date(value)
    if day is None:
        return ""
    if lang == "en":
        era = wareki_en(day)
        return f"{english_date(day)} ({era})" if era else english_date(day)
    jp = wareki(day)
    return f"{day.isoformat()}（{jp}）"


_ERA_BY_NAME = {
    name: start for start, kanji, roman, letter in ERAS for name in (kanji, roman.lower(), letter.lower())
}
_WAREKI = re.compile(
    r"^(?P<era>明治|大正|昭和|平成|令和|meiji|taisho|showa|heisei|reiwa|[mtshr])\s*"
    r"(?P<year>元|\d{1,2})\s*(?:年|[./\-\s])\s*(?P<month>\d{1,2})\s*(?:月|[./\-\s])\s*"
    r"(?P<day>\d{1,2})\s*日?$"
)
_SEIREKI = re.compile(
    r"^(?P<year>\d{4})\s*(?:年|[./\-])\s*(?P<month>\d{1,2})\s*(?:月|[./\-])\s*(?P<day>\d{1,2})\s*日?$"
)


def parse_date(text: str | None) -> date | None:
    """A date typed as people in Japan write it, or ``None`` when it is not one.

    ``1980-04-01``, ``1980/4/1``, ``1980年4月1日``, ``昭和55年4月1日``, ``S55.4.1``, ``s55/4/1``, ``令和元年5月1日``,
    ``R1.5.1``; full-width digits are accepted (NFKC). An era date outside its era (``昭和65年``, ``平成1.1.7``)
    is refused rather than guessed.
    """
    if not text:
        return None
    value = unicodedata.normalize("NFKC", str(text)).strip().lower()
    match = _SEIREKI.match(value)
    if match:
        try:
            return date(int(match["year"]), int(match["month"]), int(match["day"]))
        except ValueError:
            return None
    match = _WAREKI.match(value)
    if not match:
        return None
    start = _ERA_BY_NAME[match["era"]]
    year_of_era = 1 if match["year"] == "元" else int(match["year"])
    if year_of_era < 1:
        return None
    try:
        day = date(start.year + year_of_era - 1, int(match["month"]), int(match["day"]))
    except ValueError:
        return None
    era = era_of(day)
    if era is None or _ERA_BY_NAME[era[0]] != start:  # before the era began, or after it ended
        return None
    return day


def local_time(value: datetime | None) -> str:
    """``HH:MM`` in Japan time."""
    local = to_local_datetime(value)
    return local.strftime("%H:%M") if local else ""


def local_datetime(value: datetime | None) -> str:
    """``YYYY-MM-DD HH:MM`` in Japan time (naive values are taken as UTC): the moment as staff read it."""
    local = to_local_datetime(value)
    return local.strftime("%Y-%m-%d %H:%M") if local else ""


def is_past(value: datetime | None) -> bool:
    """Whether a timestamp has passed (a naive value is taken as UTC)."""
    if value is None:
        return False
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware < datetime.now(UTC)


def register_filters(env: Any) -> None:
    """Jinja filters: ``wareki``, ``wareki_en``, ``iso_date``, ``dual_date``, ``local_time``, ``is_past``."""
    env.filters["wareki"] = wareki
    env.filters["wareki_en"] = wareki_en
    env.filters["iso_date"] = iso_date
    env.filters["dual_date"] = dual_date
    env.filters["english_date"] = english_date
    env.filters["local_time"] = local_time
    env.filters["local_datetime"] = local_datetime
    env.filters["is_past"] = is_past
