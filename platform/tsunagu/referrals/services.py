"""Referral services (つなぎ, issue #20): partners, referrals in, requests for cooperation out, department flags.

Views, the API and tests call these; they flush, never commit. Every partner-facing read goes through
:func:`partner_of` and filters by that partner's id, so another partner's rows are "not found" (404), never
shown. A case is reached only through ``cases.services`` (started, joined, its timeline written).
"""

from __future__ import annotations

import unicodedata
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from ..cases import services as cases
from ..cases.models import Case, Person
from ..core.db import utcnow
from ..core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..core.session import TenantSession
from ..identity import permissions
from ..identity.models import Role
from ..meetings import services as meetings
from ..notifications import services as notifications
from ..sharing import services as sharing
from ..tenancy.models import OrgUnit, Tenant
from .inputs import AcceptInput, Attachment, CooperationInput, FlagInput, ReferralInput
from .models import (
    CooperationRequest,
    CooperationStatus,
    DepartmentFlag,
    PartnerMember,
    PartnerOrganisation,
    Referral,
    ReferralAttachment,
    ReferralStatus,
)

__all__ = [
    "accept_referral",
    "attachments_of",
    "cooperation_for_case",
    "cooperation_for_partner",
    "duplicate_candidates",
    "feedback",
    "flag_for_support_meeting",
    "flags_for_meeting",
    "get_cooperation",
    "get_referral",
    "partner_of",
    "partners",
    "pending_for",
    "referrals_for_partner",
    "request_cooperation",
    "respond_to_cooperation",
    "submit_referral",
    "sync_partners",
]

PARTNER_ROLE = Role.EXTERNAL_PARTICIPANT.value
#: The kind of meeting early-detection flags go to: 支援会議 (生活困窮者自立支援法9条).
SUPPORT_MEETING = "support_meeting"
#: The roles whose holders in the receiving unit see and accept referrals (and are told of cooperation).
RECEIVING_ROLES = ("consultant", "municipal_staff")

REFERRAL_STATUS_CHANGED = notifications.register_kind(
    notifications.Kind(
        "referral.status",
        "つなぎの状況が変わりました",
        "A referral's status changed",
        template="referral_status",
    )
)
REFERRAL_RECEIVED = notifications.register_kind(
    notifications.Kind(
        "referral.received",
        "関係機関からつなぎが届きました",
        "A referral arrived",
        template="referral_received",
    )
)
COOPERATION_CHANGED = notifications.register_kind(
    notifications.Kind(
        "referral.cooperation",
        "支援の依頼に動きがありました",
        "A request for cooperation changed",
        template="referral_cooperation",
    )
)
notifications.add_template_folder(Path(__file__).resolve().parent / "templates" / "mail")


# ---- partners ----------------------------------------------------------------------------------------------
def sync_partners(session: TenantSession) -> list[PartnerOrganisation]:
    """The partners of the tenant's preset (``[[partners]]``, kept in ``Tenant.settings``) as rows: created,
    updated where the preset changed, members added and removed. Idempotent; writes only what differs."""
    tenant = session.get(Tenant, session.require_tenant_id())
    wanted = list(((tenant.settings or {}) if tenant else {}).get("partners") or [])
    existing = {p.key: p for p in session.execute(select(PartnerOrganisation)).scalars()}
    units = dict(session.execute(select(OrgUnit.code, OrgUnit.id)).all())
    rows = []
    for entry in wanted:
        unit_id = units.get(entry["org_unit"])
        if unit_id is None:
            continue  # the preset check names it; a unit removed later leaves the partner as it was
        values = {
            "name": entry["name"],
            "kind": entry["kind"],
            "org_unit_id": unit_id,
            "contact_name": entry.get("contact_name", ""),
            "contact_phone": entry.get("contact_phone", ""),
            "contact_email": entry.get("contact_email", ""),
            "agreement_on": date.fromisoformat(entry["agreement_on"]) if entry.get("agreement_on") else None,
            "active": True,
        }
        partner = existing.get(entry["key"])
        if partner is None:
            partner = PartnerOrganisation(tenant_id=session.require_tenant_id(), key=entry["key"], **values)
            session.add(partner)
            session.flush()
        else:
            for name, value in values.items():
                if getattr(partner, name) != value:
                    setattr(partner, name, value)
        _sync_members(session, partner, [str(m).strip().lower() for m in entry.get("members") or []])
        rows.append(partner)
    session.flush()
    return rows


