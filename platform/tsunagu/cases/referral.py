"""つなぎ — what a referral from another department or agency may carry (issue #10).

A referral is stored in the case row and in the workflow's data (``referral``), so it is validated against a
JSON Schema (2020-12, ``jsonschema``): known properties only, a length limit on every string, the consent
status and the source type from fixed lists, dates as ``YYYY-MM-DD``. A referral too large or nested too deep
is refused before the schema looks at it. Errors are 422 with ``details`` per field
(``referral.source_agency``), worded as the form messages so the start-case page shows them in English too.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ..core import limits
from ..core.errors import ValidationFailed

CONSENT_STATUSES = ("obtained", "not_yet", "refused")  # 同意済み / 未確認 / 同意なし
SOURCE_TYPES = ("department", "agency")  # 庁内の部署 / 関係機関（社会福祉法106条の2 ほか）
REFERRAL_MAX_SIZE = 64_000  # measured first (``core.limits.measure``); below it the schema names the field
REFERRAL_MAX_DEPTH = 3

_ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
_MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

REFERRAL_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://tsunagu.example/schemas/referral.json",
    "title": "Referral (つなぎ)",
    "description": "A person referred by another department or agency: who referred them, why, and whether "
    "the person consented to the referral.",
    "type": "object",
    "additionalProperties": False,
    "required": ["source_agency", "reason", "consent_status"],
    "properties": {
        "source_agency": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100,
            "pattern": _ONE_LINE,
            "description": "referring department or agency, e.g. 港北区役所 保険年金課",
        },
        "source_type": {"enum": list(SOURCE_TYPES), "description": "department (庁内) or agency (関係機関)"},
        "department": {"type": "string", "maxLength": 100, "pattern": _ONE_LINE},
        "reason": {"type": "string", "minLength": 1, "maxLength": 1000, "pattern": _MULTI_LINE},
        "consent_status": {"enum": list(CONSENT_STATUSES)},
        "contact": {
            "type": "object",
            "additionalProperties": False,
            "description": "the referrer's contact person",
            "properties": {
                "name": {"type": "string", "maxLength": 100, "pattern": _ONE_LINE},
                "phone": {"type": "string", "maxLength": 20, "pattern": r"^[0-9+()\- ]*$"},
                "email": {"type": "string", "maxLength": 254, "pattern": r"^[^\s@]+@[^\s@]+$"},
            },
        },
        "referral_id": {
            "type": "string",
            "maxLength": 36,
            "pattern": r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
            "description": "the referral (issue #20, ``referrals``) the case was accepted from: its provenance",
        },
        "referred_on": {
            "type": "string",
            "maxLength": 10,
            "format": "date",
            "pattern": r"^\d{4}-\d{2}-\d{2}$",
        },
    },
}
Draft202012Validator.check_schema(REFERRAL_SCHEMA)
_VALIDATOR = Draft202012Validator(REFERRAL_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
_MAX_ERRORS = 20


def _path(field: str, parts: Any) -> str:
    return ".".join([field, *(str(p) for p in parts)] if field else [str(p) for p in parts]) or "referral"


def _problems(error: ValidationError, field: str) -> dict[str, list[str]]:
    at = _path(field, error.absolute_path)
    instance, kind, rule = error.instance, error.validator, error.validator_value
    if kind == "required" and isinstance(instance, dict):
        return {
            _path(field, [*error.absolute_path, name]): ["必須項目です"]
            for name in rule
            if name not in instance
        }
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        extra = sorted(str(k)[:30] for k in instance if k not in known)
        more = f" ほか {len(extra) - 3} 件" if len(extra) > 3 else ""
        return {at: [f"使えない項目です: {', '.join(extra[:3])}{more}"]}
    if kind == "maxLength":
        return {at: [f"{rule}文字以内で入力してください"]}
    if kind == "minLength":
        return {at: ["必須項目です"]}
    if kind == "enum":
        return {at: ["選択肢にない値です"]}
    return {at: ["形式が正しくありません"]}


def parse_referral(raw: Any, *, field: str = "referral") -> dict[str, Any] | None:
    """The referral if it fits the schema (``None`` for none), else :class:`ValidationFailed` naming each
    field under ``field`` (``""`` for the start-case page, whose inputs are named as the properties)."""
    if raw is None:
        return None
    if limits.measure(raw, REFERRAL_MAX_SIZE, max_depth=REFERRAL_MAX_DEPTH) > REFERRAL_MAX_SIZE:
        raise ValidationFailed(
            "つなぎ情報が大きすぎます / the referral is too large",
            details={field or "referral": ["つなぎ情報が大きすぎるか入れ子が深すぎます"]},
        )
    details: dict[str, list[str]] = {}
    for count, error in enumerate(
        sorted(_VALIDATOR.iter_errors(raw), key=lambda e: [str(p) for p in e.absolute_path])
    ):
        if count >= _MAX_ERRORS:
            break
        for key, messages in _problems(error, field).items():
            details.setdefault(key, messages)
    if details:
        raise ValidationFailed("つなぎ情報に誤りがあります / the referral does not fit", details=details)
    assert isinstance(raw, dict)
    return raw


__all__ = ["CONSENT_STATUSES", "REFERRAL_SCHEMA", "SOURCE_TYPES", "parse_referral"]
