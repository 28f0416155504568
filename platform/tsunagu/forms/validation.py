"""Server-side validation of a form submission against its form-js schema (入力チェック).

``validate_submission(form, data)`` returns ``(cleaned, errors)``:

* ``cleaned`` holds every field of the form and nothing else, with coerced types: numbers become ``int`` or
  ``float``, dates ISO ``YYYY-MM-DD`` strings, checkboxes ``bool`` (missing = ``False``), checklists a list
  of allowed values (missing = ``[]``), other missing or empty fields ``None``. Fields inside a group with a
  ``path`` (or with a dotted key) are nested the same way form-js nests them.
* ``errors`` maps a field key to its messages, Japanese by default (``lang="en"`` for English).

Unknown keys in ``data`` are dropped silently, not reported: the browser may send extra keys (buttons,
fields of another form version) and task data must only ever receive what the form declares. A field with
an error is left out of ``cleaned``; callers must refuse the submission when ``errors`` is not empty.

Semantics follow form-js: ``required`` fails on a missing value, ``""``, an empty list or an unchecked
checkbox; ``pattern`` is searched, not anchored, like JavaScript's ``RegExp.test`` (anchor with ``^...$``).
``conditional.hide`` expressions (FEEL, ``forms.feel``) are evaluated on the cleaned values
(``forms.conditions``): a hidden field is neither required nor validated, and whatever was sent for it is
dropped — ``cleaned`` holds its empty value (``False``, ``[]`` or ``None``). A shown field is required when
it says so. Then the form's cross-field rules (``forms.rules``: dates not in the future, a plan's end date
against its period) are checked on the visible, valid fields; a rule about two fields reports on both.

Inputs are bounded before they are converted (issue #10, limits in ``core.limits``): a number typed as text
is refused past ``NUMBER_TEXT_MAX`` characters or an exponent past ``NUMBER_EXPONENT_MAX`` (``"1e10000000"``
once made ``int(Decimal(...))`` build a ten-million-digit integer), and a number field without ``min`` /
``max`` accepts magnitudes up to ``NUMBER_MAX``; a text field without ``maxLength`` takes at most
``TEXTFIELD_MAX`` / ``TEXTAREA_MAX`` characters (and none more than ``TEXT_MAX``); a checklist at most
``MAX_CHOICES`` values.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from ..core import limits
from .conditions import empty_value, hidden_fields
from .rules import check_rules
from .schema import MULTI_TYPES, FieldSpec, FormSchema

JST = ZoneInfo("Asia/Tokyo")

__all__ = ["MESSAGES", "messages", "text_limit", "translate", "validate_submission"]

MESSAGES: dict[str, dict[str, str]] = {
    "ja": {
        "required": "必須項目です",
        "not_text": "文字列を入力してください",
        "not_number": "数値を入力してください",
        "not_integer": "整数を入力してください",
        "decimal_digits": "小数点以下は{digits}桁以内で入力してください",
        "min": "{min}以上の値を入力してください",
        "max": "{max}以下の値を入力してください",
        "min_length": "{n}文字以上で入力してください",
        "max_length": "{n}文字以内で入力してください",
        "pattern": "形式が正しくありません",
        "email": "メールアドレスの形式が正しくありません",
        "phone": "電話番号の形式が正しくありません",
        "not_option": "選択肢にない値です",
        "not_list": "選択肢の一覧で指定してください",
        "not_boolean": "チェックの値が正しくありません",
        "date": "日付の形式が正しくありません（YYYY-MM-DD）",
        "time": "時刻の形式が正しくありません（HH:MM）",
        "datetime": "日時の形式が正しくありません（YYYY-MM-DDTHH:MM）",
        "number_too_long": "数値は{n}文字以内で入力してください",
        "too_many": "選択は{n}個までです",
        "future_date": "未来の日付は入力できません",
        "not_before": "{other}より前の日付は入力できません",
        "period_end": "プランの期間（{period}）と{start}から、{expected}の前後{days}日以内の日付にしてください",
        "period_mismatch": "{end}と合いません（{value}）",
    },
    "en": {
        "required": "This field is required",
        "not_text": "Enter text",
        "not_number": "Enter a number",
        "not_integer": "Enter a whole number",
        "decimal_digits": "Use at most {digits} decimal places",
        "min": "Enter a value of {min} or more",
        "max": "Enter a value of {max} or less",
        "min_length": "Enter at least {n} characters",
        "max_length": "Enter at most {n} characters",
        "pattern": "The format is not valid",
        "email": "Enter a valid email address",
        "phone": "Enter a valid phone number",
        "not_option": "This value is not one of the options",
        "not_list": "Choose from the list of options",
        "not_boolean": "The checkbox value is not valid",
        "date": "The date format is not valid (YYYY-MM-DD)",
        "time": "The time format is not valid (HH:MM)",
        "datetime": "The date and time format is not valid (YYYY-MM-DDTHH:MM)",
        "number_too_long": "Enter a number of at most {n} characters",
        "too_many": "Choose at most {n}",
        "future_date": "The date cannot be in the future",
        "not_before": "The date cannot be before {other}",
        "period_end": "With the period ({period}) and {start}, use a date within {days} days of {expected}",
        "period_mismatch": "Does not match {end} ({value})",
    },
}
DEFAULT_LANG = "ja"

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(:[0-5]\d)?$")
_INT_RE = re.compile(r"^[+-]?\d+$")
_EMAIL_RE = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")
_PHONE_RE = re.compile(r"^\+?[\d\s\-()]{6,20}$")
_TRUE = {"true", "on", "1", "yes"}
_FALSE = {"false", "off", "0", "no", ""}
_MISSING = object()


def messages(lang: str = DEFAULT_LANG) -> dict[str, str]:
    """The message catalogue for ``lang`` (``"ja"`` or ``"en"``; anything else falls back to Japanese)."""
    return dict(MESSAGES.get(lang, MESSAGES[DEFAULT_LANG]))


def translate(code: str, lang: str = DEFAULT_LANG, **params: Any) -> str:
    """Render one message by code, e.g. ``translate("max_length", "en", n=50)``."""
    template = MESSAGES.get(lang, MESSAGES[DEFAULT_LANG]).get(code) or MESSAGES[DEFAULT_LANG][code]
    return template.format(**{k: _fmt(v) for k, v in params.items()})


class _Invalid(Exception):
    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


def validate_submission(
    form: FormSchema,
    data: dict[str, Any] | None,
    lang: str = DEFAULT_LANG,
    *,
    today: date | None = None,
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Validate and coerce a submission; see the module docstring for the rules. ``today``: the date the
    rules compare with (default: today in Japan)."""
    data = data if isinstance(data, dict) else {}
    values: dict[str, Any] = {}
    failed: dict[str, _Invalid] = {}
    context: dict[str, Any] = {}
    for spec in form.fields:
        try:
            values[spec.key] = _clean(spec, _lookup(data, spec.path))
        except _Invalid as exc:
            failed[spec.key] = exc
        _store(context, spec.path, values.get(spec.key, empty_value(spec)))
    hidden = hidden_fields(form, context)

    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for spec in form.fields:
        if spec.key in hidden:
            _store(cleaned, spec.path, empty_value(spec))
            continue
        if spec.key in failed:
            invalid = failed[spec.key]
            errors.setdefault(spec.key, []).append(translate(invalid.code, lang, **invalid.params))
            continue
        value = values[spec.key]
        if spec.required and _blank(spec, value):
            errors.setdefault(spec.key, []).append(translate("required", lang))
            continue
        _store(cleaned, spec.path, value)
    if form.rules:
        found = check_rules(
            form.rules,
            {spec.key: spec for spec in form.fields},
            cleaned,
            hidden | set(errors),
            today or datetime.now(JST).date(),
            lambda code, **params: translate(code, lang, **params),
        )
        for key, messages_ in found.items():
            errors.setdefault(key, []).extend(messages_)
    return cleaned, errors


