"""Loading form-js schemas into flat field lists."""

from __future__ import annotations

import json

import pytest

from tsunagu.forms import FormSchemaError, load_form

SCHEMA = {
    "type": "default",
    "id": "Form_sample",
    "schemaVersion": 16,
    "components": [
        {"type": "text", "text": "## 見出し", "id": "Text_1"},
        {
            "type": "textfield",
            "key": "name",
            "label": "氏名",
            "validate": {"required": True, "maxLength": 50},
        },
        {
            "type": "group",
            "label": "住所",
            "components": [
                {
                    "type": "textfield",
                    "key": "postal_code",
                    "label": "郵便番号",
                    "validate": {"pattern": "^\\d{7}$"},
                },
                {
                    "type": "group",
                    "label": "内側",
                    "components": [{"type": "checkbox", "key": "agree", "label": "同意"}],
                },
            ],
        },
        {
            "type": "group",
            "label": "連絡先",
            "path": "contact",
            "components": [
                {"type": "textfield", "key": "phone", "label": "電話"},
            ],
        },
        {
            "type": "number",
            "key": "size",
            "label": "人数",
            "decimalDigits": 0,
            "validate": {"min": 1, "max": 20},
        },
        {"type": "datetime", "key": "born", "subtype": "date", "dateLabel": "生年月日"},
        {
            "type": "select",
            "key": "urgency",
            "label": "緊急度",
            "values": [{"label": "高", "value": "high"}, {"label": "低", "value": "low"}],
        },
        {"type": "select", "key": "office", "label": "事業所", "valuesKey": "offices"},
        {"type": "spacer", "id": "Spacer_1"},
    ],
}


def test_fields_are_flattened_and_static_components_ignored():
    form = load_form(SCHEMA)
    assert form.id == "Form_sample"
    assert form.schema_version == 16
    assert form.keys == ("name", "postal_code", "agree", "contact.phone", "size", "born", "urgency", "office")


def test_field_attributes():
    form = load_form(SCHEMA)
    name = form.field("name")
    assert (name.type, name.label, name.required, name.max_length) == ("textfield", "氏名", True, 50)
    assert form.field("postal_code").pattern == "^\\d{7}$"
    size = form.field("size")
    assert (size.min, size.max, size.decimal_digits) == (1, 20, 0)
    born = form.field("born")
    assert (born.subtype, born.label) == ("date", "生年月日")
    assert form.field("urgency").option_values == ("high", "low")
    assert form.field("office").dynamic_options
    assert form.field("contact.phone").path == ("contact", "phone")


def test_load_from_a_path_and_a_json_string(tmp_path):
    path = tmp_path / "sample.form"
    path.write_text(json.dumps(SCHEMA, ensure_ascii=False), encoding="utf-8")
    assert load_form(path).keys == load_form(str(path)).keys == load_form(json.dumps(SCHEMA)).keys


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ([], "JSON object"),
        ({"type": "default"}, "components"),
        ({"components": [{"key": "x"}]}, "no type"),
        ({"components": [{"type": "filepicker", "key": "f"}]}, "not supported"),
        ({"components": [{"type": "dynamiclist", "key": "d", "components": []}]}, "not supported"),
        ({"components": [{"type": "textfield"}]}, "key"),
        ({"components": [{"type": "textfield", "key": "a"}, {"type": "textarea", "key": "a"}]}, "duplicate"),
        ({"components": [{"type": "select", "key": "s"}]}, "no options"),
        (
            {"components": [{"type": "textfield", "key": "p", "validate": {"pattern": "("}}]},
            "invalid pattern",
        ),
        ({"components": [{"type": "number", "key": "n", "validate": {"min": "zero"}}]}, "min"),
        ({"components": [{"type": "datetime", "key": "d", "subtype": "week"}]}, "subtype"),
        (
            {"components": [{"type": "textfield", "key": "a"}, {"type": "textfield", "key": "a.b"}]},
            "group path",
        ),
    ],
)
def test_unusable_schemas_are_rejected_with_a_reason(schema, message):
    with pytest.raises(FormSchemaError, match=message):
        load_form(schema)


def test_invalid_json_text_is_rejected():
    with pytest.raises(FormSchemaError, match="not valid JSON"):
        load_form('{"components": [')