def _sync_members(session: TenantSession, partner: PartnerOrganisation, emails: list[str]) -> None:
    current = {
        m.email: m
        for m in session.execute(
            select(PartnerMember).where(PartnerMember.partner_id == partner.id)
        ).scalars()
    }
    for email in emails:
        if email not in current:
            taken = session.execute(
                select(PartnerMember).where(PartnerMember.email == email)
            ).scalar_one_or_none()
            if taken is not None:  # one address acts for one partner only: the preset moved it
                session.delete(taken)
                session.flush()
            session.add(PartnerMember(tenant_id=partner.tenant_id, partner_id=partner.id, email=email))
    for email, member in current.items():
        if email not in emails:
            session.delete(member)


def partners(session: TenantSession) -> list[PartnerOrganisation]:
    return list(
        session.execute(
            select(PartnerOrganisation)
            .where(PartnerOrganisation.active.is_(True))
            .order_by(PartnerOrganisation.key)
        ).scalars()
    )


def partner_of(session: TenantSession, principal: Any) -> PartnerOrganisation | None:
    """The partner organisation ``principal`` acts for: a 外部参加者 whose (provider-verified) e-mail address is
    one of an active partner's members."""
    if principal is None or PARTNER_ROLE not in principal.roles or not principal.email:
        return None
    return session.execute(
        select(PartnerOrganisation)
        .join(
            PartnerMember,
            (PartnerMember.tenant_id == PartnerOrganisation.tenant_id)
            & (PartnerMember.partner_id == PartnerOrganisation.id),
        )
        .where(func.lower(PartnerMember.email) == principal.email.strip().lower())
        .where(PartnerOrganisation.active.is_(True))
    ).scalar_one_or_none()


def require_partner(session: TenantSession, principal: Any) -> PartnerOrganisation:
    partner = partner_of(session, principal)
    if partner is None:
        raise Forbidden(
            "関係機関の利用者として登録されていません / you are not registered for a partner organisation"
        )
    return partner


def _member_ids(session: TenantSession, partner_id: uuid.UUID) -> set[uuid.UUID]:
    from ..identity.models import User

    emails = list(
        session.execute(select(PartnerMember.email).where(PartnerMember.partner_id == partner_id)).scalars()
    )
    if not emails:
        return set()
    return set(
        session.execute(
            select(User.id).where(func.lower(User.email).in_(emails), User.active.is_(True))
        ).scalars()
    )


# ---- referrals ---------------------------------------------------------------------------------------------
def submit_referral(
    session: TenantSession,
    partner: PartnerOrganisation,
    data: ReferralInput,
    *,
    actor_id: uuid.UUID | None,
    attachments: list[Attachment] = (),  # type: ignore[assignment]
) -> Referral:
    """相談のつなぎ: store the referral for the partner's receiving unit (受付済) and tell that unit's
    consultants; it waits in their inbox until accepted."""
    person = data.person
    referral = Referral(
        tenant_id=session.require_tenant_id(),
        partner_id=partner.id,
        org_unit_id=partner.org_unit_id,
        status=ReferralStatus.RECEIVED,
        anonymous=data.anonymous,
        person_name=person.name if person else "",
        person_kana=person.name_kana if person else "",
        birth_date=person.birth_date if person else None,
        topics=data.topics,
        main_topic=data.main_topic,
        urgency=data.urgency,
        reason=data.reason,
        actions_taken=data.actions_taken,
        consent=data.consent,
        contact_name=data.contact_name,
        contact_phone=data.contact_phone,
        submitted_by=actor_id,
    )
    session.add(referral)
    session.flush()
    for item in attachments:
        session.add(
            ReferralAttachment(
                tenant_id=referral.tenant_id,
                referral_id=referral.id,
                filename=item.filename,
                content_type=item.content_type,
                size=len(item.data),
                data=item.data,
            )
        )
    notifications.notify(
        session,
        REFERRAL_RECEIVED.key,
        [notifications.RoleIn(role, partner.org_unit_id, fallback_role=None) for role in RECEIVING_ROLES],
        f"referrals/{referral.id}",
        key=f"referral:{referral.id}:received",
        subject=("referral", referral.id),
    )
    session.flush()
    return referral


