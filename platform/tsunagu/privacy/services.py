"""The person's rights (個人情報保護法, since April 2023 for local governments; issue #16).

* :func:`export_person` — everything held about one person: the person, each case with its referral, history
  (with the submitted form data), progress records and consents, and the disclosure log about them (every
  audit entry on their cases). JSON and CSV in one ZIP (:func:`person_export_zip`). Audited (``person.export``).
* :func:`correct_person` — 訂正: name, kana, birth date; the blind index follows (``cases.people``). Audited
  (``person.correct``) with the fields changed, never the values.
* :func:`anonymise_case` / :func:`apply_retention` — after the tenant's retention period (preset
  ``[privacy] retention_years``, default 5 years after closure) a closed case's free text, form data, referral
  and workflow state are erased and its person anonymised once none of their cases is younger. Audited
  (``case.anonymise``). Beat runs :func:`run_retention` nightly.

Audit entries themselves are kept (they name ids, never a name): the trail must stay verifiable.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import delete, select

from ..audit import services as audit
from ..cases.models import Case, CaseEvent, HumanTask, Person, ProgressRecord
from ..core.db import utcnow
from ..core.errors import NotFound
from ..core.session import TenantSession
from ..engine.models import ProcessInstance
from ..sharing.models import Consent
from .archive import build_zip

DEFAULT_RETENTION_YEARS = 5
ANONYMISED_NAME = "（匿名化済み）"


def _row(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__mapper__.column_attrs if c.key not in skip}


def export_person(
    session: TenantSession, person_id: uuid.UUID, actor: Any
) -> dict[str, list[dict[str, Any]]]:
    """The tables of one person's export (the bound tenant's); records ``person.export``."""
    tenant_id = session.require_tenant_id()
    person = session.get(Person, (tenant_id, person_id))
    if person is None:
        raise NotFound("相談者が見つかりません / no such person")
    cases = list(
        session.execute(select(Case).where(Case.person_id == person_id).order_by(Case.created_at)).scalars()
    )
    case_ids = [c.id for c in cases]
    events = list(
        session.execute(
            select(CaseEvent).where(CaseEvent.case_id.in_(case_ids)).order_by(CaseEvent.at)
        ).scalars()
    )
    records = list(
        session.execute(
            select(ProgressRecord)
            .where(ProgressRecord.case_id.in_(case_ids))
            .order_by(ProgressRecord.record_date)
        ).scalars()
    )
    consents = list(session.execute(select(Consent).where(Consent.case_id.in_(case_ids))).scalars())
    disclosures: list[dict[str, Any]] = []
    for case_id in case_ids:
        found = audit.search(
            session, audit.SearchFilter(case_id=case_id, limit=100_000), auditor=actor, export=True
        )
        disclosures.extend(
            {
                "seq": e.seq,
                "at": e.at,
                "actor": e.actor_label,
                "action": e.action,
                "case_id": e.case_id,
                "legal_basis": e.legal_basis,
                "details": e.details,
            }
            for e in reversed(found.entries)
        )
    audit.record(
        session, actor, "person.export", audit.Target("person", str(person_id)), details={"cases": len(cases)}
    )
    return {
        "person": [_row(person)],
        "cases": [_row(c) for c in cases],
        "case_events": [_row(e) for e in events],
        "progress_records": [_row(r) for r in records],
        "consents": [_row(c) for c in consents],
        "disclosures": sorted(disclosures, key=lambda d: d["seq"]),
    }


def person_export_zip(session: TenantSession, person_id: uuid.UUID, actor: Any) -> bytes:
    tables = export_person(session, person_id, actor)
    manifest = {"kind": "person_export", "person_id": str(person_id), "exported_at": utcnow(), "format": 1}
    return build_zip(tables, manifest)


@dataclass(frozen=True)
class Correction:
    name: str | None = None
    name_kana: str | None = None
    birth_date: date | None = None


def correct_person(
    session: TenantSession, person_id: uuid.UUID, correction: Correction, actor: Any, reason: str
) -> list[str]:
    """Apply a correction the person asked for; returns the fields changed (audited, without values)."""
    tenant_id = session.require_tenant_id()
    person = session.get(Person, (tenant_id, person_id))
    if person is None:
        raise NotFound("相談者が見つかりません / no such person")
    changed = []
    for name in ("name", "name_kana", "birth_date"):
        value = getattr(correction, name)
        if value is not None and value != getattr(person, name):
            setattr(person, name, value)
            changed.append(name)
    # the projection's copy of the name follows
    if changed and ("name" in changed or "name_kana" in changed):
        case_ids = select(Case.id).where(Case.person_id == person_id)
        for task in session.execute(select(HumanTask).where(HumanTask.case_id.in_(case_ids))).scalars():
            task.person_name, task.person_kana = person.name, person.name_kana
    session.flush()
    audit.record(
        session,
        actor,
        "person.correct",
        audit.Target("person", str(person_id)),
        details={"fields": changed, "reason": reason[:500]},
    )
    return changed


def retention_years(settings: dict[str, Any] | None) -> int:
    section = (settings or {}).get("privacy") or {}
    return int(section.get("retention_years") or DEFAULT_RETENTION_YEARS)


def anonymise_case(session: TenantSession, case: Case, actor: Any, years: int) -> None:
    """Erase a closed case's personal content; the person too once no other case of theirs is kept."""
    tenant_id = session.require_tenant_id()
    case.referral = None
    for record in session.execute(select(ProgressRecord).where(ProgressRecord.case_id == case.id)).scalars():
        record.content = ""
        record.promotion_reason = ""
        record.staff_name = ""
    for event in session.execute(select(CaseEvent).where(CaseEvent.case_id == case.id)).scalars():
        event.submission = None
    if case.process_instance_id is not None:
        # the workflow state holds the intake data: it goes (its tasks and timers cascade)
        session.execute(
            delete(HumanTask).where(HumanTask.process_instance_id == case.process_instance_id),
            execution_options={"synchronize_session": False},
        )
        session.execute(
            delete(ProcessInstance).where(ProcessInstance.id == case.process_instance_id),
            execution_options={"synchronize_session": False},
        )
        case.process_instance_id = None
    case.outcome = case.outcome or "closed"
    others = session.execute(
        select(Case.id).where(
            Case.person_id == case.person_id, Case.id != case.id, Case.status != "anonymised"
        )
    ).all()
    case.status = "anonymised"
    if not others:
        person = session.get(Person, (tenant_id, case.person_id))
        if person is not None:
            person.name, person.name_kana, person.birth_date = ANONYMISED_NAME, "", None
    session.flush()
    audit.record(
        session,
        actor,
        "case.anonymise",
        audit.Target.case(case.id),
        legal_basis=f"retention: {years} years after closure",
        details={"closed_at": case.closed_at.isoformat() if case.closed_at else None, "person": not others},
    )


