"""What a referral, a request for cooperation and a department flag are made of, checked where they come in.

The page and the API hand the same plain ``dict`` to these parsers, so both refuse the same things with the
same 422 ``details`` per field (``consent.given_on``, ``topics``, ``person.name``). The person is checked by
the cases module's own rule (``cases.services.parse_person``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..cases import services as cases
from ..core import limits
from ..core.errors import ValidationFailed
from ..sharing import services as sharing
from .models import URGENCIES

#: The 16 consultation topics of the 相談受付・申込票 (the intake form's ``consultation_topics``; a test keeps
#: the two lists equal).
TOPICS = (
    "health",
    "housing",
    "income",
    "rent_loan",
    "tax_utilities",
    "debt",
    "work",
    "work_trouble",
    "community",
    "family",
    "childcare",
    "care",
    "hikikomori",
    "dv_abuse",
    "food",
    "other",
)
CONSENT_STATUSES = ("obtained", "not_yet", "refused")  # 同意あり / 未確認 / 同意なし
CHANNELS = ("signed_form", "verbal_witnessed")
REQUIRED = "必須項目です"
TEXT_MAX = 2000
#: Attachments: at most this many, each at most ATTACHMENT_MAX_BYTES, of these types (checked by content). The
#: whole request stays within TSUNAGU_MAX_UPLOAD_BYTES (2 MB by default; beyond it: 413).
ATTACHMENTS_MAX = 5
ATTACHMENT_MAX_BYTES = 1024 * 1024
_SIGNATURES = {b"%PDF-": "application/pdf", b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


@dataclass(frozen=True)
class ReferralInput:
    anonymous: bool
    person: cases.PersonInput | None
    topics: list[str]
    main_topic: str
    urgency: str
    reason: str
    actions_taken: str
    consent: dict[str, Any]
    contact_name: str = ""
    contact_phone: str = ""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes = field(repr=False)


def _text(
    raw: Any, name: str, most: int, errors: dict[str, list[str]], *, required: bool, lines: bool
) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            errors[name] = [REQUIRED]
        return ""
    if not isinstance(raw, str):
        errors[name] = ["文字列を入力してください"]
        return ""
    text = raw.strip()
    if len(text) > most:
        errors[name] = [f"{most}文字以内で入力してください"]
    elif lines and limits.has_control_characters(text.replace("\n", "").replace("\r", "").replace("\t", "")):
        errors[name] = ["制御文字は使えません"]
    elif not lines and limits.has_control_characters(text):
        errors[name] = ["改行や制御文字は使えません"]
    return text


def _date(raw: Any, name: str, errors: dict[str, list[str]], *, required: bool) -> date | None:
    if raw in (None, ""):
        if required:
            errors[name] = [REQUIRED]
        return None
    try:
        value = date.fromisoformat(str(raw)) if isinstance(raw, str) and len(raw) == 10 else None
    except ValueError:
        value = None
    if value is None:
        errors[name] = ["日付の形式が正しくありません（YYYY-MM-DD）"]
    return value


def _choices(raw: Any, name: str, allowed: tuple[str, ...], errors: dict[str, list[str]]) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > len(allowed) or not all(isinstance(v, str) for v in raw):
        errors[name] = ["選択肢の一覧で指定してください"]
        return []
    unknown = [v for v in raw if v not in allowed]
    if unknown:
        errors[name] = [f"選択肢にない値です: {', '.join(v[:30] for v in unknown[:3])}"]
        return []
    return sorted(set(raw), key=allowed.index)


def _object(raw: Any, name: str = "body") -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValidationFailed("a JSON object is required", details={name: ["JSON オブジェクトが必要です"]})
    if limits.measure(raw, 64_000, max_depth=4) > 64_000:
        raise ValidationFailed("the request is too large", details={name: ["大きすぎるか入れ子が深すぎます"]})
    return raw


def parse_referral(raw: Any) -> ReferralInput:
    """相談のつなぎ: ``{anonymous, person{name,name_kana,birth_date}, topics[], main_topic, urgency, reason,
    actions_taken, consent{status, given_on, channel, categories[], feedback}, contact_name, contact_phone}``.

    The person's details travel only with their consent (``consent.status == "obtained"``); without it the
    referral is anonymous, and a name sent anyway is refused rather than stored."""
    body = _object(raw)
    errors: dict[str, list[str]] = {}
    consent_raw = body.get("consent")
    if not isinstance(consent_raw, dict):
        errors["consent.status"] = [REQUIRED]
        consent_raw = {}
    status = consent_raw.get("status")
    if status not in CONSENT_STATUSES:
        errors["consent.status"] = ["選択肢にない値です" if status else REQUIRED]
    obtained = status == "obtained"
    anonymous = bool(body.get("anonymous")) or not obtained
    consent: dict[str, Any] = {"status": status if status in CONSENT_STATUSES else ""}
    if obtained:
        given = _date(consent_raw.get("given_on"), "consent.given_on", errors, required=True)
        channel = consent_raw.get("channel") or "signed_form"
        if channel not in CHANNELS:
            errors["consent.channel"] = ["選択肢にない値です"]
        categories = _choices(consent_raw.get("categories"), "consent.categories", sharing.CATEGORIES, errors)
        if not categories and "consent.categories" not in errors:
            errors["consent.categories"] = ["同意の範囲（情報の区分）を1つ以上選んでください"]
        consent.update(
            given_on=given.isoformat() if given else None,
            channel=channel,
            categories=categories,
            # 本人が、つなぎ先から紹介元への経過の連絡に同意している
            feedback=bool(consent_raw.get("feedback")),
        )
    person = None
    if anonymous:
        if body.get("person"):
            errors["person"] = ["本人の同意がないつなぎには氏名等を含めないでください（匿名で送ります）"]
    else:
        try:
            person = cases.parse_person(body.get("person"))
        except ValidationFailed as exc:
            errors.update(exc.details)
    topics = _choices(body.get("topics"), "topics", TOPICS, errors)
    if not topics and "topics" not in errors:
        errors["topics"] = ["相談の内容を1つ以上選んでください"]
    main_topic = body.get("main_topic") or (topics[0] if len(topics) == 1 else "")
    if main_topic and main_topic not in topics:
        errors["main_topic"] = ["選んだ相談の内容から1つ選んでください"]
    urgency = body.get("urgency") or "normal"
    if urgency not in URGENCIES:
        errors["urgency"] = ["選択肢にない値です"]
    reason = _text(body.get("reason"), "reason", TEXT_MAX, errors, required=True, lines=True)
    actions = _text(body.get("actions_taken"), "actions_taken", TEXT_MAX, errors, required=False, lines=True)
    contact = _text(body.get("contact_name"), "contact_name", 100, errors, required=False, lines=False)
    phone = _text(body.get("contact_phone"), "contact_phone", 20, errors, required=False, lines=False)
    if phone and not all(c in "0123456789+()- " for c in phone):
        errors["contact_phone"] = ["電話番号の形式が正しくありません"]
    if errors:
        raise ValidationFailed("つなぎの内容に誤りがあります / the referral does not fit", details=errors)
    return ReferralInput(
        anonymous=anonymous,
        person=person,
        topics=topics,
        main_topic=str(main_topic),
        urgency=str(urgency),
        reason=reason,
        actions_taken=actions,
        consent=consent,
        contact_name=contact,
        contact_phone=phone,
    )


def check_attachments(files: list[tuple[str, str, bytes]]) -> list[Attachment]:
    """``(filename, declared type, bytes)`` → attachments whose first bytes are a PDF, PNG or JPEG and whose
    size is within the limit; the declared type is not trusted."""
    errors: list[str] = []
    if len(files) > ATTACHMENTS_MAX:
        raise ValidationFailed(
            "too many attachments",
            details={"attachments": [f"添付は{ATTACHMENTS_MAX}件までです"]},
        )
    accepted: list[Attachment] = []
    for name, _declared, data in files:
        label = (name or "file")[-100:]
        if len(data) > ATTACHMENT_MAX_BYTES:
            errors.append(f"{label}: {ATTACHMENT_MAX_BYTES // (1024 * 1024)}MB を超えています")
            continue
        kind = next((t for sig, t in _SIGNATURES.items() if data.startswith(sig)), None)
        if kind is None:
            errors.append(f"{label}: PDF・PNG・JPEG のみ添付できます")
            continue
        if limits.has_control_characters(label):
            label = "file"
        accepted.append(Attachment(filename=label, content_type=kind, data=data))
    if errors:
        raise ValidationFailed("an attachment was refused", details={"attachments": errors})
    return accepted


@dataclass(frozen=True)
class AcceptInput:
    join_case_id: uuid.UUID | None
    new_case: bool
    person: cases.PersonInput | None


def parse_accept(raw: Any) -> AcceptInput:
    body = _object(raw)
    errors: dict[str, list[str]] = {}
    join: uuid.UUID | None = None
    if body.get("join_case_id"):
        try:
            join = uuid.UUID(str(body["join_case_id"]))
        except ValueError:
            errors["join_case_id"] = ["ケースIDの形式が正しくありません"]
    person = None
    if body.get("person"):
        try:
            person = cases.parse_person(body["person"])
        except ValidationFailed as exc:
            errors.update(exc.details)
    if errors:
        raise ValidationFailed("入力内容に誤りがあります / the data does not fit", details=errors)
    return AcceptInput(join_case_id=join, new_case=bool(body.get("new_case")), person=person)


@dataclass(frozen=True)
class CooperationInput:
    partner_key: str
    request: str
    due_on: date | None


def parse_cooperation(raw: Any) -> CooperationInput:
    body = _object(raw)
    errors: dict[str, list[str]] = {}
    partner = _text(body.get("partner"), "partner", 64, errors, required=True, lines=False)
    request = _text(body.get("request"), "request", TEXT_MAX, errors, required=True, lines=True)
    due = _date(body.get("due_on"), "due_on", errors, required=False)
    if due is not None and due < date.today():
        errors["due_on"] = ["過去の日付は指定できません"]
    if errors:
        raise ValidationFailed("支援の依頼の内容に誤りがあります / the request does not fit", details=errors)
    return CooperationInput(partner_key=partner, request=request, due_on=due)


RESPONSES = ("accept", "decline", "report")


def parse_response(raw: Any) -> tuple[str, str]:
    body = _object(raw)
    errors: dict[str, list[str]] = {}
    action = body.get("action")
    if action not in RESPONSES:
        errors["action"] = ["accept / decline / report のいずれかです"]
    text = _text(
        body.get("text"), "text", TEXT_MAX, errors, required=action in ("decline", "report"), lines=True
    )
    if errors:
        raise ValidationFailed("回答の内容に誤りがあります / the response does not fit", details=errors)
    return str(action), text


@dataclass(frozen=True)
class FlagInput:
    signs: list[str]
    summary: str


def parse_flag(raw: Any) -> FlagInput:
    """早期把握: the signs (of the 16 topics) and a short summary; the department confirms it carries no
    tax-derived information (地方税法22条: consent only, even in a 支援会議)."""
    body = _object(raw)
    errors: dict[str, list[str]] = {}
    signs = _choices(body.get("signs"), "signs", TOPICS, errors)
    if not signs and "signs" not in errors:
        errors["signs"] = ["気づいた兆しを1つ以上選んでください"]
    summary = _text(body.get("summary"), "summary", 1000, errors, required=True, lines=True)
    if body.get("no_tax_information") is not True:
        errors["no_tax_information"] = [
            "税務情報（地方税法22条）は本人の同意なしに共有できません。含まないことを確認してください"
        ]
    if errors:
        raise ValidationFailed("早期把握の内容に誤りがあります / the flag does not fit", details=errors)
    return FlagInput(signs=signs, summary=summary)