def referrals_for_partner(session: TenantSession, partner: PartnerOrganisation) -> list[Referral]:
    return list(
        session.execute(
            select(Referral)
            .where(Referral.partner_id == partner.id)
            .order_by(Referral.created_at.desc())
            .limit(500)
        ).scalars()
    )


def get_referral(
    session: TenantSession, referral_id: uuid.UUID, *, partner: PartnerOrganisation | None
) -> Referral:
    """A referral: for a partner only its own (another partner's is 404, as is one that does not exist)."""
    referral = session.get(Referral, (session.require_tenant_id(), referral_id))
    if referral is None or (partner is not None and referral.partner_id != partner.id):
        raise NotFound("つなぎが見つかりません / referral not found")
    return referral


def visible_to_staff(principal: Any, referral: Referral) -> bool:
    return permissions.can(principal, "referral.accept", referral) or (
        permissions.is_tenant_wide(principal) and permissions.can(principal, "referral.read", referral)
    )


def pending_for(session: TenantSession, principal: Any) -> list[Referral]:
    """Referrals waiting to be accepted in the units where ``principal`` may accept them (oldest first)."""
    query = select(Referral).where(Referral.status == ReferralStatus.RECEIVED)
    if not permissions.is_tenant_wide(principal):
        units = permissions.units_for(principal, ["consultant", "municipal_staff", "tenant_admin"])
        if not units:
            return []
        query = query.where(Referral.org_unit_id.in_(units))
    rows = session.execute(
        query.order_by(Referral.urgency != "high", Referral.created_at).limit(200)
    ).scalars()
    return [r for r in rows if visible_to_staff(principal, r)]


def attachments_of(session: TenantSession, referral: Referral) -> list[ReferralAttachment]:
    return list(
        session.execute(
            select(ReferralAttachment)
            .where(ReferralAttachment.referral_id == referral.id)
            .order_by(ReferralAttachment.created_at)
        ).scalars()
    )


def _normalised(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text or "").split())


def duplicate_candidates(
    session: TenantSession, name: str, name_kana: str, birth_date: date | None
) -> list[Case]:
    """重複確認 — the open cases of the same person: same birth date and the same name or kana (width and
    spaces ignored). The one place duplicate matching lives, so it can be swapped for the blind-indexed
    matcher of ``cases.people`` without touching its callers."""
    if birth_date is None:
        return []
    wanted_name, wanted_kana = _normalised(name), _normalised(name_kana)
    rows = session.execute(
        select(Case, Person)
        .join(Person, (Person.tenant_id == Case.tenant_id) & (Person.id == Case.person_id))
        .where(Person.birth_date == birth_date, Case.status == "open")
        .order_by(Case.created_at)
        .limit(50)
    ).all()
    return [
        case
        for case, person in rows
        if (wanted_name and _normalised(person.name) == wanted_name)
        or (wanted_kana and _normalised(person.name_kana) == wanted_kana)
    ]


