"""Input limits, and bounded measuring and parsing of what comes in (issue #10).

Every input is bounded where it enters: JSON documents by depth and item count *before* they are parsed,
text by length per field, numbers typed as text by length and exponent (``forms.validation``), and nested
values (drafts, message payloads, referrals) by :func:`measure`, a deep size that is itself bounded: it walks
a value with an early-exit budget, so 10,000 references to one 100,000-character string are known to be too
large after about ``budget`` steps, not after walking 10⁹ characters. The expression evaluator
(``engine.bounds``) measures every value it makes the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import date, time, timedelta
from itertools import chain
from typing import Any

from .errors import AppError, ValidationFailed

# --- the limits -----------------------------------------------------------------------------------------
JSON_MAX_DEPTH = 32  # nesting of arrays and objects in any JSON document the app reads
JSON_MAX_ITEMS = 50_000  # values (arrays, objects, members) in one JSON document
VALUE_MAX_DEPTH = 64  # nesting of any value measured (task data, expression values)

PERSON_NAME_MAX = (
    50  # 氏名: the intake form's limit (相談受付・申込票), so a name fits the form and the inbox
)
PERSON_KANA_MAX = 100  # ふりがな
BIRTH_YEAR_MIN = 1900
ORG_UNIT_CODE_MAX = 100

TEXTFIELD_MAX = 1_000  # a one-line form field that declares no maxLength
TEXTAREA_MAX = 10_000  # a multi-line form field that declares no maxLength
TEXT_MAX = 50_000  # any form text field, whatever maxLength its form declares
NUMBER_TEXT_MAX = 32  # characters of a number typed as text
NUMBER_EXPONENT_MAX = 30  # |exponent| of such a number (1e30)
NUMBER_MAX = 10**15  # magnitude of a number whose field declares no min / max
MAX_CHOICES = 500  # values of one checklist / taglist field

DRAFT_MAX_SIZE = 200_000  # a draft (一時保存), measured
DRAFT_TEXT_MAX = TEXT_MAX  # one text value of a draft
PAYLOAD_MAX_SIZE = 20_000  # a message payload, measured
PAYLOAD_MAX_DEPTH = 8
PAYLOAD_TEXT_MAX = 10_000

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class InputTooComplex(AppError):
    """A JSON document deeper or larger than the limits (400, before it is parsed)."""

    status = 400
    code = "input_too_complex"


# --- measuring ------------------------------------------------------------------------------------------
_RENDERED_SCALAR = {type(None): 4, bool: 5, float: 24}


def _str_size(text: str, rendered: bool) -> int:
    if not rendered:
        return len(text)
    # An upper bound of len(repr(text)) without building it: quotes, escaped backslashes and quotes, and for
    # unprintable characters the longest escape (\xNN for ASCII, \UNNNNNNNN otherwise).
    if text.isprintable():
        return len(text) + 2 + text.count("\\") + text.count("'")
    return len(text) * (4 if text.isascii() else 10) + 2


def _int_size(number: int, rendered: bool) -> int:
    digits = int(number.bit_length() * 0.30103) + 1  # an upper bound of the decimal digits
    return digits + 1 if rendered else digits


def measure(value: Any, budget: int, *, max_depth: int = VALUE_MAX_DEPTH, rendered: bool = False) -> int:
    """The size of ``value``, or ``budget + 1`` as soon as it exceeds ``budget`` or nests deeper than
    ``max_depth`` (a value too deep counts as too large).

    Size: the characters of strings, the decimal digits of integers, one for any other scalar and one per
    item of a list, tuple, set or mapping (keys and values both measured). Shared references count once per
    reference — ``[s] * 1000`` is a thousand times ``s`` — because that is what ``str()``, copying and
    serializing it produce. ``rendered=True`` measures an upper bound of ``len(repr(value))`` instead
    (quotes, separators, escapes, 24 for a float, 100 for an object that is not JSON or a date).

    The walk keeps one iterator per level (memory O(depth)) and stops once the budget is spent, so measuring
    costs at most about ``budget`` steps whatever the value.
    """
    cls = type(value)
    if cls is str or cls is int or cls in _RENDERED_SCALAR:  # the common case, without the walk
        if cls is str:
            size = _str_size(value, rendered)
        elif cls is int:
            size = _int_size(value, rendered)
        else:
            size = _RENDERED_SCALAR[cls] if rendered else 1
        return size if size <= budget else budget + 1
    total = 0
    stack: list[Iterator[Any]] = [iter((value,))]
    while stack:
        for item in stack[-1]:
            cls = type(item)
            if cls is str:
                total += _str_size(item, rendered)
            elif cls is int:
                total += _int_size(item, rendered)
            elif cls in _RENDERED_SCALAR:
                total += _RENDERED_SCALAR[cls] if rendered else 1
            elif isinstance(item, list | tuple | set | frozenset | Mapping):
                count = len(item)
                if not rendered:
                    total += 1 + count
                elif isinstance(item, Mapping):
                    total += 2 + 4 * count  # {} and ": ", ", " per item
                else:
                    total += 2 + 2 * count + (11 if isinstance(item, set | frozenset) else 0)  # frozenset()
                if total > budget or len(stack) > max_depth:
                    return budget + 1
                if count:
                    children = chain.from_iterable(item.items()) if isinstance(item, Mapping) else iter(item)
                    stack.append(children)
                    break
            elif isinstance(item, str):
                total += _str_size(str(item), rendered)
            elif isinstance(item, int):
                total += _int_size(int(item), rendered)
            elif isinstance(item, date | time | timedelta):
                total += len(repr(item)) if rendered else 1
            else:
                total += 100 if rendered else 1
            if total > budget:
                return budget + 1
        else:
            stack.pop()
    return total


def fits(value: Any, budget: int, *, max_depth: int = VALUE_MAX_DEPTH) -> bool:
    return measure(value, budget, max_depth=max_depth) <= budget


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for a message, or its type when that would be longer than ``limit`` (never builds a
    large repr of hostile data)."""
    if measure(value, limit, rendered=True) <= limit:
        return repr(value)
    return f"<{type(value).__name__}>"


