from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from tsunagu.engine.errors import ExpressionError
from tsunagu.engine.expression_functions import JST
from tsunagu.engine.expressions import compile_expression, evaluate

DATA: dict[str, Any] = {
    "score": 4,
    "urgent": False,
    "flags": ["housing", "debt"],
    "client": {"name": "山田", "age": 42},
    "key": "age",
    "interval": "P30D",
    "review_on": "2026-01-15",
    "nothing": None,
    "big": 10**10,
    "s": "ab",
    "n": 10**8,
}


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("().__class__.__base__.__subclasses__()", "attribute access is not allowed"),
        ("__import__('os')", "function '__import__' is not allowed"),
        ("x.__class__", "attribute access is not allowed"),
        ("9**9**9", "exponent of **"),
        ("2 ** score", "exponent of **"),
        ("'a'*10**9", "repetition result is too large"),
        ("'a' * 1000000000", "repetition result is too large"),
        ("s * n", "repetition result is too large"),
        ("[0] * 1000000", "repetition result is too large"),
        ("x" * 10_000, "expression is too long"),
        ("(" * 200 + "1" + ")" * 200, "nested too deeply"),
        ("-" * 200 + "1", "nested too deeply"),
        ("big * big", "numeric result is too large"),
        ("'%*d' % (n, 1)", "only allowed for numbers"),
        ("1 << 100000", "operator '<<' is not allowed"),
        ("lambda: 1", "lambda is not allowed"),
        ("[c for c in flags]", "comprehensions are not allowed"),
        ("(y := 1)", "assignment expressions are not allowed"),
        ("f'{score}'", "f-strings are not allowed"),
        ("flags[0:1]", "slices are not allowed"),
        ("min(*flags)", "starred expressions are not allowed"),
        ("{**client}", "unpacking is not allowed"),
        ("sorted(flags, key=len)", "argument 'key' is not allowed"),
        ("len(flags)(1)", "only calls by function name"),
        ("eval('1')", "function 'eval' is not allowed"),
        ("getattr(client, 'name')", "function 'getattr' is not allowed"),
        ("_secret", "name '_secret' is not allowed"),
        ("b'x'", "constant of type bytes"),
        ("flags[len(flags) - 1]", "index must be a constant or a name"),
        ("len(flags, flags)", "wrong number of arguments"),
        ("", "expression is empty"),
        ("score >", "invalid syntax"),
        ("import os", "invalid syntax"),
    ],
)
def test_unsafe_or_invalid_expressions_are_refused(source: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate(source, DATA)
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("score >= 3 and not urgent", True),
        ("score > 5 or urgent", False),
        ("1 < score < 5", True),
        ("'housing' in flags", True),
        ("contains(flags, 'debt') and not contains(nothing, 'x')", True),
        ("client['name']", "山田"),
        ("client[key]", 42),
        ("flags[-1]", "debt"),
        ("'P' + str(score * 7) + 'D'", "P28D"),
        ("interval", "P30D"),
        ("score if urgent else -score", -4),
        ("2 ** 10", 1024),
        ("10 // 3 + 10 % 3", 4),
        ("7 / 2", 3.5),
        ("round(2.567, 2)", 2.57),
        ("max(1, score, 3) + min([5, 6])", 9),
        ("sum([1, 2.5]) + abs(-1)", 4.5),
        ("sorted(flags, reverse=True)", ["housing", "debt"]),
        ("len(flags) == 2 and any([urgent, True]) and not all([urgent])", True),
        ("int('7') + float('0.5')", 7.5),
        ("bool(nothing) is False", True),
        ("nothing is None", True),
        ("{'a': [1, 2], 'b': (3,)}", {"a": [1, 2], "b": (3,)}),
        ("{1, 2} == {2, 1}", True),
        ("parse_date('2026-01-01') <= today()", True),
        ("parse_date(review_on) < date(2026, 2, 1)", True),
        ("parse_date('2026-01-01T10:00:00+09:00')", date(2026, 1, 1)),
        ("days_between('2026-01-01', review_on)", 14),
    ],
)
def test_allowed_expressions_evaluate(source: str, expected: Any) -> None:
    assert evaluate(source, DATA) == expected


def test_today_is_the_date_in_japan() -> None:
    from datetime import datetime

    assert evaluate("today()", {}) == datetime.now(JST).date()
    assert evaluate("days_between(today(), d)", {"d": (datetime.now(JST).date() + timedelta(days=3))}) == 3