def accept_referral(
    session: TenantSession,
    tenant: Tenant,
    library_root: Any,
    referral: Referral,
    principal: Any,
    choice: AcceptInput,
) -> Case:
    """受付 — accept a referral: join the existing case of the same person (``join_case_id``, one of the
    duplicate check's candidates) or start a new case with the referral's provenance. With candidates and no
    choice the answer is 409 naming them, so nobody opens a second case for the same person by accident.
    The person's consent to the referral is recorded on the case under the sharing rules."""
    permissions.authorize(principal, "referral.accept", referral)
    if referral.status != ReferralStatus.RECEIVED:
        raise Conflict(
            "このつなぎは受付済みです / the referral was already accepted", code="already_accepted"
        )
    person = choice.person or (
        None
        if referral.anonymous
        else cases.PersonInput(referral.person_name, referral.person_kana, referral.birth_date)
    )
    if person is None:
        raise ValidationFailed(
            "an anonymous referral needs the person's details once they consented",
            details={"person.name": ["匿名のつなぎです。本人の同意を得てから氏名等を入力してください"]},
        )
    candidates = duplicate_candidates(session, person.name, person.name_kana, person.birth_date)
    partner = session.get(PartnerOrganisation, (referral.tenant_id, referral.partner_id))
    assert partner is not None
    if choice.join_case_id is not None:
        case = next((c for c in candidates if c.id == choice.join_case_id), None)
        if case is None:
            raise ValidationFailed(
                "the case to join is not a case of the same person",
                details={"join_case_id": ["重複確認で見つかった同じ人のケースを選んでください"]},
            )
        permissions.authorize(principal, "case.create", case)
        joined = True
    elif candidates and not choice.new_case:
        raise Conflict(
            "同じ人のケースがあります。合流するか、新しいケースを開始するか選んでください / the person already "
            "has a case: join it or start a new one",
            code="possible_duplicate",
            details={"candidates": [str(c.id) for c in candidates]},
        )
    else:
        unit_code = session.execute(
            select(OrgUnit.code).where(OrgUnit.id == referral.org_unit_id)
        ).scalar_one()
        case = cases.start_case(
            session,
            tenant,
            library_root,
            person,
            org_unit_code=unit_code,
            referral=_provenance(referral, partner),
            actor_id=principal.user_id,
            actor=principal,
        )
        joined = False
    _record_consent(session, referral, case, principal.user_id)
    cases.record_event(
        session,
        case.id,
        "referral",
        title=f"関係機関からのつなぎ（{partner.name}）" + ("：既存のケースに合流" if joined else ""),
        actor_id=principal.user_id,
        details={"referral_id": str(referral.id), "partner": partner.key, "joined": joined},
    )
    referral.case_id = case.id
    referral.joined_existing = joined
    referral.status = ReferralStatus.IN_PROGRESS
    referral.accepted_by = principal.user_id
    referral.accepted_at = utcnow()
    _tell_partner(session, referral, partner, "in_progress")
    session.flush()
    return case


def _provenance(referral: Referral, partner: PartnerOrganisation) -> dict[str, Any]:
    """The case's ``referral`` (``cases.referral`` schema): who referred, why, the consent, and the id."""
    contact = {k: v for k, v in {"name": referral.contact_name, "phone": referral.contact_phone}.items() if v}
    provenance: dict[str, Any] = {
        "source_agency": partner.name[:100],
        "source_type": "department" if partner.kind == "department" else "agency",
        "reason": referral.reason[:1000],
        "consent_status": referral.consent.get("status") or "not_yet",
        "referred_on": referral.created_at.date().isoformat(),
        "referral_id": str(referral.id),
    }
    if contact:
        provenance["contact"] = contact
    return provenance


def _record_consent(
    session: TenantSession, referral: Referral, case: Case, actor_id: uuid.UUID | None
) -> None:
    consent = referral.consent or {}
    if consent.get("status") != "obtained":
        return
    unit_code = session.execute(select(OrgUnit.code).where(OrgUnit.id == case.org_unit_id)).scalar_one()
    sharing.record_consent(
        session,
        case.id,
        {
            "given_on": consent.get("given_on"),
            "channel": consent.get("channel") or "signed_form",
            "witness": "紹介元" if consent.get("channel") == "verbal_witnessed" else "",
            "form_version": "referral",
            "org_units": [unit_code],
            "categories": consent.get("categories") or ["general"],
        },
        actor_id,
    )


