"""form-js ``conditional.hide`` (FEEL) on the server: the subset, its agreement with feelin (the browser's
interpreter, run here with node), hidden fields in validation, and the standard library's consent form."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tsunagu.forms import load_form, validate_submission
from tsunagu.forms.conditions import client_spec, hidden_fields
from tsunagu.forms.feel import MAX_SOURCE_CHARS, FeelError, compile_expression, evaluate
from tsunagu.forms.schema import FormSchemaError

REPO = Path(__file__).resolve().parents[2]
FORMS = REPO / "workflows" / "casework" / "forms"

#: (expression, data): every construct of the subset, with the awkward values (missing names, nulls,
#: values of another type, singleton lists) where FEEL's answers are easy to get wrong
CASES: list[tuple[str, dict[str, Any]]] = [
    ("not(a)", {"a": False}),
    ("not(a)", {"a": True}),
    ("not(a)", {}),
    ("not(a)", {"a": 1}),
    ("a = 1", {"a": "1"}),
    ("a = 1", {"a": 1}),
    ("a = 2.0", {"a": 2}),
    ("a = null", {}),
    ("a = null", {"a": ""}),
    ("a != null", {"a": "x"}),
    ("a != null", {}),
    ("a != 1", {"a": "1"}),
    ('a != "referral"', {"a": "referral"}),
    ("a < 3", {"a": None}),
    ("3 < a", {}),
    ('a < "b"', {"a": "a"}),
    ("a >= 18", {"a": 18}),
    ("a > 1.5", {"a": 2}),
    ("-1 < a", {"a": 0}),
    ('d <= "2026-01-01"', {"d": "2025-12-31"}),
    ("true and a", {"a": 1}),
    ("false and a", {"a": 1}),
    ("true or a", {"a": 1}),
    ("false or a", {"a": 1}),
    ("false or a", {"a": False}),
    ("(a or b) and c", {"a": True, "c": True}),
    ("a and not(b)", {"a": True, "b": None}),
    ('list contains(t, "x")', {"t": ["x", "y"]}),
    ('list contains(t, "z")', {"t": ["x", "y"]}),
    ('list contains(t, "x")', {"t": None}),
    ("list contains(t, null)", {"t": [None, 1]}),
    ("count(t) > 1", {"t": [1, 2]}),
    ("count(t)", {"t": []}),
    ("string length(s)", {"s": "あいう"}),
    ("a.b = 2", {"a": {"b": 2}}),
    ("a.b = 2", {"a": 3}),
    ("a = [1, 2]", {"a": [1, 2]}),
    ("a = b", {"a": [1], "b": 1}),
    ("a = b", {"a": [], "b": None}),
    ("a != b", {"a": [1, 2], "b": [1, 2]}),
    ('a = "x\\"y"', {"a": 'x"y'}),
    ("申込 = true", {"申込": True}),
    ('not(a = "x")', {"a": 1}),
]

NODE_SCRIPT = """
import { evaluate } from %s;
const cases = JSON.parse(process.argv[1]);
const out = cases.map(([e, c]) => { try { return evaluate(e, c).value ?? null; } catch (x) { return "error"; } });
console.log(JSON.stringify(out));
"""


def _feelin(cases: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    module = REPO / "node_modules" / "@bpmn-io" / "feelin" / "dist" / "index.js"
    assert module.exists(), "npm ci installs @bpmn-io/feelin (make install)"
    node = shutil.which("node")
    assert node, "node is needed to build the assets, and here to run feelin"
    script = NODE_SCRIPT % json.dumps(module.as_uri())
    result = subprocess.run(
        [node, "--input-type=module", "-e", script, json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return list(json.loads(result.stdout))


def test_the_subset_gives_what_feelin_gives_in_the_browser():
    expected = _feelin(CASES)
    got = [evaluate("=" + source, data) for source, data in CASES]
    mismatches = [
        (source, data, want, have)
        for (source, data), want, have in zip(CASES, expected, got, strict=True)
        if want != have or type(want) is not type(have)
    ]
    assert mismatches == []
    assert got.count(True) >= 15 and got.count(None) >= 10  # the table exercises both


@pytest.mark.parametrize(
    "source",
    [
        "not(a)",  # no leading "="
        "=",
        "=a + 1",
        "=some x in t satisfies x = 1",
        "=if a then b else c",
        "=upper case(a)",
        "=not(a, b)",
        "=a = 1 = 2",
        "=a.and",
        "=(a",
        "=[1, 2",
        '="unterminated',
        "=a ; b",
        "=" + "(" * 30 + "a" + ")" * 30,
        "=" + " or ".join(["a"] * 150),
        "=" + "a" * MAX_SOURCE_CHARS,
    ],
)
def test_expressions_outside_the_subset_are_refused(source):
    with pytest.raises(FeelError):
        compile_expression(source)


def _form(*components: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "default", "id": "Form_t", "components": list(components), **extra}


CHECK = {"type": "checkbox", "key": "applied", "label": "申込"}
COUNT = {"type": "number", "key": "size", "label": "人数"}
TOPICS = {
    "type": "checklist",
    "key": "topics",
    "label": "相談",
    "values": [{"label": "債務", "value": "debt"}],
}


@pytest.mark.parametrize(
    "hide",
    [
        "=applied < 3",  # a boolean ordered against a number
        '=size < "3"',
        "=count(size) > 1",
        "=list contains(applied, true)",
        "=string length(size) > 2",
        "=size +",
    ],
)
def test_a_form_with_a_condition_outside_the_subset_does_not_load(hide):
    date_field = {"type": "textfield", "key": "note", "label": "備考", "conditional": {"hide": hide}}
    with pytest.raises(FormSchemaError, match=r"components\[3\]: conditional.hide"):
        load_form(_form(CHECK, COUNT, TOPICS, date_field))


def test_typed_conditions_on_the_fields_load():
    note = {
        "type": "textfield",
        "key": "note",
        "label": "備考",
        "conditional": {"hide": '=not(applied) or size >= 3 or list contains(topics, "debt")'},
    }
    form = load_form(_form(CHECK, COUNT, TOPICS, note))
    assert form.field("note").conditional
    assert hidden_fields(form, {"applied": True, "size": 1, "topics": []}) == set()
    assert hidden_fields(form, {"applied": True, "size": 4, "topics": []}) == {"note"}
    assert hidden_fields(form, {"applied": True, "size": None, "topics": ["debt"]}) == {"note"}


def test_a_group_condition_hides_every_field_of_the_group_and_a_hidden_value_hides_no_further():
    form = load_form(
        _form(
            CHECK,
            {
                "type": "group",
                "label": "申込の記録",
                "conditional": {"hide": "=not(applied)"},
                "components": [
                    {"type": "checkbox", "key": "signed", "label": "署名"},
                    {"type": "datetime", "key": "signed_on", "subtype": "date", "label": "署名日"},
                ],
            },
            {
                "type": "textfield",
                "key": "why_unsigned",
                "label": "署名がない理由",
                "validate": {"required": True},
                # reads a field of the hidden group: its value is cleared first, so this stays shown
                "conditional": {"hide": "=signed"},
            },
        )
    )
    assert form.field("signed_on").hide == (("components[1]", "=not(applied)"),)
    assert hidden_fields(form, {"applied": False, "signed": True}) == {"signed", "signed_on"}
    cleaned, errors = validate_submission(form, {"applied": False, "signed": True, "signed_on": "x"})
    assert cleaned == {"applied": False, "signed": False, "signed_on": None}  # why_unsigned: an error
    assert errors == {"why_unsigned": ["必須項目です"]}
    cleaned, errors = validate_submission(
        form, {"applied": True, "signed": True, "signed_on": "2026-04-01", "why_unsigned": "x"}
    )
    assert errors == {} and cleaned["why_unsigned"] is None and cleaned["signed_on"] == "2026-04-01"


def test_the_browser_gets_the_fields_in_document_order_with_their_conditions():
    form = load_form(FORMS / "consent.form")
    spec = {entry["key"]: entry for entry in client_spec(form)}
    assert list(spec)[:4] == [
        "consent_application",
        "application_date",
        "signature_confirmed",
        "signature_date",
    ]
    assert spec["application_date"]["hide"] == [
        {"scope": "components[2]", "expression": "=not(consent_application)", "element": "f-application_date"}
    ]
    assert spec["application_date"]["required"] is True
    assert spec["consent_application"]["hide"] == []


# --- the standard library ------------------------------------------------------------------------------
CONSENT = load_form(FORMS / "consent.form")


def test_no_application_needs_neither_application_nor_signature_date_and_keeps_none_of_them():
    cleaned, errors = validate_submission(
        CONSENT,
        {"consent_application": False, "application_date": "2026-04-01", "signature_confirmed": "on"},
    )
    assert errors == {}
    assert cleaned["consent_application"] is False
    assert cleaned["application_date"] is None  # typed, but hidden: not stored
    assert cleaned["signature_confirmed"] is False
    assert cleaned["signature_date"] is None


def test_an_application_needs_its_dates():
    _, errors = validate_submission(CONSENT, {"consent_application": True})
    assert errors == {"application_date": ["必須項目です"], "signature_date": ["必須項目です"]}
    _, errors = validate_submission(CONSENT, {"consent_application": "true"}, lang="en")
    assert errors["application_date"] == ["This field is required"]


def test_intake_asks_for_the_referral_fields_only_where_they_apply():
    intake = load_form(FORMS / "intake.form")
    office = {"contact_route": "office", "screening_outcome": "continue"}
    assert hidden_fields(intake, office) == {"referral_source", "referral_target"}
    referred = {"contact_route": "referral", "screening_outcome": "refer_elsewhere"}
    assert hidden_fields(intake, referred) == set()
