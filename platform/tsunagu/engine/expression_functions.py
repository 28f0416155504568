"""The functions expressions may call, by bare name. Nothing else is callable from an expression.

A function whose result can be larger than its arguments, or whose work grows with them, has a ``check`` that
refuses oversized arguments before it is called (``engine.bounds``); its result is measured afterwards like
every value an expression makes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ..core.limits import shown
from .bounds import MAX_DATE_TEXT, MAX_ITEMS, MAX_NUMBER_TEXT, MAX_VALUE, check_rendered, size_of, too_large
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
        if len(value) > MAX_DATE_TEXT:
            raise ExpressionError(f"日付ではありません: {shown(value)} / not a date: {shown(value)}")
        text = value.strip()
        if len(text) > 10 and text[10] in "T ":
            return datetime.fromisoformat(text).date()
        return date.fromisoformat(text)
    raise ExpressionError(f"日付ではありません: {shown(value)} / not a date: {shown(value)}")


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


# --- checks before a call -------------------------------------------------------------------------------


def _check_whole(*args: Any, **_kwargs: Any) -> None:
    """sorted/sum copy their argument, min/max walk it: the arguments' deep size must fit."""
    if size_of(args) > MAX_VALUE:
        raise too_large("引数", "argument")
    if len(args) == 1 and isinstance(args[0], list | tuple | set | frozenset | dict | str):
        if len(args[0]) > MAX_ITEMS:
            raise too_large("引数", "argument")


def _check_number_text(value: Any) -> None:
    if isinstance(value, str) and len(value) > MAX_NUMBER_TEXT:
        raise ExpressionError(
            f"数値の文字列が長すぎます（{MAX_NUMBER_TEXT} 文字まで） / number text too large "
            f"(at most {MAX_NUMBER_TEXT} characters)"
        )


@dataclass(frozen=True)
class _Function:
    fn: Callable[..., Any]
    min_args: int
    max_args: int
    keywords: frozenset[str] = frozenset()
    check: Callable[..., None] | None = None  # refuses oversized arguments before ``fn`` runs


FUNCTIONS: dict[str, _Function] = {
    "len": _Function(len, 1, 1),
    "min": _Function(min, 1, MAX_ARGS, check=_check_whole),
    "max": _Function(max, 1, MAX_ARGS, check=_check_whole),
    "abs": _Function(abs, 1, 1),
    "int": _Function(int, 1, 1, check=_check_number_text),
    "str": _Function(str, 1, 1, check=check_rendered),
    "float": _Function(float, 1, 1, check=_check_number_text),
    "bool": _Function(bool, 1, 1),
    "round": _Function(_round, 1, 2, frozenset({"ndigits"})),
    "any": _Function(any, 1, 1),
    "all": _Function(all, 1, 1),
    "sum": _Function(_sum, 1, 1, check=_check_whole),
    "sorted": _Function(sorted, 1, 1, frozenset({"reverse"}), check=_check_whole),
    "date": _Function(date, 3, 3),
    "today": _Function(_today, 0, 0),
    "days_between": _Function(_days_between, 2, 2),
    "parse_date": _Function(_as_date, 1, 1),
    "contains": _Function(_contains, 2, 2),
}