def feedback(session: TenantSession, referral: Referral) -> dict[str, Any]:
    """What the referrer is told: the status (受付済 / 対応中 / 終了) always — it is about their own referral —
    and, only when the person consented to the referrer being told (``consent.feedback``), who took it on
    and when. Nothing from the case file itself (assessment, plan, records) is ever part of it."""
    status = referral.status
    case = session.get(Case, (referral.tenant_id, referral.case_id)) if referral.case_id else None
    if case is not None and case.status == "closed":
        status = ReferralStatus.CLOSED
    told: dict[str, Any] = {"status": str(status)}
    consent = referral.consent or {}
    if consent.get("status") == "obtained" and consent.get("feedback") and case is not None:
        unit = session.get(OrgUnit, (referral.tenant_id, case.org_unit_id)) if case.org_unit_id else None
        told["org_unit"] = unit.name if unit else ""
        told["accepted_on"] = referral.accepted_at.date().isoformat() if referral.accepted_at else None
        if case.closed_at is not None:
            told["closed_on"] = case.closed_at.date().isoformat()
    return told


def _tell_partner(
    session: TenantSession, referral: Referral, partner: PartnerOrganisation, what: str
) -> None:
    notifications.notify(
        session,
        REFERRAL_STATUS_CHANGED.key,
        _member_ids(session, partner.id),
        f"partner/referrals/{referral.id}",
        key=f"referral:{referral.id}:{what}",
        subject=("referral", referral.id),
    )


# ---- requests for cooperation (支援の依頼) ---------------------------------------------------------------------
def request_cooperation(
    session: TenantSession, case: Case, data: CooperationInput, principal: Any
) -> CooperationRequest:
    permissions.authorize(principal, "cooperation.request", case)
    partner = session.execute(
        select(PartnerOrganisation).where(
            PartnerOrganisation.key == data.partner_key, PartnerOrganisation.active.is_(True)
        )
    ).scalar_one_or_none()
    if partner is None:
        raise ValidationFailed("unknown partner", details={"partner": ["登録されていない関係機関です"]})
    row = CooperationRequest(
        tenant_id=case.tenant_id,
        case_id=case.id,
        partner_id=partner.id,
        request=data.request,
        due_on=data.due_on,
        status=CooperationStatus.SENT,
        requested_by=principal.user_id,
    )
    session.add(row)
    session.flush()
    cases.record_event(
        session,
        case.id,
        "cooperation",
        title=f"支援の依頼を送りました（{partner.name}）",
        actor_id=principal.user_id,
        details={"cooperation_id": str(row.id), "partner": partner.key, "status": row.status},
    )
    notifications.notify(
        session,
        COOPERATION_CHANGED.key,
        _member_ids(session, partner.id),
        f"partner/cooperation/{row.id}",
        key=f"cooperation:{row.id}:sent",
        subject=("cooperation", row.id),
    )
    return row


_NEXT = {
    "accept": ({CooperationStatus.SENT}, CooperationStatus.ACCEPTED, "支援の依頼を受諾しました"),
    "decline": ({CooperationStatus.SENT}, CooperationStatus.DECLINED, "支援の依頼を辞退しました"),
    "report": (
        {CooperationStatus.ACCEPTED, CooperationStatus.REPORTED},
        CooperationStatus.REPORTED,
        "支援の報告がありました",
    ),
}


