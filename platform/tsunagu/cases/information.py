"""A case's information as one viewer may see it — every page and API response of a case asks here, and
here asks ``sharing`` (the one decision, ``sharing.services.decide``) item by item (issue #15).

Also the consent commands of a case: recording a consent, withdrawing it (partly: effective at once and in
the case history; fully: also the BPMN message ``consent_withdrawn`` through the advance path), expiring it
(the consultant of the case's unit is notified), and promoting a 支援会議 item into the case file.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select

from ..core.db import utcnow
from ..core.errors import Forbidden, NotFound, ValidationFailed
from ..core.session import TenantSession
from ..identity.models import Role
from ..notifications import services as notifications
from ..sharing import services as sharing
from ..tenancy.models import OrgUnit
from .advance import deliver_message, record_event
from .models import Case, Person, ProgressRecord

CONSENT_EXPIRED = notifications.register_kind(
    notifications.Kind(
        "consent.expired",
        "同意の有効期限が切れました",
        "A consent has expired",
        template="consent_expired",
        default_mode=notifications.Mode.IN_APP,
        modes=(notifications.Mode.IN_APP,),
    )
)

#: who may move a 支援会議 item into the case file: the case team of the case's unit, or an administrator
PROMOTERS = frozenset({Role.CONSULTANT.value, Role.MUNICIPAL_STAFF.value})
MAX_REASON = 1000


@dataclass
class ProgressView:
    record: ProgressRecord
    decision: sharing.Decision

    @property
    def full(self) -> bool:
        return self.decision.full


@dataclass
class CaseInformation:
    """What the viewer sees: the case file (person, workflow data, history) under one decision, the
    progress records each under their own, 支援会議 records kept apart, and the anonymised summary."""

    file: sharing.Decision
    summary: dict[str, Any]
    progress: list[ProgressView] = field(default_factory=list)
    meeting_records: list[ProgressView] = field(default_factory=list)
    consents: list[sharing.Consent] = field(default_factory=list)
    may_promote: bool = False

    @property
    def file_full(self) -> bool:
        return self.file.full


def _age(birth: date | None, today: date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _item(record: ProgressRecord) -> sharing.Item:
    return sharing.Item(
        category=record.category,
        source=record.source,
        meeting_key=record.meeting_key,
        promoted=record.promoted_at is not None,
    )


def case_information(
    session: TenantSession, case: Case, principal: Any, topics: list[str] | None = None
) -> CaseInformation:
    """The decisions for ``principal`` on everything the case holds (the caller checked ``case.read``)."""
    viewer = sharing.viewer_for(session, principal)
    facts = sharing.case_facts(session, case.id, case.org_unit_id)
    person = session.get(Person, (case.tenant_id, case.person_id))
    unit = session.get(OrgUnit, (case.tenant_id, case.org_unit_id)) if case.org_unit_id else None
    summary = sharing.anonymised_summary(
        _age(person.birth_date if person else None, date.today()), unit.name if unit else "", topics or []
    )
    file_decision = sharing.decide(viewer, sharing.Item(source=sharing.Source.PERSON.value), facts)
    info = CaseInformation(
        file=file_decision, summary=summary, consents=sharing.consents_of(session, case.id)
    )
    records = session.execute(
        select(ProgressRecord)
        .where(ProgressRecord.case_id == case.id)
        .order_by(ProgressRecord.record_date.desc(), ProgressRecord.created_at.desc())
    ).scalars()
    for record in records:
        view = ProgressView(record, sharing.decide(viewer, _item(record), facts))
        if view.decision.level == sharing.Level.HIDDEN:
            continue
        in_meeting = record.source == sharing.Source.SUPPORT_MEETING and record.promoted_at is None
        (info.meeting_records if in_meeting else info.progress).append(view)
    info.may_promote = bool(info.meeting_records) and _may_promote(principal, case)
    return info


def file_decision(session: TenantSession, case: Case, principal: Any) -> sharing.Decision:
    """The decision on the case file alone (person, workflow data, history contents): lists and the
    timeline ask this without loading the progress records."""
    viewer = sharing.viewer_for(session, principal)
    facts = sharing.case_facts(session, case.id, case.org_unit_id)
    return sharing.decide(viewer, sharing.Item(source=sharing.Source.PERSON.value), facts)


def file_decisions(session: TenantSession, cases: list[Case], principal: Any) -> dict[Any, sharing.Decision]:
    """:func:`file_decision` for every case of a list page, in two queries whatever the number of rows (the
    viewer's 支援会議 memberships, and every case's consents)."""
    if not cases:
        return {}
    viewer = sharing.viewer_for(session, principal)
    facts = sharing.case_facts_many(session, [(c.id, c.org_unit_id) for c in cases])
    item = sharing.Item(source=sharing.Source.PERSON.value)
    return {c.id: sharing.decide(viewer, item, facts[c.id]) for c in cases}


def list_summary(person: Person | None, unit_name: str) -> dict[str, Any]:
    """The anonymised summary of a list row (age band, ward; topics are not loaded for lists), from what the
    row already holds."""
    return sharing.anonymised_summary(
        _age(person.birth_date if person else None, date.today()), unit_name, []
    )


def summary_of(session: TenantSession, case: Case, person: Person | None) -> dict[str, Any]:
    """The anonymised summary of a case (age band, ward; topics are not loaded for lists)."""
    unit = session.get(OrgUnit, (case.tenant_id, case.org_unit_id)) if case.org_unit_id else None
    return sharing.anonymised_summary(
        _age(person.birth_date if person else None, date.today()), unit.name if unit else "", []
    )


def progress_view(session: TenantSession, case: Case, principal: Any, record: ProgressRecord) -> ProgressView:
    """One progress record as ``principal`` may see it (e.g. the one just added)."""
    viewer = sharing.viewer_for(session, principal)
    facts = sharing.case_facts(session, case.id, case.org_unit_id)
    return ProgressView(record, sharing.decide(viewer, _item(record), facts))


def _may_promote(principal: Any, case: Case) -> bool:
    return principal.is_admin or any((role, case.org_unit_id) in principal.grants for role in PROMOTERS)


def progress_json(view: ProgressView) -> dict[str, Any]:
    record, decision = view.record, view.decision
    out: dict[str, Any] = {
        "id": str(record.id),
        "record_date": record.record_date.isoformat(),
        "category": record.category,
        "source": record.source,
        "visibility": decision.level.value,
        "basis": decision.basis,
    }
    if record.meeting_key:
        out["meeting_key"] = record.meeting_key
    if record.promoted_at is not None:
        out["promoted"] = {
            "at": record.promoted_at.isoformat(),
            "by": str(record.promoted_by) if record.promoted_by else None,
            "reason": record.promotion_reason,
        }
    if decision.full:
        out.update(method=record.method, staff_name=record.staff_name, content=record.content)
    return out


def information_json(session: TenantSession, info: CaseInformation) -> dict[str, Any]:
    return {
        "visibility": info.file.level.value,
        "basis": info.file.basis,
        "summary": info.summary,
        "progress": [progress_json(v) for v in info.progress],
        "support_meeting_records": [progress_json(v) for v in info.meeting_records],
        "consents": [sharing.consent_json(session, c) for c in info.consents] if info.file_full else [],
    }


# --- commands ---------------------------------------------------------------------------------------------


def record_consent(session: TenantSession, case: Case, body: Any, actor_id: uuid.UUID | None) -> Any:
    consent = sharing.record_consent(session, case.id, body, actor_id)
    record_event(
        session,
        case.id,
        "consent_recorded",
        title="同意の記録",
        actor_id=actor_id,
        details={"consent_id": str(consent.id), "categories": consent.categories},
    )
    return consent


def withdraw_consent(
    session: TenantSession, case: Case, consent_id: uuid.UUID, body: Any, actor_id: uuid.UUID | None
) -> str:
    """同意の撤回: effective at once; a full withdrawal also reaches the running case as ``consent_withdrawn``
    (which suspends it); a partial one is recorded in its history."""
    consent = sharing.get_consent(session, case.id, consent_id)
    kind = sharing.withdraw(session, consent, body, actor_id)
    record_event(
        session,
        case.id,
        "consent_withdrawn" if kind == "full" else "consent_narrowed",
        title="同意の撤回" if kind == "full" else "同意の一部撤回",
        actor_id=actor_id,
        details={"consent_id": str(consent.id), **(consent.changes or [{}])[-1]},
    )
    if kind == "full" and case.status == "open":
        deliver_message(
            session,
            case,
            "consent_withdrawn",
            {"consent_id": str(consent.id), "at": utcnow().isoformat()},
            actor_id=actor_id,
        )
    return kind


def expire_consents(session: TenantSession, today: date | None = None) -> int:
    """Expire consents past their ``valid_until`` and tell the consultant of each case's unit (beat)."""
    expired = sharing.expire_due(session, today or date.today())
    for consent in expired:
        case = session.get(Case, (consent.tenant_id, consent.case_id))
        if case is None:
            continue
        record_event(
            session,
            case.id,
            "consent_expired",
            title="同意の有効期限切れ",
            details={"consent_id": str(consent.id)},
        )
        notifications.notify(
            session,
            CONSENT_EXPIRED.key,
            [notifications.RoleIn(Role.CONSULTANT.value, case.org_unit_id)],
            f"cases/{case.id}",
            key=f"consent.expired:{consent.id}",
            subject=("case", case.id),
        )
    return len(expired)


