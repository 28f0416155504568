"""Sharing services: consent as data, 支援会議 members, and the decision per viewer (``policy.decide``).

``cases`` calls these (its pages, API, and the consent commands that reach the running case through the
advance path); this module never imports ``cases``. They flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import select

from ..core.db import utcnow
from ..core.errors import Conflict, NotFound, ValidationFailed
from ..core.session import TenantSession
from ..identity.models import ALL_ROLES
from ..tenancy.models import OrgUnit
from .labels import label
from .models import Category, Channel, Consent, ConsentStatus, Source, SupportMeetingMember
from .policy import (
    BASES,
    CaseFacts,
    ConsentScope,
    Decision,
    Item,
    Level,
    Viewer,
    age_band,
    anonymised_summary,
    decide,
)

__all__ = [
    "BASES",
    "CATEGORIES",
    "SOURCES",
    "CaseFacts",
    "Category",
    "Consent",
    "Decision",
    "Item",
    "Level",
    "Source",
    "Viewer",
    "age_band",
    "anonymised_summary",
    "case_facts",
    "case_facts_many",
    "consent_json",
    "consents_of",
    "decide",
    "expire_due",
    "get_consent",
    "label",
    "record_consent",
    "register_member",
    "viewer_for",
    "withdraw",
]

CATEGORIES = tuple(c.value for c in Category)
SOURCES = tuple(s.value for s in Source)
_FORM_VERSION_MAX = 32


def _effective(consent: Consent, today: date) -> bool:
    return consent.status == ConsentStatus.ACTIVE and (
        consent.valid_until is None or consent.valid_until >= today
    )


def case_facts(session: TenantSession, case_id: uuid.UUID, org_unit_id: uuid.UUID | None) -> CaseFacts:
    """The case's org unit and its effective consents (active and not past ``valid_until``)."""
    today = date.today()
    scopes = []
    for consent in consents_of(session, case_id):
        if _effective(consent, today):
            scopes.append(
                ConsentScope(
                    id=consent.id,
                    org_unit_ids=frozenset(uuid.UUID(u) for u in consent.org_unit_ids),
                    roles=frozenset(consent.roles),
                    categories=frozenset(consent.categories),
                )
            )
    return CaseFacts(org_unit_id=org_unit_id, consents=tuple(scopes))


def case_facts_many(
    session: TenantSession, cases: Iterable[tuple[uuid.UUID, uuid.UUID | None]]
) -> dict[uuid.UUID, CaseFacts]:
    """:func:`case_facts` for many ``(case id, org unit id)`` at once: one query for all their consents (a
    list page decides every row without a query per row)."""
    units = dict(cases)
    if not units:
        return {}
    today = date.today()
    scopes: dict[uuid.UUID, list[ConsentScope]] = {case_id: [] for case_id in units}
    rows = session.execute(
        select(Consent).where(Consent.case_id.in_(list(units))).order_by(Consent.created_at)
    ).scalars()
    for consent in rows:
        if _effective(consent, today):
            scopes[consent.case_id].append(
                ConsentScope(
                    id=consent.id,
                    org_unit_ids=frozenset(uuid.UUID(u) for u in consent.org_unit_ids),
                    roles=frozenset(consent.roles),
                    categories=frozenset(consent.categories),
                )
            )
    return {
        case_id: CaseFacts(org_unit_id=units[case_id], consents=tuple(scopes[case_id])) for case_id in units
    }


def viewer_for(session: TenantSession, principal: Any) -> Viewer:
    """The principal with the 支援会議 it is a registered member of."""
    keys = session.execute(
        select(SupportMeetingMember.meeting_key).where(SupportMeetingMember.user_id == principal.user_id)
    ).scalars()
    return Viewer(principal=principal, meeting_keys=frozenset(keys))


def consents_of(session: TenantSession, case_id: uuid.UUID) -> list[Consent]:
    return list(
        session.execute(
            select(Consent).where(Consent.case_id == case_id).order_by(Consent.created_at)
        ).scalars()
    )


def get_consent(session: TenantSession, case_id: uuid.UUID, consent_id: uuid.UUID) -> Consent:
    consent = session.get(Consent, (session.require_tenant_id(), consent_id))
    if consent is None or consent.case_id != case_id:
        raise NotFound("同意が見つかりません / consent not found")
    return consent


