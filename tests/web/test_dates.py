"""和暦 and 西暦: era boundaries, 元年, Japan time for timestamps."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from tsunagu.web.dates import (
    dual_date,
    english_date,
    era_of,
    iso_date,
    local_datetime,
    local_time,
    parse_date,
    wareki,
    wareki_en,
)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 28), "令和8年11月28日"),
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1926, 12, 25), "昭和元年12月25日"),
        (date(1926, 12, 24), "大正15年12月24日"),
        (date(1980, 4, 1), "昭和55年4月1日"),
        (date(2000, 1, 1), "平成12年1月1日"),
        (date(1912, 7, 30), "大正元年7月30日"),
        (date(1912, 7, 29), "明治45年7月29日"),
    ],
)
def test_wareki_uses_the_right_era_on_each_side_of_a_boundary(day, expected):
    assert wareki(day) == expected


def test_wareki_year_only_and_english_era():
    assert wareki(date(2026, 11, 28), with_day=False) == "令和8年"
    assert wareki_en(date(2026, 11, 28)) == "Reiwa 8"
    assert wareki_en(date(1989, 1, 7)) == "Showa 64"
    assert era_of(date(2019, 5, 1)) == ("令和", "Reiwa", "R", 1)


def test_timestamps_are_read_in_japan_time():
    # 2019-04-30 15:00 UTC is already 2019-05-01 00:00 in Japan: the first day of 令和.
    moment = datetime(2019, 4, 30, 15, 0, tzinfo=UTC)
    assert wareki(moment) == "令和元年5月1日"
    assert iso_date(moment) == "2019-05-01"
    assert local_time(moment) == "00:00"
    assert wareki(datetime(2019, 4, 30, 14, 59)) == "平成31年4月30日"  # naive = UTC


def test_dual_date_in_both_languages_and_empty_values():
    assert dual_date(date(2026, 11, 28)) == "2026-11-28（令和8年11月28日）"
    assert dual_date(date(2026, 11, 28), "en") == "28 Nov 2026 (Reiwa 8)"
    assert dual_date(date(2026, 12, 3), "en") == "3 Dec 2026 (Reiwa 8)"  # day and month, not ISO
    assert dual_date("2026-11-28") == "2026-11-28（令和8年11月28日）"
    for empty in (None, "", "not a date"):
        assert wareki(empty) == "" and dual_date(empty) == ""
    assert wareki(date(1850, 1, 1)) == "1850年1月1日"  # before the Gregorian calendar in Japan: 西暦 only


def test_the_wareki_filter_is_available_in_templates(app):
    with app.test_request_context("/"):
        rendered = app.jinja_env.from_string("{{ d|wareki }} / {{ d|dual_date('en') }}").render(
            d=date(2026, 11, 28)
        )
    assert rendered == "令和8年11月28日 / 28 Nov 2026 (Reiwa 8)"


def test_is_past_accepts_the_naive_timestamps_sqlite_returns():
    from tsunagu.web.dates import is_past

    assert is_past(datetime(2000, 1, 1)) and is_past(datetime(2000, 1, 1, tzinfo=UTC))
    assert not is_past(datetime(2999, 1, 1)) and not is_past(None)


def test_english_dates_name_the_month_and_timestamps_are_shown_in_japan_time():
    assert english_date(date(2026, 1, 9)) == "9 Jan 2026"
    assert english_date(datetime(2026, 12, 31, 15, 30, tzinfo=UTC)) == "1 Jan 2027"  # already 1 Jan in JST
    assert english_date(None) == ""
    # the token page's "created": UTC 23:10 is 08:10 the next morning in Japan
    assert local_datetime(datetime(2026, 12, 7, 23, 10, tzinfo=UTC)) == "2026-12-08 08:10"
    assert local_datetime(datetime(2026, 12, 7, 23, 10)) == "2026-12-08 08:10"  # naive = UTC (SQLite)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("昭和55年4月1日", date(1980, 4, 1)),
        ("S55.4.1", date(1980, 4, 1)),
        ("s55/4/1", date(1980, 4, 1)),
        ("Ｓ５５．４．１", date(1980, 4, 1)),  # full-width, as an IME types it
        ("昭和 55 年 4 月 1 日", date(1980, 4, 1)),
        ("令和元年5月1日", date(2019, 5, 1)),
        ("R1.5.1", date(2019, 5, 1)),
        ("H31.4.30", date(2019, 4, 30)),
        ("平成元年1月8日", date(1989, 1, 8)),
        ("Showa 64.1.7", date(1989, 1, 7)),
        ("1980-04-01", date(1980, 4, 1)),
        ("1980/4/1", date(1980, 4, 1)),
        ("1980年4月1日", date(1980, 4, 1)),
    ],
)
def test_dates_typed_in_wareki_or_seireki_are_read(typed, expected):
    assert parse_date(typed) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "",
        None,
        "昭和65年1月1日",
        "平成1.1.7",
        "H31.5.1",
        "R0.5.1",
        "S55.2.30",
        "令和8年13月1日",
        "X55.4.1",
        "55.4.1",
    ],
)
def test_dates_outside_their_era_or_not_dates_are_refused_not_guessed(typed):
    assert parse_date(typed) is None