def test_missing_variable_names_it() -> None:
    with pytest.raises(ExpressionError, match="name 'missing' is not defined"):
        evaluate("missing > 1", DATA)


def test_runtime_errors_become_expression_errors() -> None:
    with pytest.raises(ExpressionError, match="division by zero"):
        evaluate("score / 0", DATA)
    with pytest.raises(ExpressionError, match="cannot evaluate"):
        evaluate("score + 'x'", DATA)
    with pytest.raises(ExpressionError, match="not found"):
        evaluate("client['nope']", DATA)
    with pytest.raises(ExpressionError, match="not a date"):
        evaluate("parse_date(score)", DATA)


def test_a_function_name_in_data_does_not_shadow_the_function() -> None:
    assert evaluate("len(len)", {"len": [1, 2, 3]}) == 3


def test_compiled_expressions_are_cached_and_reusable() -> None:
    first = compile_expression("score + 1")
    assert compile_expression("score + 1") is first
    assert first.evaluate({"score": 1}) == 2
    assert first.evaluate({"score": 41}) == 42


def test_syntax_errors_are_marked_for_the_dmn_engine() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(">= 3")
    assert info.value.syntax
    with pytest.raises(ExpressionError) as info:
        compile_expression("x.y")
    assert not info.value.syntax


# --- issue #10: the size limits hold for every intermediate value -------------------------------------------

#: Constant expressions whose values would pass the top-level checks but not the deep size measure.
HOSTILE_CONSTANTS = [
    "len(str(['a' * 100000] * 10000)) > 0",  # 10,000 references to one 100,000-character string: str() ~1 GB
    "[[0] * 10000] * 10000",  # a DMN output of 10^8 cells
    "str([[['a' * 100000] * 10000] * 10000])",
    "sorted(['a' * 100000] * 10000)",
    "['a' * 100000] * 10000 + ['b']",
    "[['a' * 100000] * 10000, 1]",
    "{'k': ['a' * 100000] * 10000}",
]
#: The same attacks on task data: they cannot be folded at validation, so the evaluator refuses them.
HOSTILE_ON_DATA = [
    "len(str([s * 100000] * 10000)) > 0",
    "str([[s * 100000] * 10000] * 10000)",
    "[[z] * 10000] * 10000",
    "str(big)",
    "sorted(big)",
    "big + big",
    "max(big)",
    "sum(ints)",
    "[big]",
    "len(str(deep)) > 0",
]


def _hostile_data() -> dict[str, Any]:
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    return {"s": "a", "z": 0, "big": ["x" * 100_000] * 10_000, "ints": [1] * 10_000 * 100, "deep": deep}


@pytest.mark.parametrize("source", HOSTILE_CONSTANTS)
def test_a_constant_expression_past_the_size_limits_is_refused_when_validated(source: str) -> None:
    with pytest.raises(ExpressionError, match="too large"):
        compile_expression(source)


@pytest.mark.parametrize("source", HOSTILE_ON_DATA)
def test_the_size_attacks_on_task_data_are_refused_before_allocating(source: str) -> None:
    import tracemalloc

    data = _hostile_data()
    compile_expression(source)  # reads names: validated, refused only when it runs
    tracemalloc.start()
    try:
        with pytest.raises(ExpressionError, match=r"too large|nested too deeply"):
            evaluate(source, data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024, f"{source}: peak {peak / 2**20:.1f} MiB"


def test_reading_large_task_data_by_name_is_still_allowed() -> None:
    data = _hostile_data()
    assert evaluate("len(big) == 10000 and big[0] == big[-1] and 'x' in big[0]", data) is True
    assert evaluate("len(str(s * 100000)) == 100000", data) is True


def test_memory_and_recursion_errors_become_expression_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from tsunagu.engine import expression_functions

    def exhausted(*_args: Any) -> Any:
        raise MemoryError

    monkeypatch.setitem(
        expression_functions.FUNCTIONS,
        "abs",
        expression_functions.FUNCTIONS["abs"].__class__(exhausted, 1, 1),
    )
    with pytest.raises(ExpressionError, match="too large"):
        evaluate("abs(1)", {})
    data = _hostile_data()
    other: list[Any] = []
    for _ in range(5000):
        other = [other]
    with pytest.raises(ExpressionError):
        evaluate("deep == other", {**data, "other": other})
