"""Server-side rendering of the library's form-js schemas, and reading posted HTML forms back."""

from __future__ import annotations

from pathlib import Path

import pytest
from werkzeug.datastructures import MultiDict

from tsunagu.forms import load_form, validate_submission
from tsunagu.forms.render import Node, parse_submission, render_form

REPO = Path(__file__).resolve().parents[2]
FORMS = sorted((REPO / "workflows").rglob("*.form"))


def _inputs(nodes: list[Node]) -> list[Node]:
    out: list[Node] = []
    for node in nodes:
        if node.kind == "group":
            out.extend(_inputs(node.children))
        elif node.kind != "text":
            out.append(node)
    return out


@pytest.mark.parametrize("path", FORMS, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_every_library_form_renders_every_field_with_a_label(path):
    schema = load_form(path)
    rendered = render_form(schema)
    inputs = _inputs(rendered.nodes)
    assert [n.key for n in inputs] == list(schema.keys)
    for node in inputs:
        assert node.label and node.dom_id.startswith("f-")
        spec = schema.field(node.key)
        assert node.required == (spec.required and not spec.conditional)


def test_client_hints_follow_the_schema():
    schema = load_form(REPO / "workflows/casework/forms/intake.form")
    nodes = {n.key: n for n in _inputs(render_form(schema).nodes)}
    assert nodes["household_size"].attrs == {"min": "1", "max": "20", "step": "1", "inputmode": "numeric"}
    assert nodes["name_kana"].attrs["pattern"].startswith("^[ァ-ヶ")
    assert nodes["name_kana"].attrs["maxlength"] == "100"
    assert nodes["reception_date"].attrs["type"] == "date"
    assert [v for v, _label in nodes["screening_outcome"].options] == [
        "advice_only",
        "refer_elsewhere",
        "continue",
    ]
    static = [n for n in render_form(schema).nodes if n.kind == "text"]
    assert static[0].blocks == [("h2", "相談受付・申込票（A・B）")]


def test_values_and_errors_are_put_back_on_their_fields():
    schema = load_form(REPO / "workflows/casework/forms/intake.form")
    values = {"name": "山田 花子", "consultation_topics": ["income", "debt"], "household_size": 2.0}
    rendered = render_form(schema, values, {"address": ["必須項目です"]})
    nodes = {n.key: n for n in _inputs(rendered.nodes)}
    assert nodes["name"].value == "山田 花子"
    assert nodes["consultation_topics"].value == ["income", "debt"]
    assert nodes["household_size"].value == "2"
    assert nodes["address"].errors == ["必須項目です"]
    assert rendered.error_links() == [("f-address", "住所", "必須項目です")]


def test_a_posted_form_reads_back_into_data_the_validator_accepts():
    schema = load_form(REPO / "workflows/casework/forms/consent.form")
    posted = MultiDict(
        [
            ("consent_application", "true"),
            ("application_date", "2026-11-28"),
            ("signature_date", "2026-11-28"),
            ("consent_agencies", "municipality"),
            ("consent_agencies", "hello_work"),
            ("consent_note", ""),
            ("csrf_token", "x"),
            ("action", "complete"),
        ]
    )
    data = parse_submission(schema, posted)
    assert data["consent_application"] is True and data["signature_confirmed"] is False
    assert data["consent_agencies"] == ["municipality", "hello_work"]
    assert "csrf_token" not in data and "action" not in data
    cleaned, errors = validate_submission(schema, data)
    assert errors == {}
    assert cleaned["consent_note"] is None and cleaned["consent_categories"] == []


def test_group_paths_nest_the_data():
    schema = load_form(
        {
            "components": [
                {
                    "type": "group",
                    "path": "address",
                    "label": "住所",
                    "components": [
                        {
                            "type": "textfield",
                            "key": "city",
                            "label": "市区町村",
                            "validate": {"required": True},
                        },
                    ],
                },
                {"type": "text", "text": "# 見出し\n\n本文です。\n続き"},
            ]
        }
    )
    rendered = render_form(schema, {"address": {"city": "横浜市"}})
    group = rendered.nodes[0]
    assert group.kind == "group" and group.children[0].key == "address.city"
    assert group.children[0].value == "横浜市"
    assert rendered.nodes[1].blocks == [("h2", "見出し"), ("p", "本文です。 続き")]
    assert parse_submission(schema, MultiDict([("address.city", "川崎市")])) == {
        "address": {"city": "川崎市"}
    }