def _blank(spec: FieldSpec, value: Any) -> bool:
    if spec.type == "checkbox":
        return value is not True
    if spec.type in MULTI_TYPES:
        return not value
    return value is None


# ---- lookup and storage ------------------------------------------------------------------------------
def _lookup(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    current: Any = data
    for part in path:
        if not isinstance(current, dict) or part not in current:
            return _MISSING
        current = current[part]
    return current


def _store(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


# ---- per-type cleaning -------------------------------------------------------------------------------
def _is_empty(value: Any) -> bool:
    if value is _MISSING or value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, list | tuple):
        return len(value) == 0
    return False


def _clean(spec: FieldSpec, raw: Any) -> Any:
    """The typed value of one field (``required`` is checked by the caller, once it knows it is shown)."""
    if spec.type == "checkbox":
        return _boolean(raw)
    if spec.type in MULTI_TYPES:
        return _multi(spec, raw)
    if _is_empty(raw):
        return None
    if spec.type in ("textfield", "textarea"):
        return _text(spec, raw)
    if spec.type == "number":
        return _number(spec, raw)
    if spec.type == "datetime":
        return _datetime(spec, raw)
    if spec.type in ("select", "radio"):
        return _choice(spec, raw)
    raise AssertionError(f"unhandled field type {spec.type}")  # pragma: no cover - schema guards this


def _boolean(raw: Any) -> bool:
    if raw is _MISSING or raw is None:
        return False
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise _Invalid("not_boolean")


def _multi(spec: FieldSpec, raw: Any) -> list[Any]:
    if raw is _MISSING or raw is None or raw == "":
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple):
        raise _Invalid("not_list")
    if len(raw) > limits.MAX_CHOICES:
        raise _Invalid("too_many", n=limits.MAX_CHOICES)
    result: list[Any] = []
    for item in raw:
        value = _option(spec, item)
        if value not in result:
            result.append(value)
    return result