def _strings(
    value: Any, field: str, allowed: Iterable[str] | None, errors: dict[str, list[str]]
) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 200 or not all(isinstance(v, str) for v in value):
        errors[field] = ["文字列の配列が必要です / a list of strings"]
        return []
    if allowed is not None:
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            errors[field] = [f"不明な値 / unknown: {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"]
    return sorted(set(value))


def _date(value: Any, field: str, errors: dict[str, list[str]], required: bool) -> date | None:
    if value in (None, ""):
        if required:
            errors[field] = ["日付が必要です / a date (YYYY-MM-DD) is required"]
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        errors[field] = ["日付は YYYY-MM-DD / a date as YYYY-MM-DD"]
        return None


def _unit_ids(session: TenantSession, codes: list[str], errors: dict[str, list[str]]) -> list[str]:
    found = dict(session.execute(select(OrgUnit.code, OrgUnit.id).where(OrgUnit.code.in_(codes))).all())
    missing = sorted(set(codes) - set(found))
    if missing:
        errors["org_units"] = [f"存在しない組織です / unknown org unit: {', '.join(missing)}"]
    return sorted(str(found[c]) for c in codes if c in found)


def record_consent(
    session: TenantSession, case_id: uuid.UUID, body: Any, actor_id: uuid.UUID | None
) -> Consent:
    """同意の記録 — from ``{given_on, channel, witness?, form_version, valid_until?, org_units: [codes],
    roles: [...], categories: [...]}``; 422 naming each wrong field."""
    if not isinstance(body, dict):
        raise ValidationFailed("a JSON object is required", details={"body": ["JSON オブジェクトが必要です"]})
    errors: dict[str, list[str]] = {}
    given_on = _date(body.get("given_on"), "given_on", errors, required=True)
    valid_until = _date(body.get("valid_until"), "valid_until", errors, required=False)
    channel = body.get("channel")
    if channel not in {c.value for c in Channel}:
        errors["channel"] = [f"one of {', '.join(c.value for c in Channel)}"]
    witness = str(body.get("witness") or "").strip()
    if channel == Channel.VERBAL_WITNESSED and not witness:
        errors["witness"] = ["口頭の同意には立会人が必要です / a verbal consent needs a witness"]
    form_version = str(body.get("form_version") or "").strip()
    if not form_version or len(form_version) > _FORM_VERSION_MAX:
        errors["form_version"] = [f"1〜{_FORM_VERSION_MAX}文字 / the consent form's version"]
    codes = _strings(body.get("org_units"), "org_units", None, errors)
    roles = _strings(body.get("roles"), "roles", ALL_ROLES, errors)
    categories = _strings(body.get("categories"), "categories", CATEGORIES, errors)
    if not categories and "categories" not in errors:
        errors["categories"] = ["少なくとも1つの区分 / at least one category"]
    if not codes and not roles and "org_units" not in errors and "roles" not in errors:
        errors["org_units"] = ["共有先（組織または役割）が必要です / share with which org units or roles"]
    unit_ids = _unit_ids(session, codes, errors) if codes else []
    if given_on and valid_until and valid_until < given_on:
        errors["valid_until"] = ["有効期限は同意日以降 / valid_until is on or after given_on"]
    if errors:
        raise ValidationFailed("invalid consent", details=errors)
    assert given_on is not None and channel is not None
    consent = Consent(
        tenant_id=session.require_tenant_id(),
        case_id=case_id,
        given_on=given_on,
        channel=channel,
        witness=witness[:100],
        form_version=form_version,
        valid_until=valid_until,
        org_unit_ids=unit_ids,
        roles=roles,
        categories=categories,
        created_by=actor_id,
    )
    session.add(consent)
    session.flush()
    return consent


