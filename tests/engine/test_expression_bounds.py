"""Property-based proof (hypothesis) that evaluation is memory-bounded by construction (issue #10).

Strategies build hostile expressions — nested repetition, concatenation, ``str``/``sorted``/``sum``/``len``/
``min``/``max`` over big data, deep nesting, huge numbers, ``**`` — over hostile task data (big strings,
thousands of references to them, values nested thousands deep). The property: validation either refuses the
expression or evaluation returns a value whose deep size is within the limits or raises ``ExpressionError``,
and the peak of memory allocated while it runs (``tracemalloc``) stays under a few MiB. The measure itself is
checked to be an upper bound of ``repr`` and the bounded JSON parser to agree with ``json`` on depth.
"""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tsunagu.core import limits
from tsunagu.engine.bounds import MAX_VALUE, size_of
from tsunagu.engine.errors import ExpressionError
from tsunagu.engine.expressions import compile_expression

PEAK_BUDGET = 8 * 1024 * 1024  # bytes allocated at the peak of one evaluation
EXAMPLES = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def _nest(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


BIG = "x" * 100_000
DATA: dict[str, Any] = {
    "s": "a",
    "t": BIG,
    "j": "日本語" * 30_000,
    "u": "\x00\n" * 25_000,
    "e": "",
    "n": 10_000,
    "k": 10**18,
    "f": 1e308,
    "l": [BIG] * 10_000,
    "d": {"a": [BIG] * 10_000, "b": 1},
    "ints": list(range(10_000)),
    "deep": _nest(0, 3_000),
    "num": "9" * 4_000,
}
NAMES = [*DATA, "x", "y"]

ATOMS = st.sampled_from(
    [
        *NAMES,
        "1",
        "2",
        "-1",
        "10",
        "10000",
        "100000",
        "10 ** 10",
        "1e308",
        "'a'",
        "'ab'",
        "''",
        "[0]",
        "[]",
        "{}",
        "None",
        "True",
        "(1, 2)",
        "today()",
        "'2026-01-01'",
    ]
)
UNARY_FUNCTIONS = [
    "str",
    "sorted",
    "sum",
    "len",
    "max",
    "min",
    "int",
    "float",
    "abs",
    "round",
    "any",
    "all",
    "bool",
    "parse_date",
]
BINARY_FUNCTIONS = ["round", "max", "min", "contains", "days_between"]
OPERATORS = ["*", "*", "+", "+", "-", "%", "//", "/", "==", "<", "in", "and", "or"]


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, st.sampled_from(OPERATORS), children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(children, st.sampled_from(["10000", "100000", "n", "k"])).map(
            lambda t: f"({t[0]} * {t[1]})"
        ),
        children.map(lambda c: f"({c} ** 10)"),
        st.tuples(st.sampled_from(UNARY_FUNCTIONS), children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(st.sampled_from(BINARY_FUNCTIONS), children, children).map(
            lambda t: f"{t[0]}({t[1]}, {t[2]})"
        ),
        st.lists(children, min_size=1, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(children, min_size=1, max_size=3).map(lambda xs: "(" + ", ".join(xs) + ",)"),
        st.tuples(children, children).map(lambda t: "{" + f"{t[0]}: {t[1]}" + "}"),
        st.tuples(children, children, children).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        st.tuples(children, st.sampled_from(["0", "-1", "'a'", "s"])).map(lambda t: f"{t[0]}[{t[1]}]"),
        children.map(lambda c: f"(-{c})"),
        children.map(lambda c: f"(not {c})"),
    )


UNTYPED = st.recursive(ATOMS, _extend, max_leaves=10)

# A typed grammar steers most examples past the type errors, into the operations that grow values.
_SEQ_ATOMS = st.sampled_from(
    ["s", "t", "j", "u", "e", "l", "d", "ints", "deep", "x", "y", "'a'", "[0]", "[]"]
)
_NUM_ATOMS = st.sampled_from(["n", "k", "f", "1", "2", "10", "10000", "100000", "-1"])


def _seq_forms(seq: st.SearchStrategy[str], num: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        _SEQ_ATOMS,
        st.tuples(seq, num).map(lambda t: f"({t[0]} * {t[1]})"),
        st.tuples(num, seq).map(lambda t: f"({t[0]} * {t[1]})"),
        st.tuples(seq, seq).map(lambda t: f"({t[0]} + {t[1]})"),
        st.tuples(seq, num).map(lambda t: f"([{t[0]}] * {t[1]})"),
        st.lists(seq, min_size=1, max_size=5).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.tuples(seq, seq).map(lambda t: "{'k': " + t[0] + ", 'm': " + t[1] + "}"),
        st.tuples(st.sampled_from(["str", "sorted"]), seq).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(seq, st.sampled_from(["0", "-1", "'a'"])).map(lambda t: f"{t[0]}[{t[1]}]"),
        st.tuples(seq, seq, seq).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
        st.tuples(seq, seq).map(lambda t: f"max({t[0]}, {t[1]})"),
    )


def _num_forms(seq: st.SearchStrategy[str], num: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        _NUM_ATOMS,
        st.tuples(st.sampled_from(["len", "sum", "max", "min", "int", "float", "any", "all"]), seq).map(
            lambda t: f"{t[0]}({t[1]})"
        ),
        st.tuples(num, st.sampled_from(["*", "+", "//", "%", "-"]), num).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        num.map(lambda c: f"({c} ** 10)"),
        st.tuples(num, num).map(lambda t: f"round({t[0]}, {t[1]})"),
        st.tuples(seq, seq).map(
            lambda t: f"({t[0]} == {t[1]} or {t[0]} in {t[1]} or contains({t[1]}, {t[0]}))"
        ),
        seq.map(lambda c: f"len(str({c}))"),
    )


SEQ: st.SearchStrategy[str] = st.deferred(lambda: _seq_forms(SEQ, NUM))
NUM: st.SearchStrategy[str] = st.deferred(lambda: _num_forms(SEQ, NUM))
EXPRESSIONS = st.one_of(UNTYPED, SEQ, NUM)

LEAVES = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from([BIG, "日本語" * 30_000, "\x00" * 50_000, None, True, date(2026, 1, 1)]),
)


def _widen(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=4), children, max_size=4),
        children.map(lambda c: [c] * 10_000),  # shared references: tiny in memory, huge when copied
        st.tuples(children, st.integers(min_value=50, max_value=2_000)).map(lambda t: _nest(t[0], t[1])),
    )