def respond_to_cooperation(
    session: TenantSession,
    row: CooperationRequest,
    partner: PartnerOrganisation,
    action: str,
    text: str,
    actor_id: uuid.UUID | None,
) -> CooperationRequest:
    """The partner accepts or declines (from 依頼済), or reports (once accepted, again later); each answer is
    on the case's timeline and tells the requester and the case's unit."""
    if row.partner_id != partner.id:
        raise NotFound("依頼が見つかりません / request not found")
    allowed, status, title = _NEXT[action]
    if row.status not in allowed:
        raise Conflict(
            f"この依頼は現在「{row.status}」です / the request is {row.status}", code="cooperation_state"
        )
    row.status = status
    if action == "report":
        row.report = (row.report + "\n\n" if row.report else "") + text
    else:
        row.response = text
    row.responded_by = actor_id
    session.flush()
    cases.record_event(
        session,
        row.case_id,
        "cooperation",
        title=f"{title}（{partner.name}）",
        actor_id=actor_id,
        details={
            "cooperation_id": str(row.id),
            "partner": partner.key,
            "status": row.status,
            "text": text[:2000],
        },
    )
    case = cases.get_case(session, row.case_id)
    recipients: list[Any] = [row.requested_by] if row.requested_by else []
    recipients.append(notifications.RoleIn("consultant", case.org_unit_id, fallback_role=None))
    notifications.notify(
        session,
        COOPERATION_CHANGED.key,
        recipients,
        f"cases/{row.case_id}",
        key=f"cooperation:{row.id}:{row.status}:{row.updated_at.timestamp() if row.updated_at else 0}",
        subject=("cooperation", row.id),
    )
    return row


def get_cooperation(
    session: TenantSession, cooperation_id: uuid.UUID, *, partner: PartnerOrganisation | None
) -> CooperationRequest:
    row = session.get(CooperationRequest, (session.require_tenant_id(), cooperation_id))
    if row is None or (partner is not None and row.partner_id != partner.id):
        raise NotFound("依頼が見つかりません / request not found")
    return row


def cooperation_for_partner(session: TenantSession, partner: PartnerOrganisation) -> list[CooperationRequest]:
    return list(
        session.execute(
            select(CooperationRequest)
            .where(CooperationRequest.partner_id == partner.id)
            .order_by(CooperationRequest.created_at.desc())
            .limit(500)
        ).scalars()
    )


def cooperation_for_case(session: TenantSession, case_id: uuid.UUID) -> list[CooperationRequest]:
    return list(
        session.execute(
            select(CooperationRequest)
            .where(CooperationRequest.case_id == case_id)
            .order_by(CooperationRequest.created_at)
        ).scalars()
    )


def person_shown_to_partner(session: TenantSession, row: CooperationRequest) -> str | None:
    """The person's name on a request for cooperation, when an effective consent on the case shares general
    information with 外部参加者 (the partner's role); otherwise ``None`` (the request says what is asked only)."""
    case = cases.get_case(session, row.case_id)
    facts = sharing.case_facts(session, case.id, case.org_unit_id)
    if not any("general" in c.categories and PARTNER_ROLE in c.roles for c in facts.consents):
        return None
    detail = cases.case_detail(session, case)
    return str(detail["person"]["name"]) or None


# ---- early detection (早期把握) ---------------------------------------------------------------------------------
def flag_for_support_meeting(
    session: TenantSession, partner: PartnerOrganisation, data: FlagInput, actor_id: uuid.UUID | None
) -> DepartmentFlag:
    """A department's flag without consent goes on the next 支援会議 of its unit (or the tenant's), where only
    the meeting's registered members see it. It opens no case and is written into no case file."""
    if partner.kind != "department":
        raise Forbidden("早期把握の連絡は庁内の部署からのみです / only municipal departments send flags")
    series, meeting = meetings.next_meeting_of_kind(session, SUPPORT_MEETING, partner.org_unit_id)
    flag = DepartmentFlag(
        tenant_id=partner.tenant_id,
        partner_id=partner.id,
        meeting_id=meeting.id,
        meeting_key=series.key,
        signs=data.signs,
        summary=data.summary,
        created_by=actor_id,
    )
    session.add(flag)
    session.flush()
    return flag


def flags_for_meeting(session: TenantSession, meeting_id: uuid.UUID) -> list[DepartmentFlag]:
    return list(
        session.execute(
            select(DepartmentFlag)
            .where(DepartmentFlag.meeting_id == meeting_id)
            .order_by(DepartmentFlag.created_at)
        ).scalars()
    )


def may_see_flags(session: TenantSession, principal: Any, meeting_key: str) -> bool:
    """支援会議の資料: its registered members (with their confidentiality undertaking) only."""
    return meeting_key in sharing.viewer_for(session, principal).meeting_keys