def withdraw(session: TenantSession, consent: Consent, body: Any, actor_id: uuid.UUID | None) -> str:
    """同意の撤回, effective at once. ``{"full": true}`` withdraws all of it; otherwise the listed
    ``categories`` / ``org_units`` / ``roles`` leave the scope (a scope left empty is a full withdrawal).
    Returns ``"full"`` or ``"partial"``; the caller tells the running case (``cases``)."""
    if consent.status != ConsentStatus.ACTIVE:
        raise Conflict("この同意は既に終了しています / the consent is no longer active", code="consent_ended")
    if not isinstance(body, dict):
        raise ValidationFailed("a JSON object is required", details={"body": ["JSON オブジェクトが必要です"]})
    errors: dict[str, list[str]] = {}
    full = body.get("full") is True
    categories = _strings(body.get("categories"), "categories", CATEGORIES, errors)
    roles = _strings(body.get("roles"), "roles", ALL_ROLES, errors)
    codes = _strings(body.get("org_units"), "org_units", None, errors)
    unit_ids = _unit_ids(session, codes, errors) if codes else []
    if not full and not (categories or roles or unit_ids) and not errors:
        errors["full"] = ["撤回する範囲を指定してください / say what is withdrawn, or full: true"]
    if errors:
        raise ValidationFailed("invalid withdrawal", details=errors)
    now = utcnow()
    change: dict[str, Any] = {"at": now.isoformat(), "by": str(actor_id) if actor_id else None}
    if not full:
        consent.categories = sorted(set(consent.categories) - set(categories))
        consent.roles = sorted(set(consent.roles) - set(roles))
        consent.org_unit_ids = sorted(set(consent.org_unit_ids) - set(unit_ids))
        change.update(categories=categories, roles=roles, org_unit_ids=unit_ids)
        full = not consent.categories or not (consent.roles or consent.org_unit_ids)
    if full:
        consent.status = ConsentStatus.WITHDRAWN
        consent.ended_at = now
    change["kind"] = "full" if full else "partial"
    consent.changes = [*(consent.changes or []), change]
    session.flush()
    return "full" if full else "partial"


def expire_due(session: TenantSession, today: date) -> list[Consent]:
    """Mark consents past ``valid_until`` expired (once); returns them, for the caller to tell the case's
    consultant."""
    due = list(
        session.execute(
            select(Consent).where(Consent.status == ConsentStatus.ACTIVE, Consent.valid_until < today)
        ).scalars()
    )
    now = utcnow()
    for consent in due:
        consent.status = ConsentStatus.EXPIRED
        consent.ended_at = now
    session.flush()
    return due


def register_member(
    session: TenantSession,
    meeting_key: str,
    user_id: uuid.UUID,
    undertaking_on: date,
    undertaking_version: str,
) -> SupportMeetingMember:
    """支援会議の構成員として登録 — with the date and text version of the confidentiality undertaking."""
    if not meeting_key or len(meeting_key) > 64 or not undertaking_version or len(undertaking_version) > 32:
        raise ValidationFailed(
            "invalid member", details={"meeting_key": ["1〜64文字"], "undertaking_version": ["1〜32文字"]}
        )
    existing = session.execute(
        select(SupportMeetingMember).where(
            SupportMeetingMember.meeting_key == meeting_key, SupportMeetingMember.user_id == user_id
        )
    ).scalar_one_or_none()
    if existing is not None:
        existing.undertaking_on, existing.undertaking_version = undertaking_on, undertaking_version
        session.flush()
        return existing
    member = SupportMeetingMember(
        tenant_id=session.require_tenant_id(),
        meeting_key=meeting_key,
        user_id=user_id,
        undertaking_on=undertaking_on,
        undertaking_version=undertaking_version,
    )
    session.add(member)
    session.flush()
    return member


def consent_json(session: TenantSession, consent: Consent) -> dict[str, Any]:
    codes = {str(k): v for k, v in session.execute(select(OrgUnit.id, OrgUnit.code)).all()}
    return {
        "id": str(consent.id),
        "status": consent.status,
        "given_on": consent.given_on.isoformat(),
        "channel": consent.channel,
        "witness": consent.witness,
        "form_version": consent.form_version,
        "valid_until": consent.valid_until.isoformat() if consent.valid_until else None,
        "org_units": sorted(codes.get(u, u) for u in consent.org_unit_ids),
        "roles": consent.roles,
        "categories": consent.categories,
        "changes": consent.changes,
    }
