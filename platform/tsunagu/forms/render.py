"""Server-side rendering of form-js schemas (フォームの表示): form-js JSON → a tree of render nodes.

The template ``forms/fields.html`` turns the nodes into plain HTML form controls, so a task form works with
JavaScript disabled and every control has a label. Supported: ``textfield``, ``textarea``, ``number``,
``datetime`` (date / time / datetime), ``select``, ``radio``, ``checkbox``, ``checklist`` (and ``taglist``
as a checklist), ``group`` (a fieldset; its ``path`` nests the data) and static ``text`` (a small Markdown
subset: ``#`` headings and paragraphs). Other static components (html, image, iframe, ...) are not shown:
the server never puts tenant-supplied markup on a page.

Client hints mirror the server rules (``required``, ``min``/``max``, ``minlength``/``maxlength``, ``step``
and, for anchored patterns only, ``pattern``); :func:`tsunagu.forms.validation.validate_submission` is the
real check. ``parse_submission`` turns a posted HTML form back into the nested data form-js would submit.

Conditions (``conditional.hide``): every field and group is rendered, and ``RenderedForm.conditions`` gives
the browser module (``frontend/forms/conditions.js``) the form's fields and their FEEL expressions; it hides
and shows them live and disables hidden controls, so they are neither required nor sent. Without
JavaScript every field shows and a conditional field is not marked required; the server decides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from .conditions import client_spec, field_dom_id, group_dom_id
from .schema import FieldSpec, FormSchema
from .validation import text_limit

__all__ = ["Node", "RenderedForm", "parse_submission", "render_form", "value_at"]

_MULTI = frozenset({"checklist", "taglist"})
_INPUT = frozenset(
    {"textfield", "textarea", "number", "datetime", "select", "radio", "checkbox", "checklist", "taglist"}
)


@dataclass
class Node:
    kind: str  # input type, "group" or "text"
    key: str = ""  # dotted data path (the HTML name)
    dom_id: str = ""
    label: str = ""
    description: str = ""
    required: bool = False
    options: list[tuple[str, str]] = field(default_factory=list)  # (value as text, label)
    attrs: dict[str, str] = field(default_factory=dict)  # extra HTML attributes (client hints)
    value: Any = None  # str for single values, list[str] for multi, bool for checkbox
    errors: list[str] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    blocks: list[tuple[str, str]] = field(default_factory=list)  # text: ("h2" | "h3" | "p", text)
    subtype: str = ""
    required_when_shown: bool = False  # conditional and required: marked required while it shows


@dataclass
class RenderedForm:
    nodes: list[Node]
    errors: dict[str, list[str]]
    #: for the browser module: the fields in document order with their conditions; empty without any
    conditions: list[dict[str, Any]] = field(default_factory=list)

    def error_links(self) -> list[tuple[str, str, str]]:
        """(dom id, label, message) for the error summary at the top of the form."""
        out: list[tuple[str, str, str]] = []

        def walk(nodes: list[Node]) -> None:
            for n in nodes:
                if n.errors:
                    out.append((n.dom_id, n.label, n.errors[0]))
                walk(n.children)

        walk(self.nodes)
        return out


def value_at(data: Mapping[str, Any] | None, key: str) -> Any:
    current: Any = data or {}
    for part in key.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = current[part]
    return current


_dom_id = field_dom_id


def _text(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _markdown_blocks(text: str) -> list[tuple[str, str]]:
    blocks: list[tuple[str, str]] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(("p", " ".join(paragraph)))
            paragraph.clear()

    for line in text.splitlines():
        stripped = line.strip()
        heading = re.match(r"^(#{1,6})\s+(.*)$", stripped)
        if heading:
            flush()
            level = min(max(len(heading.group(1)), 2), 4)  # the page owns h1; form headings start at h2
            blocks.append((f"h{level}", heading.group(2).strip()))
        elif not stripped:
            flush()
        else:
            paragraph.append(stripped.replace("**", ""))
    flush()
    return blocks


def _hints(comp: Mapping[str, Any], ctype: str, subtype: str) -> dict[str, str]:
    validate = comp.get("validate") or {}
    attrs: dict[str, str] = {}
    if ctype in ("textfield", "textarea"):
        declared = validate.get("maxLength")
        attrs["maxlength"] = str(text_limit(ctype, declared if isinstance(declared, int) else None))
        if isinstance(validate.get("minLength"), int):
            attrs["minlength"] = str(validate["minLength"])
        pattern = validate.get("pattern")
        # HTML anchors patterns and uses JavaScript syntax; hint only patterns that mean the same there.
        if (
            isinstance(pattern, str)
            and pattern.startswith("^")
            and pattern.endswith("$")
            and "(?P" not in pattern
        ):
            attrs["pattern"] = pattern
        if validate.get("validationType") == "email":
            attrs["type"] = "email"
        elif validate.get("validationType") == "phone":
            attrs["type"] = "tel"
    if ctype == "number":
        for name in ("min", "max"):
            if isinstance(validate.get(name), int | float) and not isinstance(validate.get(name), bool):
                attrs[name] = _text(validate[name])
        digits = comp.get("decimalDigits")
        attrs["step"] = (
            "1" if digits == 0 else ("any" if digits is None else f"{10 ** -int(digits):.{digits}f}")
        )
        attrs["inputmode"] = "numeric" if digits == 0 else "decimal"
    if ctype == "datetime":
        attrs["type"] = {"date": "date", "time": "time", "datetime": "datetime-local"}.get(subtype, "date")
    return attrs


def render_form(
    schema: FormSchema,
    values: Mapping[str, Any] | None = None,
    errors: Mapping[str, list[str]] | None = None,
) -> RenderedForm:
    """Render nodes for ``schema`` filled with ``values`` (nested data) and ``errors`` (by dotted key)."""
    errs = dict(errors or {})
    specs = {spec.key: spec for spec in schema.fields}
    nodes = _components(schema.raw.get("components") or [], (), values or {}, errs, specs, "components")
    conditional = any(spec.hide for spec in schema.fields)
    return RenderedForm(nodes=nodes, errors=errs, conditions=client_spec(schema) if conditional else [])


def _components(
    components: list[Any],
    path: tuple[str, ...],
    values: Mapping[str, Any],
    errors: Mapping[str, list[str]],
    specs: Mapping[str, FieldSpec],
    where: str,
) -> list[Node]:
    nodes: list[Node] = []
    for index, comp in enumerate(components):
        here = f"{where}[{index}]"
        if not isinstance(comp, Mapping):
            continue
        ctype = comp.get("type")
        if ctype == "text":
            blocks = _markdown_blocks(str(comp.get("text") or ""))
            if blocks:
                nodes.append(Node(kind="text", blocks=blocks))
        elif ctype == "group":
            sub = path + tuple(str(comp["path"]).split(".")) if comp.get("path") else path
            children = _components(
                comp.get("components") or [], sub, values, errors, specs, f"{here}.components"
            )
            # the id names the group's scope, as in FieldSpec.hide: the browser module finds it by that
            nodes.append(
                Node(
                    kind="group",
                    dom_id=group_dom_id(here),
                    label=str(comp.get("label") or ""),
                    children=children,
                )
            )
        elif ctype in _INPUT and comp.get("key"):
            nodes.append(_input(comp, str(ctype), path, values, errors, specs))
    return nodes


def _input(
    comp: Mapping[str, Any],
    ctype: str,
    path: tuple[str, ...],
    values: Mapping[str, Any],
    errors: Mapping[str, list[str]],
    specs: Mapping[str, FieldSpec],
) -> Node:
    key = ".".join((*path, *str(comp["key"]).split(".")))
    spec = specs.get(key)
    validate = comp.get("validate") or {}
    subtype = str(comp.get("subtype") or "date") if ctype == "datetime" else ""
    raw = value_at(values, key)
    value: Any
    if ctype in _MULTI:
        items = raw if isinstance(raw, list | tuple) else ([raw] if raw not in (None, "") else [])
        value = [_text(v) for v in items]
    elif ctype == "checkbox":
        value = raw is True or (isinstance(raw, str) and raw.lower() in ("true", "on", "1", "yes"))
    else:
        value = _text(raw)
    options = [(_text(o.get("value")), str(o.get("label", o.get("value")))) for o in comp.get("values") or []]
    label = comp.get("label") or comp.get("dateLabel") or comp.get("timeLabel") or key
    return Node(
        kind="taglist" if ctype == "taglist" else ctype,
        key=key,
        dom_id=_dom_id(key),
        label=str(label),
        description=str(comp.get("description") or ""),
        # a conditional field is required only when shown: the browser module marks it, the server checks
        required=bool(validate.get("required")) and not (spec is not None and spec.conditional),
        required_when_shown=bool(validate.get("required")) and spec is not None and spec.conditional,
        options=options,
        attrs=_hints(comp, ctype, subtype),
        value=value,
        errors=list(errors.get(key, [])),
        subtype=subtype,
    )


def parse_submission(schema: FormSchema, form: MultiDict[str, str]) -> dict[str, Any]:
    """The posted HTML form as the nested data form-js would submit (values stay text; validation coerces)."""
    data: dict[str, Any] = {}
    for spec in schema.fields:
        if spec.type in _MULTI:
            value: Any = [v for v in form.getlist(spec.key) if v != ""]
        elif spec.type == "checkbox":
            value = form.get(spec.key) in ("true", "on", "1", "yes")
        elif spec.key in form:
            value = form.get(spec.key, "")
        else:
            continue
        target = data
        for part in spec.path[:-1]:
            target = target.setdefault(part, {})
        target[spec.path[-1]] = value
    return data
