"""A tenant's notification settings (``[notifications]`` in its preset) and its business days.

Business days are Monday to Friday except Japan's public holidays (the ``holidays`` library, which follows
the 国民の祝日に関する法律 including substitute and citizens' holidays) and, when the tenant says so
(``year_end_closure``), the municipal year-end closure 12/29–1/3 (年末年始の休日).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import holidays

JST = ZoneInfo("Asia/Tokyo")
DEFAULT_DIGEST_TIME = time(8, 30)
LANGUAGES = ("ja", "en")


@dataclass(frozen=True)
class TenantNotificationSettings:
    digest_time: time = DEFAULT_DIGEST_TIME
    #: escalate a task this many days after its due date (``None``: never)
    escalate_after_days: int | None = None
    escalate_to_role: str = "tenant_admin"
    year_end_closure: bool = True
    #: the display name of the sender (the address is ``TSUNAGU_SMTP_FROM``); default: the tenant's name
    from_name: str | None = None
    reply_to: str | None = None
    #: mail language for users who chose none
    default_language: str = "ja"


def tenant_settings(settings: dict[str, Any] | None) -> TenantNotificationSettings:
    """From ``Tenant.settings``; the preset schema validated the section, so this only converts."""
    section = (settings or {}).get("notifications") or {}
    hours, _, minutes = str(section.get("digest_time", "08:30")).partition(":")
    return TenantNotificationSettings(
        digest_time=time(int(hours), int(minutes or 0)),
        escalate_after_days=section.get("escalate_after_days"),
        escalate_to_role=section.get("escalate_to_role", "tenant_admin"),
        year_end_closure=bool(section.get("year_end_closure", True)),
        from_name=section.get("from_name"),
        reply_to=section.get("reply_to"),
        default_language=section.get("default_language", "ja"),
    )


@lru_cache(maxsize=64)
def _japan_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("JP", years=year)


def is_year_end_closure(day: date) -> bool:
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


def is_business_day(day: date, *, year_end_closure: bool = True) -> bool:
    if day.weekday() >= 5 or day in _japan_holidays(day.year):
        return False
    return not (year_end_closure and is_year_end_closure(day))


def digest_due(now: datetime, config: TenantNotificationSettings) -> date | None:
    """The local date whose digest is due at ``now`` (a business day, at or after the digest time), or None."""
    local = now.astimezone(JST)
    if not is_business_day(local.date(), year_end_closure=config.year_end_closure):
        return None
    if local.time() < config.digest_time:
        return None
    return local.date()