HOSTILE_VALUES = st.recursive(LEAVES, _widen, max_leaves=6)


def _peak_of(call: Any) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        try:
            result = call()
        except ExpressionError as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@EXAMPLES
@given(source=EXPRESSIONS, x=HOSTILE_VALUES, y=HOSTILE_VALUES)
def test_any_expression_over_hostile_data_stays_within_the_limits(source: str, x: Any, y: Any) -> None:
    data = {**DATA, "x": x, "y": y}
    compiled, peak = _peak_of(lambda: compile_expression(source))
    assert peak < PEAK_BUDGET, f"validating {source}: peak {peak / 2**20:.1f} MiB"
    if isinstance(compiled, ExpressionError):
        return
    result, peak = _peak_of(lambda: compiled.evaluate(data))
    assert peak < PEAK_BUDGET, f"{source}: peak {peak / 2**20:.1f} MiB"
    if not isinstance(result, ExpressionError):
        assert size_of(result) <= MAX_VALUE, source


@EXAMPLES
@given(value=HOSTILE_VALUES, budget=st.integers(min_value=0, max_value=MAX_VALUE))
def test_measuring_any_value_is_itself_bounded(value: Any, budget: int) -> None:
    size, peak = _peak_of(lambda: limits.measure(value, budget))
    assert 0 <= size <= budget + 1
    assert peak < 256 * 1024  # one iterator per level, not a copy of the value


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=25,
)
REPR_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.dates()
    | st.datetimes(timezones=st.just(UTC)),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(value=REPR_VALUES)
def test_the_rendered_measure_is_an_upper_bound_of_str(value: Any) -> None:
    budget = 10**9
    assert limits.measure(value, budget, rendered=True) >= max(len(str(value)), len(repr(value)))


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES, extra=st.integers(min_value=0, max_value=40), max_depth=st.integers(1, 8))
def test_bounded_json_agrees_with_json_on_depth_whatever_the_strings_hold(
    value: Any, extra: int, max_depth: int
) -> None:
    value = _nest(value, extra)
    text = json.dumps(value, ensure_ascii=False)
    if _depth(value) > max_depth:
        with pytest.raises(limits.InputTooComplex) as info:
            limits.loads(text, max_depth=max_depth)
        assert info.value.code == "json_too_deep"
    else:
        assert limits.loads(text.encode("utf-8"), max_depth=max_depth) == json.loads(text)


def test_malformed_json_is_a_value_error_never_a_recursion_error() -> None:
    for text in (
        "[" * 100_000,
        "{" * 100_000,
        '"' + "\\" * 1000,
        "[" * 20 + '"]' * 20,
        "]" * 50 + "[" * 50,
        "x",
    ):
        with pytest.raises((ValueError, limits.InputTooComplex)):
            limits.loads(text)


def test_a_date_in_data_is_measured_and_rendered() -> None:
    value = [date(2026, 1, 1), datetime(2026, 1, 1, tzinfo=UTC)]
    assert limits.measure(value, 1000) == 5  # the list, its two items, one for each date
    assert limits.measure(value, 1000, rendered=True) >= len(str(value))
