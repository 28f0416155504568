"""Bounded evaluation (issue #10): the size any value of an expression may have, the budget of one evaluation,
and the one place an expression that fails while a command runs becomes a 422.

An expression may *read* task data of any size — a name or a subscript is a reference and costs nothing — but
every value it *makes* is measured (``core.limits.measure``: characters + items + digits, shared references
counted per reference) and charged to the evaluation's budget, and every operation whose result can be
larger than its operands (repetition, concatenation, ``str``, ``sorted``, ``sum``, ``min``/``max``, parsing
numbers) is refused from the size of its operands, before it allocates anything. Memory per evaluation is
therefore bounded by construction: at most ``EVAL_BUDGET`` units made in all, none larger than ``MAX_VALUE``.
"""

from __future__ import annotations

from typing import Any

from ..core.limits import VALUE_MAX_DEPTH, measure
from .errors import ExpressionError

MAX_INT = 10**18  # integers an expression computes
MAX_STR = 100_000  # characters of a string it computes (also the limit of what str() may render)
MAX_ITEMS = 10_000  # items of a list, tuple, set or dict it computes
MAX_VALUE = 200_000  # deep size of any value it computes or returns
EVAL_BUDGET = 1_000_000  # sum of the deep sizes of all values one evaluation computes
MAX_NUMBER_TEXT = 100  # characters int() / float() may parse
MAX_DATE_TEXT = 40  # characters a date may be parsed from


class ExpressionTooLarge(ExpressionError):
    """A value past the limits. Validation refuses an expression whose constant parts alone raise it."""


def too_large(what: str = "値", english: str = "value") -> ExpressionTooLarge:
    return ExpressionTooLarge(
        f"{what}が大きすぎます（{MAX_VALUE:,} 文字相当・入れ子 {VALUE_MAX_DEPTH} 段まで） / "
        f"{english} too large (at most {MAX_VALUE:,} characters, items and digits, nested "
        f"{VALUE_MAX_DEPTH} deep)"
    )


def size_of(value: Any, budget: int = MAX_VALUE) -> int:
    """Deep size of ``value`` (``budget + 1`` once past ``budget`` or nested too deeply)."""
    return measure(value, max(budget, 0))


def require_size(value: Any, what: str = "値", english: str = "value") -> Any:
    if size_of(value) > MAX_VALUE:
        raise too_large(what, english)
    return value


def check_rendered(value: Any) -> None:
    """``str(value)`` would be longer than ``MAX_STR`` (refused before it is built)."""
    if not isinstance(value, str) and measure(value, MAX_STR, rendered=True) > MAX_STR:
        raise ExpressionTooLarge(
            f"str の結果が長すぎます（{MAX_STR:,} 文字まで） / str() result too large (at most {MAX_STR:,} "
            "characters)"
        )


class Budget:
    """What one evaluation may still compute; every value it makes is charged by its deep size."""

    def __init__(self, total: int = EVAL_BUDGET) -> None:
        self.left = total

    def charge(self, value: Any) -> Any:
        size = size_of(value, min(MAX_VALUE, self.left))
        if size > MAX_VALUE:
            raise too_large()
        if size > self.left:
            raise ExpressionTooLarge(
                f"式の計算量が多すぎます（値の合計 {EVAL_BUDGET:,} 文字相当まで） / expression computes too "
                f"much (values too large in total, at most {EVAL_BUDGET:,})"
            )
        self.left -= size
        return value


def expression_error_in(exc: BaseException) -> ExpressionError | None:
    """The ``ExpressionError`` behind ``exc``: Spiff wraps ours in its own exceptions (``raise ... from``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ExpressionError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


__all__ = [
    "EVAL_BUDGET",
    "MAX_ITEMS",
    "MAX_STR",
    "MAX_VALUE",
    "Budget",
    "ExpressionTooLarge",
    "check_rendered",
    "expression_error_in",
    "require_size",
    "size_of",
    "too_large",
]
