"""form-js schemas (フォーム定義): loading a form-js JSON document into a flat list of input fields.

The designer (form-js) writes a tree of components. The server only needs the input fields, so groups are
flattened and static components (text, images, spacers, buttons, ...) are ignored. A group with a ``path``
nests its fields' data under that path, like form-js does; a key containing dots (``"address.city"``) does
the same. Component types the server cannot validate (``dynamiclist``, ``filepicker``, ``expression``, ...)
are rejected with :class:`FormSchemaError`, so a form that would let unchecked data through never deploys.

``conditional.hide`` (on a field or a group) is a FEEL expression of the subset in ``forms.feel``, parsed
here: a form with an expression outside the subset does not load. Cross-field rules are a documented
extension at the top level of the form JSON, ``"tsunagu": {"rules": [...]}`` (``forms.rules``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core import limits
from .feel import FeelError, check_types, compile_expression

__all__ = [
    "CHOICE_TYPES",
    "INPUT_TYPES",
    "STATIC_TYPES",
    "FieldSpec",
    "FormSchema",
    "FormSchemaError",
    "Option",
    "load_form",
]

#: Input components the server validates.
INPUT_TYPES = frozenset(
    {"textfield", "textarea", "number", "datetime", "select", "radio", "checkbox", "checklist", "taglist"}
)
#: Components that show something but submit nothing.
STATIC_TYPES = frozenset({"text", "html", "image", "spacer", "separator", "button", "iframe", "table"})
#: Components with a fixed list of options (``values``).
CHOICE_TYPES = frozenset({"select", "radio", "checklist", "taglist"})
#: Components whose value is a list of options.
MULTI_TYPES = frozenset({"checklist", "taglist"})
DATETIME_SUBTYPES = frozenset({"date", "time", "datetime"})

# Form files are small; anything larger is a mistake or an attack.
MAX_FORM_BYTES = 512 * 1024


class FormSchemaError(ValueError):
    """The form-js document cannot be used: the message says which component is wrong."""


@dataclass(frozen=True)
class Option:
    value: Any
    label: str


@dataclass(frozen=True)
class FieldSpec:
    """One input field of a form, flattened out of its groups."""

    key: str  # dotted data path, e.g. "name" or "address.city"
    type: str
    label: str
    required: bool = False
    options: tuple[Option, ...] | None = None  # None: not a choice field, or options come from data
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    validation_type: str | None = None  # form-js validationType: "email" | "phone"
    subtype: str | None = None  # datetime: "date" | "time" | "datetime"
    decimal_digits: int | None = None
    #: the ``conditional.hide`` expressions that apply, outermost group first: (scope, FEEL source), where
    #: scope names the component that declares it (a group's expression hides all of its fields)
    hide: tuple[tuple[str, str], ...] = ()
    path: tuple[str, ...] = ()
    scope: str = ""  # where the component is in the document ("components[2].components[0]")

    @property
    def conditional(self) -> bool:
        """The field has a ``conditional.hide`` (its own or a group's): hidden fields are not required."""
        return bool(self.hide)

    @property
    def option_values(self) -> tuple[Any, ...]:
        return tuple(o.value for o in self.options or ())

    @property
    def dynamic_options(self) -> bool:
        return self.type in CHOICE_TYPES and self.options is None


@dataclass(frozen=True)
class FormSchema:
    id: str
    fields: tuple[FieldSpec, ...]
    schema_version: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: cross-field rules (``forms.rules.Rule``) from ``"tsunagu": {"rules": [...]}``
    rules: tuple[Any, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(f.key for f in self.fields)

    def field(self, key: str) -> FieldSpec:
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)

    def __iter__(self) -> Iterator[FieldSpec]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)


