"""Cross-field rules declared in the form JSON (``"tsunagu": {"rules": [...]}``): a plan's end date against
its period (message on both fields), dates not in the future, and rules that cannot load."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.workflows import samples
from tsunagu.forms import load_form, validate_submission
from tsunagu.forms.localize import localize_errors
from tsunagu.forms.rules import add_period
from tsunagu.forms.schema import FormSchemaError

FORMS = Path(__file__).resolve().parents[2] / "workflows" / "casework" / "forms"
PLAN = load_form(FORMS / "plan.form")
INTAKE = load_form(FORMS / "intake.form")
TODAY = date(2026, 12, 7)


def plan(**kw: Any) -> dict[str, Any]:
    return samples.plan(plan_date="2026-04-15", plan_period="P6M", **kw)


def test_months_are_added_the_way_people_count_them():
    assert add_period(date(2026, 4, 15), "P6M") == date(2026, 10, 15)
    assert add_period(date(2026, 8, 31), "P6M") == date(2027, 2, 28)
    assert add_period(date(2026, 11, 1), "P3M") == date(2027, 2, 1)
    assert add_period(date(2026, 1, 1), "P1Y2W") == date(2027, 1, 15)
    assert add_period(date(2026, 1, 1), "P") is None
    assert add_period(date(2026, 1, 1), "6 months") is None


def test_a_plan_whose_end_date_fits_its_period_passes():
    for end in ("2026-10-15", "2026-10-01", "2026-10-29"):  # within the form's 14 days
        cleaned, errors = validate_submission(PLAN, plan(plan_end_date=end), today=TODAY)
        assert errors == {}, end
        assert cleaned["plan_end_date"] == end


def test_six_months_with_an_end_date_four_months_later_is_refused_on_both_fields():
    _, errors = validate_submission(PLAN, plan(plan_end_date="2026-08-15"), today=TODAY)
    assert errors == {
        "plan_end_date": [
            "プランの期間（6か月）とプラン作成日から、2026-10-15の前後14日以内の日付にしてください"
        ],
        "plan_period": ["プラン終了予定日（評価の時期）と合いません（2026-08-15）"],
    }
    _, errors = validate_submission(PLAN, plan(plan_end_date="2026-08-15"), lang="en", today=TODAY)
    assert errors["plan_end_date"] == [
        "With the period (6か月) and プラン作成日, use a date within 14 days of 2026-10-15"
    ]
    assert errors["plan_period"] == ["Does not match プラン終了予定日（評価の時期） (2026-08-15)"]


def test_the_period_message_is_translated_from_the_services_japanese():
    _, errors = validate_submission(PLAN, plan(plan_end_date="2026-08-15"), today=TODAY)
    english = localize_errors(errors, "en")
    assert english["plan_end_date"] == [
        "With the period (6か月) and プラン作成日, use a date within 14 days of 2026-10-15"
    ]
    assert english["plan_period"] == ["Does not match プラン終了予定日（評価の時期） (2026-08-15)"]


def test_the_rule_waits_for_its_fields_to_be_valid():
    _, errors = validate_submission(PLAN, plan(plan_end_date="2026-13-45"), today=TODAY)
    assert errors == {"plan_end_date": ["日付の形式が正しくありません（YYYY-MM-DD）"]}


def test_a_future_birth_date_or_reception_date_is_refused():
    _, errors = validate_submission(INTAKE, samples.intake(birth_date="2027-01-01"), today=TODAY)
    assert errors == {"birth_date": ["未来の日付は入力できません"]}
    _, errors = validate_submission(INTAKE, samples.intake(reception_date="2026-12-08"), today=TODAY)
    assert errors == {"reception_date": ["未来の日付は入力できません"]}
    _, errors = validate_submission(INTAKE, samples.intake(reception_date="2026-12-07"), today=TODAY)
    assert errors == {}


def test_today_is_the_day_in_japan():
    # validate_submission's default "today" is Japan's: a date later than Japan's today is refused
    from datetime import datetime
    from zoneinfo import ZoneInfo

    tomorrow_in_japan = datetime.now(ZoneInfo("Asia/Tokyo")).date().toordinal() + 1
    _, errors = validate_submission(
        INTAKE, samples.intake(birth_date=date.fromordinal(tomorrow_in_japan).isoformat())
    )
    assert errors == {"birth_date": ["未来の日付は入力できません"]}


def _form(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "default",
        "components": [
            {"type": "datetime", "key": "start", "subtype": "date", "label": "開始日"},
            {"type": "datetime", "key": "end", "subtype": "date", "label": "終了日"},
            {"type": "textfield", "key": "note", "label": "備考"},
            {
                "type": "select",
                "key": "period",
                "label": "期間",
                "values": [{"label": "3か月", "value": "P3M"}],
            },
            {"type": "select", "key": "size", "label": "規模", "values": [{"label": "大", "value": "large"}]},
        ],
        "tsunagu": {"rules": rules},
    }


def test_not_before():
    form = load_form(_form([{"rule": "not_before", "field": "end", "other": "start"}]))
    _, errors = validate_submission(form, {"start": "2026-05-01", "end": "2026-04-30"}, today=TODAY)
    assert errors == {"end": ["開始日より前の日付は入力できません"]}
    assert validate_submission(form, {"start": "2026-05-01", "end": "2026-05-01"}, today=TODAY)[1] == {}


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"rule": "sometime"}], "unknown rule"),
        ([{"rule": "not_in_future", "fields": ["missing"]}], "'missing' is not a field"),
        ([{"rule": "not_in_future", "fields": ["note"]}], "'note' is not a date field"),
        ([{"rule": "not_in_future", "fields": []}], "non-empty list"),
        ([{"rule": "period_end", "start": "start", "period": "note", "end": "end"}], "select or radio"),
        ([{"rule": "period_end", "start": "start", "period": "size", "end": "end"}], "not an ISO duration"),
        (
            [
                {
                    "rule": "period_end",
                    "start": "start",
                    "period": "period",
                    "end": "end",
                    "tolerance_days": -1,
                }
            ],
            "tolerance_days",
        ),
        ("not a list", "must be a list"),
    ],
)
def test_a_rule_that_cannot_work_stops_the_form_from_loading(rules, message):
    with pytest.raises(FormSchemaError, match=message):
        load_form(_form(rules))
