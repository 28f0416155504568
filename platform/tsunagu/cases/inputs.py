"""What a case is opened with, bounded where it comes in (issue #10): the person (name and kana by length,
one line each; the birth date as ``YYYY-MM-DD`` between 1900 and today), the org unit code, and the payload
of a message delivered to a case. Errors are 422 with ``details`` naming each field, Japanese messages worded
as the form messages (``forms.validation``) so the HTML pages can show them in English too."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ..core import limits
from ..core.errors import ValidationFailed

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_JST = timezone(timedelta(hours=9))
REQUIRED = "必須項目です"
BAD_DATE = "日付の形式が正しくありません（YYYY-MM-DD）"
BAD_TEXT = "改行や制御文字は使えません"


@dataclass(frozen=True)
class PersonInput:
    name: str
    name_kana: str
    birth_date: date | None


def one_line(raw: Any, most: int, *, required: bool = True) -> tuple[str, str | None]:
    """``(text, problem)``: the stripped text of a one-line field, or why it does not fit."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return "", REQUIRED if required else None
    if not isinstance(raw, str):
        return "", "文字列を入力してください"
    text = raw.strip()
    if len(text) > most:
        return "", f"{most}文字以内で入力してください"
    if limits.has_control_characters(text):
        return "", BAD_TEXT
    return text, None


def parse_date(raw: Any, *, earliest: date | None = None) -> tuple[date | None, str | None]:
    """A ``YYYY-MM-DD`` date (no other ISO form: ``date.fromisoformat`` would take ``2026-W01-1``)."""
    if not isinstance(raw, str) or not _DATE.match(raw.strip()):
        return None, BAD_DATE
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        return None, BAD_DATE
    if earliest is not None and day < earliest:
        return None, BAD_DATE
    return day, None


def parse_person(raw: Any) -> PersonInput:
    if not isinstance(raw, dict):
        raise ValidationFailed("本人の情報が必要です / person is required", details={"person": [REQUIRED]})
    errors: dict[str, list[str]] = {}
    name, problem = one_line(raw.get("name"), limits.PERSON_NAME_MAX)
    if problem:
        errors["person.name"] = [problem]
    kana, problem = one_line(raw.get("name_kana"), limits.PERSON_KANA_MAX)
    if problem:
        errors["person.name_kana"] = [problem]
    birth: date | None = None
    if raw.get("birth_date") not in (None, ""):
        birth, problem = parse_date(raw["birth_date"], earliest=date(limits.BIRTH_YEAR_MIN, 1, 1))
        if birth is not None and birth > datetime.now(_JST).date():
            birth, problem = None, "未来の日付は入力できません"
        if problem:
            errors["person.birth_date"] = [problem]
    if errors:
        raise ValidationFailed("入力内容に誤りがあります / the data does not fit", details=errors)
    return PersonInput(name=name, name_kana=kana, birth_date=birth)


def parse_org_unit(raw: Any) -> str | None:
    """An org unit code, or ``None`` for the tenant as a whole."""
    if raw is None or raw == "":
        return None
    code, problem = one_line(raw, limits.ORG_UNIT_CODE_MAX)
    if problem:
        raise ValidationFailed(
            "組織はコードで指定してください / org_unit must be a code",
            details={"org_unit": ["形式が正しくありません"]},
        )
    return code


def check_message_payload(name: str, payload: Any) -> dict[str, Any]:
    """A message payload is an object, bounded in size, nesting and text; a ``referral_received`` payload
    is a referral (``cases.referral``)."""
    if not isinstance(payload, dict):
        raise ValidationFailed(
            "payload はオブジェクトにしてください / payload must be an object",
            details={"payload": ["形式が正しくありません"]},
        )
    limits.require_fits(
        payload,
        "payload",
        max_size=limits.PAYLOAD_MAX_SIZE,
        max_depth=limits.PAYLOAD_MAX_DEPTH,
        max_text=limits.PAYLOAD_TEXT_MAX,
        message="メッセージの内容が大きすぎます / the message payload is too large",
    )
    if name == "referral_received":
        from .referral import parse_referral

        return parse_referral(payload, field="payload") or {}
    return payload
