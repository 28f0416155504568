"""The functions expressions may call, by bare name. Nothing else is callable from an expression."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from .errors import ExpressionError

MAX_ARGS = 200

JST = timezone(timedelta(hours=9), "JST")


# --- functions ------------------------------------------------------------------------------------------


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 10 and text[10] in "T ":
            return datetime.fromisoformat(text).date()
        return date.fromisoformat(text)
    raise ExpressionError(f"日付ではありません: {value!r} / not a date: {value!r}")


def _today() -> date:
    """Today in Japan — casework deadlines are local dates."""
    return datetime.now(JST).date()


def _days_between(start: Any, end: Any) -> int:
    return (_as_date(end) - _as_date(start)).days


def _contains(container: Any, item: Any) -> bool:
    return container is not None and item in container


def _sum(values: Any) -> Any:
    items = list(values)
    if not all(isinstance(v, int | float) for v in items):
        raise ExpressionError("sum は数値だけを合計できます / sum() only adds numbers")
    return sum(items)


def _round(value: Any, ndigits: Any = None) -> Any:
    if ndigits is not None and (not isinstance(ndigits, int) or abs(ndigits) > 20):
        raise ExpressionError("round の桁数は -20〜20 です / round() ndigits must be between -20 and 20")
    return round(value, ndigits)


@dataclass(frozen=True)
class _Function:
    fn: Callable[..., Any]
    min_args: int
    max_args: int
    keywords: frozenset[str] = frozenset()


FUNCTIONS: dict[str, _Function] = {
    "len": _Function(len, 1, 1),
    "min": _Function(min, 1, MAX_ARGS),
    "max": _Function(max, 1, MAX_ARGS),
    "abs": _Function(abs, 1, 1),
    "int": _Function(int, 1, 1),
    "str": _Function(str, 1, 1),
    "float": _Function(float, 1, 1),
    "bool": _Function(bool, 1, 1),
    "round": _Function(_round, 1, 2, frozenset({"ndigits"})),
    "any": _Function(any, 1, 1),
    "all": _Function(all, 1, 1),
    "sum": _Function(_sum, 1, 1),
    "sorted": _Function(sorted, 1, 1, frozenset({"reverse"})),
    "date": _Function(date, 3, 3),
    "today": _Function(_today, 0, 0),
    "days_between": _Function(_days_between, 2, 2),
    "parse_date": _Function(_as_date, 1, 1),
    "contains": _Function(_contains, 2, 2),
}