def load_form(source: str | Path | Mapping[str, Any]) -> FormSchema:
    """Load a form-js schema from a file path, a JSON string or an already parsed dict."""
    if isinstance(source, Mapping):
        doc: Any = source
    else:
        doc = _read(source)
    if not isinstance(doc, Mapping):
        raise FormSchemaError("form schema must be a JSON object")
    components = doc.get("components")
    if not isinstance(components, list):
        raise FormSchemaError("form schema has no 'components' list")
    form_id = doc.get("id")
    if form_id is not None and not isinstance(form_id, str):
        raise FormSchemaError("form 'id' must be a string")
    version = doc.get("schemaVersion")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise FormSchemaError("'schemaVersion' must be an integer")

    fields: list[FieldSpec] = []
    _collect(components, (), fields, "components", ())
    seen: set[str] = set()
    for f in fields:
        if f.key in seen:
            raise FormSchemaError(f"duplicate field key '{f.key}'")
        seen.add(f.key)
    # A key that is both a value and a parent of other keys ("a" and "a.b") cannot be stored.
    for f in fields:
        prefix = f.key + "."
        if any(other.startswith(prefix) for other in seen):
            raise FormSchemaError(f"field key '{f.key}' is also used as a group path")
    _check_condition_types(fields)
    from .rules import parse_rules  # rules refer to the fields, so they are read after them

    by_key = {f.key: f for f in fields}
    return FormSchema(
        id=form_id or "",
        fields=tuple(fields),
        schema_version=version,
        raw=doc,
        rules=parse_rules(doc.get("tsunagu"), by_key),
    )


