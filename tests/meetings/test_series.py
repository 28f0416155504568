"""Done when 1: series from the presets, their dates (holidays, year-end), generated and planned meetings."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from tests.factories import make_tenant
from tests.meetings.conftest import TODAY, synced
from tsunagu.core.session import transaction
from tsunagu.meetings import services as meetings
from tsunagu.meetings.models import Meeting, MeetingSeries
from tsunagu.meetings.recurrence import Rule, holiday_name, occurrences


def _series(runtime, tenant) -> dict[str, MeetingSeries]:
    with transaction(runtime.sessions, tenant.id) as session:
        rows = session.execute(select(MeetingSeries)).scalars().all()
        return {(s.key if not s.unit_code else f"{s.key}/{s.unit_code}"): s for s in rows}


def _days(runtime, tenant, start: date, end: date, key: str) -> list[tuple[date, str]]:
    with transaction(runtime.sessions, tenant.id) as session:
        items = meetings.calendar(session, start, end)
    return [(i.starts_at.date(), i.status) for i in items if i.series_key == key]


def _nth(day: date) -> int:
    return (day.day - 1) // 7 + 1  # the n-th weekday of its month


def test_iwamizawa_case_review_is_1st_2nd_4th_wednesday_and_network_only_3rd(runtime, presets):
    tenant = synced(runtime, "iwamizawa")
    start, end = date(2027, 1, 1), date(2027, 12, 31)
    review = [d for d, _ in _days(runtime, tenant, start, end, "case-review")]
    network = [d for d, _ in _days(runtime, tenant, start, end, "network")]
    assert len(network) == 12 and all(d.weekday() == 2 and _nth(d) == 3 for d in network)
    assert review[:3] == [date(2027, 1, 6), date(2027, 1, 13), date(2027, 1, 27)]
    assert len(review) == 36
    for day in review:
        assert (day.weekday() == 2 and _nth(day) in (1, 2, 4)) or (
            day.weekday() == 3 and holiday_name(day - timedelta(days=1)) is not None
        ), day


def test_a_wednesday_holiday_follows_the_tenants_policy(runtime, presets):
    tenant = synced(runtime, "iwamizawa")
    # 2027-05-05 こどもの日 is the 1st Wednesday of May; 2027-08-11 山の日 the 2nd of August
    assert holiday_name(date(2027, 5, 5)) == "こどもの日" and holiday_name(date(2027, 8, 11)) == "山の日"
    review = dict(_days(runtime, tenant, date(2027, 5, 1), date(2027, 8, 31), "case-review"))
    assert date(2027, 5, 5) not in review and date(2027, 5, 6) in review  # next_business_day: Thursday
    assert date(2027, 8, 11) not in review and date(2027, 8, 12) in review
    # a series whose policy is "skip" drops the date instead
    rule = Rule("FREQ=MONTHLY;BYDAY=1WE", date(2027, 1, 1), holiday_policy="skip")
    assert occurrences(rule, date(2027, 5, 1), date(2027, 5, 31)) == []
    moved = occurrences(
        Rule("FREQ=MONTHLY;BYDAY=1WE", date(2027, 1, 1), holiday_policy="next_business_day"),
        date(2027, 5, 1),
        date(2027, 5, 31),
    )
    assert [(o.rule_date, o.day, o.moved) for o in moved] == [(date(2027, 5, 5), date(2027, 5, 6), True)]


def test_year_end_closure_is_skipped_even_with_next_business_day():
    # every day of 12/25–1/8, Wednesdays: 2030-01-02 (a Wednesday in the closure)
    rule = Rule("FREQ=WEEKLY;BYDAY=WE", date(2029, 12, 1), holiday_policy="next_business_day")
    days = [o.day for o in occurrences(rule, date(2029, 12, 20), date(2030, 1, 10))]
    assert date(2030, 1, 2) not in days and date(2030, 1, 3) not in days and date(2030, 1, 4) not in days
    assert date(2029, 12, 26) in days and date(2030, 1, 9) in days
    open_rule = Rule("FREQ=WEEKLY;BYDAY=WE", date(2029, 12, 1), year_end_closure=False)
    assert date(2030, 1, 2) in [o.day for o in occurrences(open_rule, date(2029, 12, 20), date(2030, 1, 10))]


def test_meetings_are_generated_ahead_and_planned_beyond_the_horizon(runtime, presets):
    tenant = synced(runtime, "iwamizawa")
    with transaction(runtime.sessions, tenant.id) as session:
        stored = session.execute(select(Meeting.starts_at)).scalars().all()
        assert stored and max(stored).date() <= TODAY + timedelta(days=90)
        again = meetings.generate_ahead(session, today=TODAY)
        assert again == 0  # idempotent
        next_year = meetings.calendar(session, date(2027, 6, 1), date(2028, 3, 31))
    assert next_year and all(i.status == "planned" and i.meeting_id is None for i in next_year)
    assert {i.series_key for i in next_year} == {"case-review", "network"}
    with transaction(runtime.sessions, tenant.id) as session:
        first = meetings.calendar(session, date(2027, 1, 1), date(2027, 1, 31))
    assert [i.starts_at.day for i in first if i.series_key == "case-review"] == [6, 13, 27]
    assert all(i.meeting_id is not None and i.status == "scheduled" for i in first)
    assert first[0].starts_at.hour == 13 and first[0].starts_at.minute == 30


def test_yokohama_has_a_theme_series_per_ward_each_with_its_own_rhythm(runtime, presets):
    tenant = synced(runtime, "yokohama")
    series = _series(runtime, tenant)
    themes = {k: s for k, s in series.items() if k.startswith("ward-theme/")}
    adhoc = {k: s for k, s in series.items() if k.startswith("case-adhoc/")}
    assert len(themes) == 18 and len(adhoc) == 18
    assert len({(s.rrule, s.first_date) for s in themes.values()}) == 18
    assert themes["ward-theme/kohoku"].name == "テーマ別会議（区）（港北区）"
    with transaction(runtime.sessions, tenant.id) as session:
        year = meetings.calendar(session, date(2027, 1, 1), date(2027, 12, 31))
    per_ward: dict[str, int] = {}
    by_id = {s.id: k for k, s in themes.items()}
    for item in year:
        if item.series_id in by_id:
            per_ward[by_id[item.series_id]] = per_ward.get(by_id[item.series_id], 0) + 1
    assert len(per_ward) == 18 and all(2 <= n <= 6 for n in per_ward.values()), per_ward
    assert len(set(per_ward.values())) > 1  # the wards differ


def test_kunitachi_has_its_monthly_series_and_both_adhoc_kinds(runtime, presets):
    tenant = synced(runtime, "kunitachi")
    series = _series(runtime, tenant)
    assert set(series) == {"monthly-regular", "adhoc", "adhoc-internal"}
    monthly = series["monthly-regular"]
    assert monthly.mode == "recurring" and monthly.cases_per_meeting == 5
    assert "福祉部7課の係長" in monthly.core_roles and not any("課長" in r for r in monthly.core_roles)
    assert series["adhoc"].participants == "internal_and_external"
    # the ad hoc internal+external meeting: the monthly participants except the section chiefs
    assert set(series["adhoc"].core_roles) == set(monthly.core_roles) - {"福祉部7課の係長"}
    assert series["adhoc-internal"].participants == "internal_only"
    with transaction(runtime.sessions, tenant.id) as session:
        year = meetings.calendar(session, date(2027, 1, 1), date(2027, 12, 31))
    assert sum(1 for i in year if i.series_key == "monthly-regular") in (11, 12)  # a holiday may move one


def test_series_sync_is_idempotent_and_keeps_removed_series_inactive(runtime, presets):
    tenant = synced(runtime, "iwamizawa")
    with transaction(runtime.sessions, tenant.id) as session:
        before = {s.id for s in meetings.sync_series(session, today=TODAY)}
        assert len(before) == 2
        assert {s.id for s in meetings.sync_series(session, today=TODAY)} == before


def test_meeting_tables_do_not_leak_between_tenants(runtime, presets):
    iwamizawa = synced(runtime, "iwamizawa")
    other = make_tenant(runtime, "leak-check", settings={"meetings": {"style": "scheduled", "series": []}})
    with transaction(runtime.sessions, other.id) as session:
        assert session.execute(select(Meeting)).scalars().all() == []
        assert session.execute(select(MeetingSeries)).scalars().all() == []
        assert meetings.calendar(session, date(2027, 1, 1), date(2027, 3, 31)) == []
        a_meeting = None
    with transaction(runtime.sessions, iwamizawa.id) as session:
        a_meeting = session.execute(select(Meeting)).scalars().first()
        assert a_meeting is not None
    with transaction(runtime.sessions, other.id) as session:
        assert session.get(Meeting, (iwamizawa.id, a_meeting.id)) is None  # RLS hides the row itself
        assert session.get(Meeting, (other.id, a_meeting.id)) is None


def test_a_changed_preset_is_synced_into_the_series_on_next_use(runtime, presets):
    from tests.factories import owner_sessions
    from tsunagu.tenancy.models import Tenant

    tenant = synced(runtime, "iwamizawa")
    with transaction(owner_sessions(runtime), None, system=True) as session:
        row = session.get(Tenant, tenant.id)
        settings = dict(row.settings)
        meetings_cfg = dict(settings["meetings"])
        meetings_cfg["series"] = [dict(s) for s in meetings_cfg["series"]]
        meetings_cfg["series"][0]["cases_per_meeting"] = 4
        row.settings = {**settings, "meetings": meetings_cfg}
    with transaction(runtime.sessions, tenant.id) as session:
        meetings.ensure_series(session, today=TODAY)
        review = session.execute(select(MeetingSeries).where(MeetingSeries.key == "case-review")).scalar_one()
        assert review.cases_per_meeting == 4