def has_control_characters(text: str) -> bool:
    """Line breaks, tabs, NUL and other control characters (not allowed in one-line fields)."""
    return _CONTROL.search(text) is not None


def value_problems(
    value: Any, field: str, *, max_size: int, max_depth: int, max_text: int
) -> dict[str, list[str]]:
    """What is too big in a nested value (a draft, a message payload), by dotted path under ``field``.

    Texts longer than ``max_text`` are named by their path (``"address"``, ``"payload.reason"``); a value too
    large or too deep as a whole is reported under ``field`` (or ``"body"``). Messages are Japanese, worded as
    the form messages (``forms.validation``) so pages can translate them.
    """
    problems: dict[str, list[str]] = {}
    steps = 0
    stack: list[tuple[str, Any, int]] = [(field, value, 1)]
    while stack and steps <= max_size:
        path, item, depth = stack.pop()
        steps += 1
        if isinstance(item, str) and len(item) > max_text:
            problems[path or "body"] = [f"{max_text}文字以内で入力してください"]
        elif isinstance(item, Mapping) and depth < max_depth:
            steps += len(item)
            stack.extend(
                (f"{path}.{k}" if path else str(k), v, depth + 1) for k, v in list(item.items())[:max_size]
            )
        elif isinstance(item, list | tuple) and depth < max_depth:
            steps += len(item)
            stack.extend((path, v, depth + 1) for v in item[:max_size])
    if not problems and measure(value, max_size, max_depth=max_depth) > max_size:
        problems[field or "body"] = [
            f"データが大きすぎるか入れ子が深すぎます（{max_size:,} 文字相当・{max_depth} 段まで）"
        ]
    return problems


def require_fits(
    value: Any, field: str, *, max_size: int, max_depth: int, max_text: int, message: str
) -> None:
    """:class:`ValidationFailed` (422) naming what is too big in ``value`` (see :func:`value_problems`)."""
    problems = value_problems(value, field, max_size=max_size, max_depth=max_depth, max_text=max_text)
    if problems:
        raise ValidationFailed(message, details=problems)


# --- bounded JSON ---------------------------------------------------------------------------------------
# A JSON string, closing quote optional so that an unterminated string cannot make the search quadratic.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def _too_deep(max_depth: int) -> InputTooComplex:
    return InputTooComplex(
        f"JSON の入れ子が深すぎます（{max_depth} 段まで） / JSON is nested too deeply (at most {max_depth} levels)",
        code="json_too_deep",
        details={"body": [f"入れ子は {max_depth} 段までです"]},
    )


def check_json_text(text: str, *, max_depth: int = JSON_MAX_DEPTH, max_items: int = JSON_MAX_ITEMS) -> None:
    """Refuse a JSON text nested deeper than ``max_depth`` or holding more than ``max_items`` values, from
    its brackets and commas outside strings, before anything is parsed (all scans are C-speed except one
    pass over at most ``2 × max_items`` brackets). Malformed texts are left to the parser."""
    skeleton = _JSON_STRING.sub('""', text)
    items = skeleton.count(",") + skeleton.count("[") + skeleton.count("{")
    if items > max_items:
        raise InputTooComplex(
            f"JSON の要素が多すぎます（{max_items:,} 個まで） / JSON has too many values (at most {max_items:,})",
            code="json_too_large",
            details={"body": [f"要素は {max_items:,} 個までです"]},
        )
    depth = 0
    for bracket in _NOT_BRACKET.sub("", skeleton):
        if bracket in "[{":
            depth += 1
            if depth > max_depth:
                raise _too_deep(max_depth)
        else:
            depth -= 1


def loads(data: str | bytes, *, max_depth: int = JSON_MAX_DEPTH, max_items: int = JSON_MAX_ITEMS) -> Any:
    """``json.loads`` for untrusted input: :class:`InputTooComplex` past the limits, ``ValueError`` for
    anything that is not JSON (never ``RecursionError``)."""
    if isinstance(data, bytes | bytearray):
        data = bytes(data).decode(json.detect_encoding(data), "surrogatepass")
    check_json_text(data, max_depth=max_depth, max_items=max_items)
    try:
        return json.loads(data)
    except RecursionError:  # unreachable after the depth check; kept so it can never be a 500
        raise _too_deep(max_depth) from None


__all__ = [
    "InputTooComplex",
    "check_json_text",
    "fits",
    "has_control_characters",
    "loads",
    "measure",
    "require_fits",
    "shown",
    "value_problems",
]
