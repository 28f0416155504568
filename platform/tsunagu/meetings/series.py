"""Series from the tenant's preset, meetings generated ahead, and the calendar for any range.

``sync_series`` makes one :class:`MeetingSeries` per preset entry and org unit (``per_org_unit = "ward"``: one
per ward, with the ward's own ``by_org_unit`` rhythm). ``generate_ahead`` stores the meetings of the next
``horizon_days`` (default 90) so agendas, invitations and moves have rows to hang on; ``calendar`` answers for
any range, adding the dates beyond what is stored as *planned* (computed by the same ``recurrence`` code).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ..core.db import utcnow
from ..core.session import TenantSession
from ..tenancy.models import OrgUnit, Tenant
from .models import Meeting, MeetingSeries, MeetingStatus, SeriesMode
from .recurrence import JST, Occurrence, Rule, occurrences

DEFAULT_HORIZON_DAYS = 90
#: the longest range one calendar request may cover (a year and a bit: "plan next year")
MAX_RANGE_DAYS = 400


def _minutes(duration: str) -> int:
    from ..tenancy.preset_checks import duration_minutes, parse_duration

    return max(1, int(duration_minutes(parse_duration(duration))))


def tenant_row(session: TenantSession) -> Tenant:
    tenant = session.get(Tenant, session.require_tenant_id())
    if tenant is None:  # pragma: no cover - the request resolved it
        raise LookupError("tenant not bound")
    return tenant


def _year_end_closure(settings: dict[str, Any]) -> bool:
    return bool((settings.get("notifications") or {}).get("year_end_closure", True))


def sync_series(session: TenantSession, today: date | None = None) -> list[MeetingSeries]:
    """Create or update the tenant's series from its preset (idempotent). Series no longer in the preset are
    deactivated, never deleted (their meetings and decisions stay)."""
    tenant = tenant_row(session)
    settings = tenant.settings or {}
    meetings_cfg = settings.get("meetings") or {}
    units = list(session.execute(select(OrgUnit).where(OrgUnit.active.is_(True))).scalars())
    existing = {(s.key, s.unit_code): s for s in session.execute(select(MeetingSeries)).scalars()}
    start_default = today or utcnow().astimezone(JST).date()
    closure = _year_end_closure(settings)
    seen: set[tuple[str, str]] = set()
    for mode, entries in (
        (SeriesMode.RECURRING, meetings_cfg.get("series", [])),
        (SeriesMode.ADHOC, meetings_cfg.get("adhoc", [])),
    ):
        for entry in entries:
            targets: list[OrgUnit | None]
            if entry.get("per_org_unit"):
                targets = [u for u in units if u.kind == entry["per_org_unit"]]
            else:
                targets = [None]
            overrides = {o["org_unit"]: o for o in entry.get("by_org_unit", [])}
            for unit in targets:
                code = unit.code if unit else ""
                own = overrides.get(code, {})
                values: dict[str, Any] = {
                    "mode": mode.value,
                    "org_unit_id": unit.id if unit else None,
                    "name": f"{entry['name']}（{unit.name}）" if unit else entry["name"],
                    "kind": entry["kind"],
                    "rrule": own.get("rrule", entry.get("rrule", "")),
                    "first_date": date.fromisoformat(own.get("first_date", entry.get("first_date", "")))
                    if own.get("first_date") or entry.get("first_date")
                    else start_default,
                    "start_time": own.get("start", entry.get("start", "10:00")),
                    "duration_minutes": _minutes(entry["duration"]) if entry.get("duration") else 60,
                    "venue": entry.get("venue", ""),
                    "cases_per_meeting": entry.get("cases_per_meeting"),
                    "minutes_per_case": entry.get("minutes_per_case"),
                    "core_roles": list(entry.get("core_roles", [])),
                    "core_members": list(entry.get("core_members", [])),
                    "guest_roles": list(entry.get("guest_roles", [])),
                    "holiday_policy": entry.get("holiday_policy", "skip"),
                    "year_end_closure": closure,
                    "horizon_days": entry.get("horizon_days", DEFAULT_HORIZON_DAYS),
                    "evaluation_in_meeting": bool(entry.get("evaluation_in_meeting", False)),
                    "person_attends": bool(entry.get("person_attends", False)),
                    "participants": entry.get("participants", ""),
                    "active": True,
                }
                series = existing.get((entry["key"], code))
                if series is None:
                    series = MeetingSeries(tenant_id=tenant.id, key=entry["key"], unit_code=code, **values)
                    session.add(series)
                    existing[(entry["key"], code)] = series
                else:
                    for name, value in values.items():
                        if getattr(series, name) != value:
                            setattr(series, name, value)
                seen.add((entry["key"], code))
    for key, series in existing.items():
        if key not in seen and series.active:
            series.active = False
    session.flush()
    return [s for k, s in existing.items() if k in seen]


def ensure_series(session: TenantSession, today: date | None = None) -> None:
    """Sync the series from the preset when the tenant has none yet or its settings changed since (a
    ``tenants sync``), and generate meetings ahead."""
    from sqlalchemy import func

    latest = session.execute(select(func.max(MeetingSeries.updated_at))).scalar_one_or_none()
    tenant = tenant_row(session)
    if latest is None or (tenant.updated_at is not None and tenant.updated_at > latest):
        synced = sync_series(session, today=today)
        stamp = utcnow()
        for series in synced:
            series.updated_at = stamp  # synced as of now: no second sync until the preset changes again
        session.flush()
    generate_ahead(session, today=today)


def rule_of(series: MeetingSeries) -> Rule:
    return Rule(
        rrule=series.rrule,
        first_date=series.first_date,
        start_time=series.start_time,
        duration_minutes=series.duration_minutes,
        holiday_policy=series.holiday_policy,
        year_end_closure=series.year_end_closure,
    )


def generate_ahead(session: TenantSession, today: date | None = None) -> int:
    """Store every active recurring series' meetings from ``today`` to its horizon; returns how many were made.

    Idempotent (``(series, occurrence_date)`` is unique): a moved or cancelled meeting keeps its row."""
    today = today or utcnow().astimezone(JST).date()
    made = 0
    series_list = session.execute(
        select(MeetingSeries).where(
            MeetingSeries.active.is_(True), MeetingSeries.mode == SeriesMode.RECURRING
        )
    ).scalars()
    for series in list(series_list):
        made += generate_until(session, series, today + timedelta(days=series.horizon_days), today=today)
    return made


def generate_until(
    session: TenantSession, series: MeetingSeries, until: date, today: date | None = None
) -> int:
    """Store the series' meetings up to ``until`` (from ``today``, or after what is stored already)."""
    today = today or utcnow().astimezone(JST).date()
    start = today if series.generated_until is None else max(today, series.generated_until + timedelta(1))
    if start > until:
        return 0
    have = set(
        session.execute(
            select(Meeting.occurrence_date).where(
                Meeting.series_id == series.id, Meeting.occurrence_date >= start
            )
        ).scalars()
    )
    made = 0
    for occ in occurrences(rule_of(series), start, until):
        if occ.rule_date in have:
            continue
        session.add(_meeting_for(series, occ))
        made += 1
    series.generated_until = until
    session.flush()
    return made