def promote(
    session: TenantSession, case: Case, record_id: uuid.UUID, reason: str, principal: Any
) -> ProgressRecord:
    """支援会議の情報を本人同意に基づくケース記録へ移す — an explicit decision by an authorised person (the
    case team of the case's unit, or an administrator), with the reason, recorded (who, when, why)."""
    record = session.get(ProgressRecord, (case.tenant_id, record_id))
    if record is None or record.case_id != case.id or record.source != sharing.Source.SUPPORT_MEETING:
        raise NotFound("記録が見つかりません / record not found")
    if not _may_promote(principal, case):
        raise Forbidden("ケース記録へ移す権限がありません / only the case team may promote this record")
    viewer = sharing.viewer_for(session, principal)
    if record.meeting_key not in viewer.meeting_keys:
        raise NotFound("記録が見つかりません / record not found")  # non-members never learn it exists
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        raise ValidationFailed(
            "a reason is required", details={"reason": [f"理由を入力してください（{MAX_REASON}文字以内）"]}
        )
    if record.promoted_at is None:
        record.promoted_at = utcnow()
        record.promoted_by = principal.user_id
        record.promotion_reason = reason
        record_event(
            session,
            case.id,
            "meeting_item_promoted",
            title="支援会議の情報をケース記録へ",
            actor_id=principal.user_id,
            details={"record_id": str(record.id), "meeting_key": record.meeting_key, "reason": reason},
        )
        session.flush()
    return record


def expire_consents_everywhere(runtime: Any) -> int:
    """Beat: :func:`expire_consents` in every active tenant, one transaction each (a failing tenant is
    logged and does not stop the others)."""
    import logging

    from ..core.session import transaction
    from ..tenancy.services import list_active_tenants

    total = 0
    for tenant in list_active_tenants(runtime):
        try:
            with transaction(runtime.sessions, tenant.id) as session:
                total += expire_consents(session)
        except Exception:
            logging.getLogger("tsunagu.sharing").exception("expiring consents of %s failed", tenant.slug)
    return total