@dataclass
class RetentionResult:
    anonymised: list[uuid.UUID] = field(default_factory=list)


def apply_retention(
    session: TenantSession, settings: dict[str, Any] | None, now: datetime | None = None
) -> RetentionResult:
    """Anonymise every case of the bound tenant closed longer ago than its retention period."""
    years = retention_years(settings)
    cutoff = (now or utcnow()) - relativedelta(years=years)
    result = RetentionResult()
    due = session.execute(
        select(Case).where(Case.status == "closed", Case.closed_at.is_not(None), Case.closed_at < cutoff)
    ).scalars()
    for case in list(due):
        anonymise_case(session, case, None, years)
        result.anonymised.append(case.id)
    return result


def run_retention(runtime: Any, now: datetime | None = None) -> dict[str, int]:
    """The nightly job: :func:`apply_retention` for every active tenant, one transaction each."""
    from ..core.session import transaction
    from ..tenancy.models import Tenant
    from ..tenancy.services import list_active_tenants

    counts: dict[str, int] = {}
    for listing in list_active_tenants(runtime):
        with transaction(runtime.sessions, listing.id) as session:
            tenant = session.get(Tenant, listing.id)
            counts[listing.slug] = len(
                apply_retention(session, tenant.settings if tenant else None, now).anonymised
            )
    return counts


def reencrypt_tenant(runtime: Any, tenant_id: uuid.UUID, batch: int = 500) -> int:
    """Re-seal everything of a tenant under its current key, in small transactions (live traffic goes on);
    then rebuild its people's blind index. Returns the values re-sealed."""
    from ..cases import people
    from ..core.session import transaction
    from ..keys import services as keys

    total = 0
    while True:
        with transaction(runtime.sessions, tenant_id) as session:
            result = keys.reencrypt_batch(session, tenant_id, limit=batch)
        total += result.resealed
        if not result.remaining:
            break
    with transaction(runtime.sessions, tenant_id) as session:
        people.reindex(session)
    return total
