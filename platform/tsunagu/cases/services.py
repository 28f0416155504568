"""Cases: start one, read one, and the advance path (``advance``) every command on a case goes through.

Views, the inbox and beat call these; these call the engine through ``engine.services``.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from ..core.errors import NotFound, ValidationFailed
from ..core.session import TenantSession
from ..engine import services as engine
from ..identity import permissions
from ..tenancy.models import OrgUnit, Tenant
from . import numbering, operate, ownership
from .advance import (
    MESSAGE_NAMES,
    CompletedStep,
    WorkflowFailed,
    apply_result,
    complete_task,
    context_of,
    deliver_message,
    fire_due_timers,
    fire_timer,
    on_step_completed,
    record_event,
)
from .inputs import PersonInput, parse_person
from .models import Case, CaseEvent, HumanTask, Person
from .projection import LANE_ROLES
from .queries import numbers_of
from .tasks import first_ready_task, get_task, lock_workable_task, next_task_for
from .workspace import highlight_ids, instance_diagram_xml, user_names

__all__ = [
    "LANE_ROLES",
    "MESSAGE_NAMES",
    "CompletedStep",
    "HumanTask",
    "PersonInput",
    "WorkflowFailed",
    "apply_result",
    "case_detail",
    "complete_task",
    "context_of",
    "deliver_message",
    "fire_due_timers",
    "fire_timer",
    "first_ready_task",
    "get_case",
    "get_task",
    "highlight_ids",
    "history",
    "instance_diagram_xml",
    "lock_workable_task",
    "next_task_for",
    "numbering",
    "numbers_of",
    "on_step_completed",
    "operate",
    "ownership",
    "parse_person",
    "record_event",
    "stage_of",
    "start_case",
    "user_names",
    "workflow_settings",
]

DEFAULT_MEETING_PROCESS = "meeting_hybrid"
DEFAULT_MONITORING_INTERVAL = "P1M"


def workflow_settings(tenant: Tenant) -> dict[str, Any]:
    settings = tenant.settings or {}
    wf = dict(settings.get("workflow") or {})
    wf.setdefault("meeting_process", DEFAULT_MEETING_PROCESS)
    wf.setdefault("monitoring_interval", DEFAULT_MONITORING_INTERVAL)
    return wf


def start_case(
    session: TenantSession,
    tenant: Tenant,
    library_root: Any,
    person_input: PersonInput,
    *,
    org_unit_code: str | None = None,
    referral: dict[str, Any] | None = None,
    actor_id: uuid.UUID | None = None,
    actor: permissions.Subject | None = None,
) -> Case:
    """相談受付 — open a case and start the tenant's casework process on its latest deployment.

    A case always belongs to an org unit (fail closed, issue #15): ``org_unit_code`` if given — the ``actor``
    must hold a case-opening role there (403 otherwise) — else the actor's own unit when they hold exactly
    one; without either the request is refused (422), never opened for the whole tenant. ``actor=None`` is
    for system callers, which name the unit.
    """
    tenant_id = session.require_tenant_id()
    requested = None
    if org_unit_code:
        unit = session.execute(
            select(OrgUnit).where(OrgUnit.code == org_unit_code, OrgUnit.active.is_(True))
        ).scalar_one_or_none()
        if unit is None:
            raise ValidationFailed(
                "存在しない組織です / unknown org unit", details={"org_unit": ["存在しない組織です"]}
            )
        requested = unit.id
    org_unit_id = permissions.creation_unit(actor, requested) if actor is not None else requested
    if org_unit_id is None:
        raise ValidationFailed(
            "choose the org unit the case belongs to",
            details={"org_unit": ["ケースの担当組織を選んでください / choose the case's org unit"]},
        )
    if not org_unit_code:
        org_unit_code = session.execute(select(OrgUnit.code).where(OrgUnit.id == org_unit_id)).scalar_one()
    engine.ensure_library_deployed(session, library_root, LANE_ROLES, tenant.slug)
    row = engine.latest_deployment_for(session, "casework")
    if row is None:
        raise NotFound("ケースワークの定義がありません / no deployment holds the casework process")
    deployment = engine.load_deployment(session, row.id)
    person = Person(
        tenant_id=tenant_id,
        name=person_input.name,
        name_kana=person_input.name_kana,
        birth_date=person_input.birth_date,
    )
    session.add(person)
    session.flush()
    case = Case(
        tenant_id=tenant_id,
        number=numbering.next_number(session),  # the counter row stays locked until this commits
        person_id=person.id,
        org_unit_id=org_unit_id,
        referral=referral,
        created_by=actor_id,
        responsible_id=ownership.default_responsible(actor, org_unit_id),
    )
    session.add(case)
    session.flush()
    wf = workflow_settings(tenant)
    data = {
        "case_id": str(case.id),
        "case_number": case.number,
        "tenant_slug": tenant.slug,
        "org_unit": org_unit_code or "",
        "monitoring_interval": wf["monitoring_interval"],
        "referral": referral,
        "person": {
            "name": person.name,
            "name_kana": person.name_kana,
            "birth_date": person.birth_date.isoformat() if person.birth_date else None,
        },
    }
    try:
        result = engine.start(session, deployment, "casework", wf["meeting_process"], data, case_id=case.id)
    except engine.EngineFault as fault:
        # No instance was saved to attach an incident to; the request rolls back and says what failed.
        raise WorkflowFailed(fault, None) from fault
    case.process_instance_id = result.instance.id
    record_event(
        session,
        case.id,
        "started",
        title="相談受付" if not referral else "相談受付（他機関からのつなぎ）",
        actor_id=actor_id,
        details={
            "deployment_version": deployment.version,
            "referral": bool(referral),
            "number": case.number,
        },
    )
    apply_result(session, case, result, context_of(session, case))
    session.flush()
    return case


def get_case(session: TenantSession, case_id: uuid.UUID) -> Case:
    case = session.get(Case, (session.require_tenant_id(), case_id))
    if case is None:
        raise NotFound("ケースが見つかりません / case not found")
    return case


def stage_of(session: TenantSession, case: Case) -> str:
    """Where the case stands: its process's stage (kept on the instance row, with the state it comes from)."""
    instance = engine.get_instance(session, case.process_instance_id)
    return instance.stage if instance is not None else ""


def case_detail(session: TenantSession, case: Case) -> dict[str, Any]:
    instance = engine.get_instance(session, case.process_instance_id)
    version = None
    incidents: list[Any] = []
    if instance is not None:
        dep = session.get(engine.Deployment, (case.tenant_id, instance.deployment_id))
        version = dep.version if dep else None
        incidents = engine.open_incidents(session, instance.id)
    person = session.get(Person, (case.tenant_id, case.person_id))
    events = session.execute(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.at, CaseEvent.id)
    ).scalars()
    return {
        "id": str(case.id),
        "number": case.number,
        "responsible_id": str(case.responsible_id) if case.responsible_id else None,
        "in_meeting": case.in_meeting,
        "stage": instance.stage if instance is not None else "",
        "status": case.status,
        "outcome": case.outcome,
        "process_instance_id": str(case.process_instance_id) if case.process_instance_id else None,
        "process_version": version,
        "person": {
            "name": person.name if person else "",
            "name_kana": person.name_kana if person else "",
            "birth_date": person.birth_date.isoformat() if person and person.birth_date else None,
        },
        "incidents": [
            {
                "id": str(i.id),
                "element": i.element,
                "command": i.command,
                "message": i.message,
                "created_at": i.created_at.isoformat(),
            }
            for i in incidents
        ],
        "history": [
            {
                "kind": e.kind,
                "element": e.element,
                "title": e.title,
                "actor_id": str(e.actor_id) if e.actor_id else None,
                "task_id": str(e.task_id) if e.task_id else None,
                "at": e.at.isoformat(),
                "details": e.details,
            }
            for e in events
        ],
    }


def history(session: TenantSession, case_id: uuid.UUID, limit: int = 500) -> list[CaseEvent]:
    """The case's timeline, oldest first (at most ``limit`` entries, the newest ones)."""
    rows = session.execute(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.at.desc()).limit(limit)
    ).scalars()
    return list(reversed(list(rows)))
