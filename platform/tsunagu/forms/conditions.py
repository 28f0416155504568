"""Which fields of a form are hidden by their ``conditional.hide`` (表示条件), for given data.

One algorithm, mirrored line for line by the browser (``frontend/forms/conditions.js``): walk the fields in
document order; a field is hidden when one of its expressions (its groups', outermost first, then its own)
is exactly ``true``, each expression evaluated once per pass against the data as it stands; a hidden field's
value is cleared to its empty value (``false``, ``[]`` or ``null``) before the fields after it are looked at,
so a condition never depends on a value the person cannot see. Hidden fields are not required and their
values are not stored (validation stores the empty value, so gateway conditions still find the key).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from .feel import compile_expression
from .schema import MULTI_TYPES, FieldSpec, FormSchema

__all__ = ["client_spec", "empty_value", "field_dom_id", "group_dom_id", "hidden_fields"]


def field_dom_id(key: str) -> str:
    """The HTML id of a field's control (``forms/fields.html``)."""
    return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", key)


def group_dom_id(scope: str) -> str:
    """The HTML id of a group's fieldset, from its scope (``components[2]``)."""
    return "g-" + re.sub(r"[^A-Za-z0-9_-]", "-", scope)


def empty_value(spec: FieldSpec) -> Any:
    if spec.type == "checkbox":
        return False
    if spec.type in MULTI_TYPES:
        return []
    return None


def _store(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        nxt = target.get(part)
        if not isinstance(nxt, dict):
            nxt = target[part] = {}
        target = nxt
    target[path[-1]] = value


def hidden_fields(form: FormSchema, data: Mapping[str, Any]) -> set[str]:
    """The keys of the fields hidden for ``data`` (nested, typed values: what validation cleaned)."""
    if not any(spec.hide for spec in form.fields):
        return set()
    context: dict[str, Any] = copy.deepcopy(dict(data))
    results: dict[str, bool] = {}
    hidden: set[str] = set()
    for spec in form.fields:
        is_hidden = False
        for scope, source in spec.hide:
            if scope not in results:
                results[scope] = compile_expression(source).is_true(context)
            if results[scope]:
                is_hidden = True
                break
        if is_hidden:
            hidden.add(spec.key)
            _store(context, spec.path, empty_value(spec))
    return hidden


def client_spec(form: FormSchema) -> list[dict[str, Any]]:
    """What the browser module needs, in document order: each field's key, HTML id, type, conditions
    (scope, FEEL source, the id of the element it hides: the group's fieldset or the field itself), whether
    it is required when shown, and its typed option values (the HTML sends text)."""
    out: list[dict[str, Any]] = []
    for spec in form.fields:
        own = field_dom_id(spec.key)
        entry: dict[str, Any] = {
            "key": spec.key,
            "id": own,
            "type": spec.type,
            "hide": [
                {
                    "scope": scope,
                    "expression": source,
                    "element": own if scope == spec.scope else group_dom_id(scope),
                }
                for scope, source in spec.hide
            ],
            "required": spec.required,
        }
        if spec.options and any(not isinstance(o.value, str) for o in spec.options):
            entry["options"] = [o.value for o in spec.options]
        out.append(entry)
    return out