def _meeting_for(series: MeetingSeries, occ: Occurrence) -> Meeting:
    return Meeting(
        tenant_id=series.tenant_id,
        series_id=series.id,
        org_unit_id=series.org_unit_id,
        occurrence_date=occ.rule_date,
        starts_at=occ.starts_at,
        ends_at=occ.ends_at,
        title=series.name,
        venue=series.venue,
        status=MeetingStatus.SCHEDULED,
        moved_for_holiday=occ.moved,
    )


@dataclass(frozen=True)
class CalendarItem:
    """A calendar entry: a stored meeting (``meeting_id``) or a planned date beyond the horizon (None)."""

    meeting_id: uuid.UUID | None
    series_id: uuid.UUID
    series_key: str
    title: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    venue: str
    status: str  # scheduled | cancelled | held | planned
    adhoc: bool
    org_unit_id: uuid.UUID | None
    moved_for_holiday: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "id": str(self.meeting_id) if self.meeting_id else None,
            "series_id": str(self.series_id),
            "series_key": self.series_key,
            "title": self.title,
            "kind": self.kind,
            "starts_at": self.starts_at.isoformat(),
            "ends_at": self.ends_at.isoformat(),
            "venue": self.venue,
            "status": self.status,
            "planned": self.status == "planned",
            "adhoc": self.adhoc,
            "org_unit_id": str(self.org_unit_id) if self.org_unit_id else None,
            "moved_for_holiday": self.moved_for_holiday,
        }


def calendar(
    session: TenantSession,
    start: date,
    end: date,
    org_unit_ids: set[uuid.UUID] | None = None,
) -> list[CalendarItem]:
    """Every meeting in ``[start, end]`` (JST days): stored ones, and beyond each series' stored horizon the
    dates its rule gives, as ``planned``. ``org_unit_ids``: only these units' meetings (and tenant-wide ones)."""
    if end < start:
        raise ValueError("the range ends before it starts")
    if (end - start).days > MAX_RANGE_DAYS:
        raise ValueError(f"a calendar range is at most {MAX_RANGE_DAYS} days")
    lo = datetime.combine(start, datetime.min.time(), tzinfo=JST)
    hi = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=JST)
    series_by_id = {s.id: s for s in session.execute(select(MeetingSeries)).scalars()}

    def wanted(unit: uuid.UUID | None) -> bool:
        return org_unit_ids is None or unit is None or unit in org_unit_ids

    items: list[CalendarItem] = []
    stored = session.execute(
        select(Meeting).where(Meeting.starts_at >= lo, Meeting.starts_at < hi).order_by(Meeting.starts_at)
    ).scalars()
    for m in stored:
        series = series_by_id[m.series_id]
        if wanted(m.org_unit_id):
            items.append(
                CalendarItem(
                    m.id,
                    series.id,
                    series.key,
                    m.title,
                    series.kind,
                    m.starts_at.astimezone(JST),
                    m.ends_at.astimezone(JST),
                    m.venue,
                    m.status,
                    m.adhoc,
                    m.org_unit_id,
                    m.moved_for_holiday,
                )
            )
    for series in series_by_id.values():
        if not series.active or series.mode != SeriesMode.RECURRING or not wanted(series.org_unit_id):
            continue
        # stored up to generated_until; computed after it
        begin = start if series.generated_until is None else max(start, series.generated_until + timedelta(1))
        for occ in occurrences(rule_of(series), begin, end):
            items.append(
                CalendarItem(
                    None,
                    series.id,
                    series.key,
                    series.name,
                    series.kind,
                    occ.starts_at,
                    occ.ends_at,
                    series.venue,
                    "planned",
                    False,
                    series.org_unit_id,
                    occ.moved,
                )
            )
    items.sort(key=lambda i: (i.starts_at, i.title))
    return items