def _read(source: str | Path) -> Any:
    text: str
    if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith("{")):
        path = Path(source)
        if path.stat().st_size > MAX_FORM_BYTES:
            raise FormSchemaError(f"form file is larger than {MAX_FORM_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    else:
        text = str(source)
        if len(text.encode("utf-8")) > MAX_FORM_BYTES:
            raise FormSchemaError(f"form schema is larger than {MAX_FORM_BYTES} bytes")
    try:
        return limits.loads(text)  # bounded depth and size (issue #10)
    except limits.InputTooComplex as exc:
        raise FormSchemaError(f"form schema is too complex: {exc.message}") from exc
    except ValueError as exc:
        raise FormSchemaError(f"form schema is not valid JSON: {exc}") from exc


def _value_type(spec: FieldSpec) -> str:
    if spec.type == "checkbox":
        return "boolean"
    if spec.type == "number":
        return "number"
    if spec.type in MULTI_TYPES:
        return "list"
    if spec.type in CHOICE_TYPES:
        kinds = {
            "boolean"
            if isinstance(o.value, bool)
            else "number"
            if isinstance(o.value, int | float)
            else "string"
            if isinstance(o.value, str)
            else "any"
            for o in spec.options or ()
        }
        return kinds.pop() if len(kinds) == 1 else ("string" if not kinds else "any")
    return "string"  # text, dates and times (ISO strings)


def _check_condition_types(fields: list[FieldSpec]) -> None:
    types: dict[str, str] = {}
    for spec in fields:
        types[spec.key] = _value_type(spec)
        for i in range(1, len(spec.path)):
            types.setdefault(".".join(spec.path[:i]), "context")
    checked: set[str] = set()
    for spec in fields:
        for scope, source in spec.hide:
            if scope in checked:
                continue
            checked.add(scope)
            try:
                check_types(compile_expression(source), types)
            except FeelError as exc:
                raise FormSchemaError(f"{scope}: conditional.hide {source[:80]!r}: {exc}") from None


def _hide(comp: Mapping[str, Any], here: str) -> tuple[tuple[str, str], ...]:
    """The component's own ``conditional.hide`` as ((scope, source),), checked against the FEEL subset."""
    conditional = comp.get("conditional")
    if conditional is None:
        return ()
    if not isinstance(conditional, Mapping):
        raise FormSchemaError(f"{here}: 'conditional' must be an object")
    source = conditional.get("hide")
    if source is None or source == "":
        return ()
    try:
        compile_expression(source)
    except FeelError as exc:
        raise FormSchemaError(f"{here}: conditional.hide {str(source)[:80]!r}: {exc}") from None
    return ((here, str(source)),)


def _collect(
    components: list[Any],
    path: tuple[str, ...],
    out: list[FieldSpec],
    where: str,
    hide: tuple[tuple[str, str], ...],
) -> None:
    for index, comp in enumerate(components):
        here = f"{where}[{index}]"
        if not isinstance(comp, Mapping):
            raise FormSchemaError(f"{here}: component must be an object")
        ctype = comp.get("type")
        if not isinstance(ctype, str):
            raise FormSchemaError(f"{here}: component has no type")
        if ctype in STATIC_TYPES:
            continue
        if ctype == "group":
            children = comp.get("components", [])
            if not isinstance(children, list):
                raise FormSchemaError(f"{here}: group 'components' must be a list")
            group_path = path + _split_path(comp.get("path"), here) if comp.get("path") else path
            _collect(children, group_path, out, f"{here}.components", hide + _hide(comp, here))
            continue
        if ctype not in INPUT_TYPES:
            raise FormSchemaError(f"{here}: component type '{ctype}' is not supported")
        out.append(_field(comp, ctype, path, here, hide + _hide(comp, here)))


def _split_path(value: Any, here: str) -> tuple[str, ...]:
    if not isinstance(value, str) or not value.strip():
        raise FormSchemaError(f"{here}: key/path must be a non-empty string")
    parts = tuple(value.split("."))
    if any(not p for p in parts):
        raise FormSchemaError(f"{here}: key/path '{value}' has an empty segment")
    return parts


def _field(
    comp: Mapping[str, Any],
    ctype: str,
    path: tuple[str, ...],
    here: str,
    hide: tuple[tuple[str, str], ...],
) -> FieldSpec:
    full_path = path + _split_path(comp.get("key"), here)
    key = ".".join(full_path)
    validate = comp.get("validate") or {}
    if not isinstance(validate, Mapping):
        raise FormSchemaError(f"{here} ({key}): 'validate' must be an object")
    label = comp.get("label") or comp.get("dateLabel") or comp.get("timeLabel") or key

    options: tuple[Option, ...] | None = None
    if ctype in CHOICE_TYPES:
        values = comp.get("values")
        if values is not None:
            if not isinstance(values, list) or not values:
                raise FormSchemaError(f"{here} ({key}): 'values' must be a non-empty list")
            opts = []
            for v in values:
                if not isinstance(v, Mapping) or "value" not in v:
                    raise FormSchemaError(f"{here} ({key}): each option needs a 'value'")
                opts.append(Option(value=v["value"], label=str(v.get("label", v["value"]))))
            options = tuple(opts)
        elif not (comp.get("valuesKey") or comp.get("valuesExpression")):
            raise FormSchemaError(f"{here} ({key}): choice field has no options")

    subtype = None
    if ctype == "datetime":
        subtype = comp.get("subtype", "date")
        if subtype not in DATETIME_SUBTYPES:
            raise FormSchemaError(f"{here} ({key}): unknown datetime subtype '{subtype}'")

    pattern = validate.get("pattern")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise FormSchemaError(f"{here} ({key}): 'pattern' must be a string")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise FormSchemaError(f"{here} ({key}): invalid pattern: {exc}") from exc

    decimal_digits = comp.get("decimalDigits")
    if decimal_digits is not None and (not isinstance(decimal_digits, int) or decimal_digits < 0):
        raise FormSchemaError(f"{here} ({key}): 'decimalDigits' must be a non-negative integer")

    return FieldSpec(
        key=key,
        type=ctype,
        label=str(label),
        required=bool(validate.get("required", False)),
        options=options,
        min=_number(validate.get("min"), here, "min"),
        max=_number(validate.get("max"), here, "max"),
        min_length=_length(validate.get("minLength"), here, "minLength"),
        max_length=_length(validate.get("maxLength"), here, "maxLength"),
        pattern=pattern,
        validation_type=validate.get("validationType") or None,
        subtype=subtype,
        decimal_digits=decimal_digits,
        hide=hide,
        path=full_path,
        scope=here,
    )


def _number(value: Any, here: str, name: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FormSchemaError(f"{here}: '{name}' must be a number")
    return value


def _length(value: Any, here: str, name: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FormSchemaError(f"{here}: '{name}' must be a non-negative integer")
    return value