def _option(spec: FieldSpec, value: Any) -> Any:
    if isinstance(value, dict | list | tuple | set):
        raise _Invalid("not_option")
    if spec.options is None:  # options come from data at run time; accept any scalar of sensible size
        if isinstance(value, str) and len(value) > limits.TEXTFIELD_MAX:
            raise _Invalid("max_length", n=limits.TEXTFIELD_MAX)
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > limits.NUMBER_MAX:
            raise _Invalid("not_option")
        return value
    for option in spec.options:
        if option.value == value and type(option.value) is type(value):
            return option.value
    # the browser may send numbers as strings
    for option in spec.options:
        if not isinstance(option.value, str) and str(option.value) == str(value):
            return option.value
    raise _Invalid("not_option")


def _choice(spec: FieldSpec, raw: Any) -> Any:
    return _option(spec, raw)


def text_limit(field_type: str, max_length: int | None) -> int:
    """The most characters a text field takes: its declared ``maxLength``, else the platform default for
    its type, and never more than ``TEXT_MAX``."""
    if max_length is None:
        max_length = limits.TEXTAREA_MAX if field_type == "textarea" else limits.TEXTFIELD_MAX
    return min(max_length, limits.TEXT_MAX)


def _text(spec: FieldSpec, raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise _Invalid("not_text")
    if isinstance(raw, int) and abs(raw) > limits.NUMBER_MAX:
        raise _Invalid("not_text")
    text = str(raw).replace("\r\n", "\n")
    if spec.min_length is not None and len(text) < spec.min_length:
        raise _Invalid("min_length", n=spec.min_length)
    most = text_limit(spec.type, spec.max_length)
    if len(text) > most:
        raise _Invalid("max_length", n=most)
    if spec.pattern is not None and not re.search(spec.pattern, text):
        raise _Invalid("pattern")
    if spec.validation_type == "email" and not _EMAIL_RE.match(text):
        raise _Invalid("email")
    if spec.validation_type == "phone" and not _PHONE_RE.match(text):
        raise _Invalid("phone")
    return text


def _number(spec: FieldSpec, raw: Any) -> int | float:
    if isinstance(raw, bool):
        raise _Invalid("not_number")
    if isinstance(raw, int):
        number: Decimal = Decimal(raw)
    elif isinstance(raw, float):
        if raw != raw or raw in (float("inf"), float("-inf")):
            raise _Invalid("not_number")
        number = Decimal(repr(raw))
    elif isinstance(raw, str):
        # Accept full-width digits (１２３) and thousands separators (1,000), common in Japanese input.
        if len(raw) > 4 * limits.NUMBER_TEXT_MAX:  # before normalizing: NFKC keeps digits one for one
            raise _Invalid("number_too_long", n=limits.NUMBER_TEXT_MAX)
        text = unicodedata.normalize("NFKC", raw).strip().replace(",", "")
        if len(text) > limits.NUMBER_TEXT_MAX:
            raise _Invalid("number_too_long", n=limits.NUMBER_TEXT_MAX)
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise _Invalid("not_number") from None
        if not number.is_finite():
            raise _Invalid("not_number")
    else:
        raise _Invalid("not_number")
    _check_magnitude(spec, number)

    integral = number == number.to_integral_value()
    if spec.decimal_digits is not None and not integral:
        exponent = number.normalize().as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        if spec.decimal_digits == 0:
            raise _Invalid("not_integer")
        if places > spec.decimal_digits:
            raise _Invalid("decimal_digits", digits=spec.decimal_digits)
    if spec.min is not None and number < Decimal(repr(spec.min)):
        raise _Invalid("min", min=spec.min)
    if spec.max is not None and number > Decimal(repr(spec.max)):
        raise _Invalid("max", max=spec.max)
    return int(number) if integral else float(number)


def _check_magnitude(spec: FieldSpec, number: Decimal) -> None:
    """Refuse, before any conversion, exponents no one types and magnitudes past the declared (or else the
    platform's) range: comparing a Decimal is cheap whatever its exponent, converting it is not."""
    upper = spec.max if spec.max is not None else limits.NUMBER_MAX
    lower = spec.min if spec.min is not None else -limits.NUMBER_MAX
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite
    if exponent > limits.NUMBER_EXPONENT_MAX or (number and number.adjusted() > limits.NUMBER_EXPONENT_MAX):
        if not number:
            raise _Invalid("not_number")
        raise _Invalid("max", max=upper) if number > 0 else _Invalid("min", min=lower)
    if exponent < -limits.NUMBER_EXPONENT_MAX:
        raise _Invalid("not_number")
    if spec.max is None and number > limits.NUMBER_MAX:
        raise _Invalid("max", max=upper)
    if spec.min is None and number < -limits.NUMBER_MAX:
        raise _Invalid("min", min=lower)


def _datetime(spec: FieldSpec, raw: Any) -> str:
    if spec.subtype == "date":
        if isinstance(raw, datetime):
            return raw.date().isoformat()
        if isinstance(raw, date):
            return raw.isoformat()
        if isinstance(raw, str) and _DATE_RE.match(raw.strip()):
            try:
                return date.fromisoformat(raw.strip()).isoformat()
            except ValueError:
                pass
        raise _Invalid("date")
    if spec.subtype == "time":
        if isinstance(raw, time):
            return raw.strftime("%H:%M")
        if isinstance(raw, str):
            m = _TIME_RE.match(raw.strip())
            if m:
                return f"{m.group(1)}:{m.group(2)}"
        raise _Invalid("time")
    if isinstance(raw, datetime):
        return raw.isoformat()
    if isinstance(raw, str) and "T" in raw:
        try:
            return datetime.fromisoformat(raw.strip()).isoformat()
        except ValueError:
            pass
    raise _Invalid("datetime")


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
