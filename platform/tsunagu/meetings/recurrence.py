"""Meeting dates from a series: RFC 5545 recurrence (``python-dateutil``), Japan's public holidays (the
``holidays`` library) and the year-end closure (年末年始 12/29–1/3).

Pure functions of the series' facts: the same code gives the dates generated ahead (stored as meetings) and the
dates beyond the horizon that the calendar shows as *planned*, so both always agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from dateutil.rrule import rrulestr

JST = ZoneInfo("Asia/Tokyo")
HOLIDAY_POLICIES = ("skip", "next_business_day", "previous_business_day")


@lru_cache(maxsize=64)
def _japan_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("JP", years=year, language="ja")


def holiday_name(day: date) -> str | None:
    """The public holiday's Japanese name (``元日``, ``振替休日``), or None."""
    name = _japan_holidays(day.year).get(day)
    return str(name) if name else None


def is_year_end_closure(day: date) -> bool:
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


def is_business_day(day: date, *, year_end_closure: bool = True) -> bool:
    if day.weekday() >= 5 or holiday_name(day) is not None:
        return False
    return not (year_end_closure and is_year_end_closure(day))


@dataclass(frozen=True)
class Rule:
    """What a series' dates depend on."""

    rrule: str
    first_date: date
    start_time: str = "10:00"
    duration_minutes: int = 60
    holiday_policy: str = "skip"
    year_end_closure: bool = True


@dataclass(frozen=True)
class Occurrence:
    """One date: ``rule_date`` as the rule gave it, ``day`` where it is held (moved for a holiday)."""

    rule_date: date
    day: date
    starts_at: datetime  # aware, JST
    ends_at: datetime

    @property
    def moved(self) -> bool:
        return self.day != self.rule_date


def _shift(day: date, step: int, year_end_closure: bool) -> date | None:
    for _ in range(14):
        day += timedelta(days=step)
        if is_business_day(day, year_end_closure=year_end_closure):
            return day
    return None


def _held_on(rule: Rule, day: date) -> date | None:
    """Where the meeting of rule date ``day`` is held, or None when it is skipped.

    The year-end closure always skips (nobody moves a meeting into the holidays' neighbourhood); a public
    holiday follows the series' policy.
    """
    if rule.year_end_closure and is_year_end_closure(day):
        return None
    if holiday_name(day) is None:
        return day
    if rule.holiday_policy == "next_business_day":
        return _shift(day, 1, rule.year_end_closure)
    if rule.holiday_policy == "previous_business_day":
        return _shift(day, -1, rule.year_end_closure)
    return None


def _at(day: date, rule: Rule) -> tuple[datetime, datetime]:
    hour, minute = (int(x) for x in rule.start_time.split(":"))
    start = datetime.combine(day, time(hour, minute), tzinfo=JST)
    return start, start + timedelta(minutes=rule.duration_minutes)


def rule_dates(rule: Rule, start: date, end: date) -> Iterator[date]:
    """The rule's own dates in ``[start, end]`` (before holidays), never before the series' first date."""
    if not rule.rrule:
        return
    begin = max(start, rule.first_date)
    if end < begin:
        return
    recurrence = rrulestr(rule.rrule, dtstart=datetime.combine(rule.first_date, time()))
    for moment in recurrence.between(
        datetime.combine(begin, time()), datetime.combine(end, time()), inc=True
    ):
        yield moment.date()


def occurrences(rule: Rule, start: date, end: date) -> list[Occurrence]:
    """The meetings of ``rule`` whose rule date falls in ``[start, end]``, with holidays and the closure applied.

    Two rule dates moved onto the same day are held once.
    """
    result: list[Occurrence] = []
    seen: set[date] = set()
    # a meeting moved back (previous business day) may come from a rule date just after ``end``
    for rule_date in rule_dates(rule, start, end):
        day = _held_on(rule, rule_date)
        if day is None or day in seen:
            continue
        seen.add(day)
        starts, ends = _at(day, rule)
        result.append(Occurrence(rule_date, day, starts, ends))
    return result
