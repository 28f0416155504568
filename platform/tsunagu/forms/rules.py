"""Cross-field rules of a form (項目間のチェック): a documented extension of the form-js JSON.

form-js keeps unknown top-level keys of a schema, so a form declares its rules next to ``components``::

    "tsunagu": {
      "rules": [
        {"rule": "not_in_future", "fields": ["reception_date", "birth_date"]},
        {"rule": "not_before", "field": "plan_end_date", "other": "plan_date"},
        {"rule": "period_end", "start": "plan_date", "period": "plan_period", "end": "plan_end_date",
         "tolerance_days": 14}
      ]
    }

* ``not_in_future`` — each date field is today (in Japan) or earlier: 生年月日, 受付日.
* ``not_before`` — ``field`` is on or after ``other``.
* ``period_end`` — ``end`` lies within ``tolerance_days`` (default 0) of ``start`` + ``period``, where
  ``period`` is a field whose values are ISO durations of years, months, weeks or days (``P6M``: 6か月).
  The message is put on **both** fields, ``end`` and ``period``, so either can be corrected.

A rule is checked only when its fields are visible (``conditional.hide`` not true), valid and filled in; a
missing value is ``required``'s business. The rules are read when the form loads (``load_form``): a rule
naming an unknown field, or a field of the wrong type, stops the form from loading.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from .schema import FieldSpec, FormSchemaError

__all__ = ["Rule", "add_period", "check_rules", "parse_rules"]

MAX_RULES = 50
MAX_TOLERANCE_DAYS = 366
_DURATION = re.compile(r"^P(?:(\d{1,3})Y)?(?:(\d{1,3})M)?(?:(\d{1,3})W)?(?:(\d{1,4})D)?$")


@dataclass(frozen=True)
class Rule:
    rule: str  # not_in_future | not_before | period_end
    fields: tuple[
        str, ...
    ]  # not_in_future: the dates; not_before: (field, other); period_end: (start, period, end)
    tolerance_days: int = 0


def add_period(start: date, duration: str) -> date | None:
    """``start`` + an ISO duration of years/months/weeks/days (month ends clamp: 1-31 + P1M = 2-28)."""
    match = _DURATION.match(duration)
    if match is None or not any(match.groups()):
        return None
    years, months, weeks, days = (int(g) if g else 0 for g in match.groups())
    total = start.month - 1 + months + 12 * years
    year, month = start.year + total // 12, total % 12 + 1
    if not 1 <= year <= 9999:
        return None
    day = min(start.day, calendar.monthrange(year, month)[1])
    try:
        return date(year, month, day) + timedelta(days=days + 7 * weeks)
    except OverflowError:
        return None


def parse_rules(extension: Any, fields: Mapping[str, FieldSpec]) -> tuple[Rule, ...]:
    if extension is None:
        return ()
    if not isinstance(extension, Mapping):
        raise FormSchemaError("'tsunagu' must be an object")
    rules = extension.get("rules", [])
    if not isinstance(rules, list) or len(rules) > MAX_RULES:
        raise FormSchemaError(f"tsunagu.rules must be a list of at most {MAX_RULES} rules")
    return tuple(_rule(r, fields, f"tsunagu.rules[{i}]") for i, r in enumerate(rules))


def _date_field(fields: Mapping[str, FieldSpec], key: Any, here: str) -> str:
    spec = fields.get(key) if isinstance(key, str) else None
    if spec is None:
        raise FormSchemaError(f"{here}: {key!r} is not a field of the form")
    if spec.type != "datetime" or spec.subtype != "date":
        raise FormSchemaError(f"{here}: {key!r} is not a date field")
    return spec.key


def _rule(raw: Any, fields: Mapping[str, FieldSpec], here: str) -> Rule:
    if not isinstance(raw, Mapping):
        raise FormSchemaError(f"{here}: a rule must be an object")
    kind = raw.get("rule")
    if kind == "not_in_future":
        keys = raw.get("fields")
        if not isinstance(keys, list) or not keys:
            raise FormSchemaError(f"{here}: 'fields' must be a non-empty list of date fields")
        return Rule(kind, tuple(_date_field(fields, k, here) for k in keys))
    if kind == "not_before":
        return Rule(
            kind, (_date_field(fields, raw.get("field"), here), _date_field(fields, raw.get("other"), here))
        )
    if kind == "period_end":
        period = raw.get("period")
        spec = fields.get(period) if isinstance(period, str) else None
        if spec is None or spec.type not in ("select", "radio") or not spec.options:
            raise FormSchemaError(f"{here}: 'period' must be a select or radio field with options")
        for option in spec.options:
            if not isinstance(option.value, str) or add_period(date(2000, 1, 1), option.value) is None:
                raise FormSchemaError(f"{here}: option {option.value!r} of {period!r} is not an ISO duration")
        tolerance = raw.get("tolerance_days", 0)
        if (
            isinstance(tolerance, bool)
            or not isinstance(tolerance, int)
            or not 0 <= tolerance <= MAX_TOLERANCE_DAYS
        ):
            raise FormSchemaError(
                f"{here}: 'tolerance_days' must be a whole number from 0 to {MAX_TOLERANCE_DAYS}"
            )
        start = _date_field(fields, raw.get("start"), here)
        end = _date_field(fields, raw.get("end"), here)
        return Rule(kind, (start, spec.key, end), tolerance)
    raise FormSchemaError(f"{here}: unknown rule {kind!r} (not_in_future, not_before, period_end)")


def _value(cleaned: Mapping[str, Any], key: str) -> Any:
    current: Any = cleaned
    for part in key.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def check_rules(
    rules: tuple[Rule, ...],
    fields: Mapping[str, FieldSpec],
    cleaned: Mapping[str, Any],
    skip: set[str],
    today: date,
    message: Callable[..., str],
) -> dict[str, list[str]]:
    """Errors by field key for the rules that fail; ``skip``: hidden fields and fields with errors."""
    errors: dict[str, list[str]] = {}

    def dated(key: str) -> date | None:
        value = _value(cleaned, key)
        if key in skip or not isinstance(value, str):
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None

    for rule in rules:
        if rule.rule == "not_in_future":
            for key in rule.fields:
                day = dated(key)
                if day is not None and day > today:
                    errors.setdefault(key, []).append(message("future_date"))
        elif rule.rule == "not_before":
            key, other = rule.fields
            day, before = dated(key), dated(other)
            if day is not None and before is not None and day < before:
                errors.setdefault(key, []).append(message("not_before", other=fields[other].label))
        elif rule.rule == "period_end":
            start_key, period_key, end_key = rule.fields
            start, end = dated(start_key), dated(end_key)
            period = _value(cleaned, period_key) if period_key not in skip else None
            if start is None or end is None or not isinstance(period, str):
                continue
            expected = add_period(start, period)
            if expected is None or abs((end - expected).days) <= rule.tolerance_days:
                continue
            spec = fields[period_key]
            label = next((o.label for o in spec.options or () if o.value == period), period)
            errors.setdefault(end_key, []).append(
                message(
                    "period_end",
                    period=label,
                    start=fields[start_key].label,
                    expected=expected.isoformat(),
                    days=rule.tolerance_days,
                )
            )
            errors.setdefault(period_key, []).append(
                message("period_mismatch", end=fields[end_key].label, value=end.isoformat())
            )
    return errors
