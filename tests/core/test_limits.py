"""``core.limits``: the bounded deep size measure, the problems of nested values, the bounded JSON parser."""

from __future__ import annotations

import json

import pytest

from tsunagu.core import limits


def test_shared_references_count_per_reference_and_measuring_stops_at_the_budget():
    big = "x" * 100_000
    hostile = [[big] * 10_000] * 10_000  # 10^13 characters when written out, a few KB in memory
    assert limits.measure(hostile, 1_000_000) == 1_000_001  # after ten strings, not 10^8
    assert limits.measure([big] * 3, 10**9) == 1 + 3 + 300_000
    assert limits.measure({"a": [1, 22]}, 100) == 1 + 1 + 1 + 1 + 2 + 1 + 2  # dict, key, list, items, digits


def test_a_value_nested_past_the_depth_counts_as_too_large():
    value: list = []  # depth 1
    for _ in range(limits.VALUE_MAX_DEPTH - 1):
        value = [value]
    assert limits.measure(value, 10**6) <= 10**6
    assert limits.measure([value], 10**6) == 10**6 + 1


def test_value_problems_name_the_long_texts_by_path_and_else_the_whole():
    problems = limits.value_problems(
        {"address": "x" * 11, "contact": {"phone": "0" * 11}, "tags": ["ok", "y" * 11]},
        "",
        max_size=1000,
        max_depth=8,
        max_text=10,
    )
    assert problems == {
        "address": ["10文字以内で入力してください"],
        "contact.phone": ["10文字以内で入力してください"],
        "tags": ["10文字以内で入力してください"],
    }
    deep = json.loads("[" * 20 + "]" * 20)
    assert list(limits.value_problems({"a": deep}, "payload", max_size=1000, max_depth=8, max_text=10)) == [
        "payload"
    ]
    assert limits.value_problems({"a": "short"}, "payload", max_size=1000, max_depth=8, max_text=10) == {}


def test_one_line_fields_refuse_control_characters():
    for text in ("a\nb", "a\rb", "a\x00", "a\tb", "a\u2028b", "a\x85b"):
        assert limits.has_control_characters(text), repr(text)
    assert not limits.has_control_characters("山田　花子 (ヤマダ)")


def test_the_bounded_parser_reads_what_json_reads_in_any_encoding():
    document = {"名前": "山田", "list": [1, 2.5, None, True], "s": '[[[{{{,,,\\"}}}]]]'}
    text = json.dumps(document, ensure_ascii=False)
    for encoded in (text, text.encode("utf-8"), text.encode("utf-16"), text.encode("utf-32")):
        assert limits.loads(encoded) == document
    with pytest.raises(ValueError):
        limits.loads('{"a": ')
    with pytest.raises(limits.InputTooComplex) as too_many:
        limits.loads("[" + ",".join(["0"] * (limits.JSON_MAX_ITEMS + 1)) + "]")
    assert too_many.value.code == "json_too_large" and too_many.value.status == 400
