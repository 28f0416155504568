"""The case workspace (ケース画面): what one page shows about a case, read through services.

The timeline comes from ``CaseEvent`` rows; the plan, consent and meeting facts come from the case's workflow
data, which is deserialized here — only on this page, never in lists. The BPMN diagram is the process file
of the deployment the instance runs on, with the ids of where the case currently is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ..core.errors import NotFound, ValidationFailed
from ..core.session import TenantSession
from ..engine import services as engine
from ..identity.services import display_names
from ..tenancy.models import OrgUnit
from .models import Case, CaseEvent, HumanTask, Person, ProgressRecord

PROGRESS_METHODS = ("visit", "phone", "accompany", "other")
MAX_PROGRESS_CONTENT = 4000

PLAN_KEYS = (
    "plan_date",
    "plan_period",
    "plan_end_date",
    "long_term_goal",
    "short_term_goals",
    "statutory_programmes",
    "person_agreed",
)
CONSENT_KEYS = (
    "consent_application",
    "application_date",
    "signature_confirmed",
    "consent_agencies",
    "consent_categories",
    "consent_tax_info",
    "consent_valid_until",
)
MEETING_KEYS = (
    "meeting_date",
    "meeting_time",
    "venue",
    "attendees",
    "absent_members",
    "meeting_decision",
    "roles_assigned",
    "after_the_fact_report",
    "route",  # the tenant's routing table (meeting_route): which meeting, and why
    "route_reason",
)


@dataclass
class TimelineEntry:
    at: Any
    kind: str
    title: str
    element: str
    actor: str
    details: dict[str, Any]


@dataclass
class Workspace:
    case: Case
    person: Person
    org_unit: OrgUnit | None
    timeline: list[TimelineEntry]
    ready_tasks: list[HumanTask]
    progress: list[ProgressRecord]
    deployment_version: int | None
    current_elements: list[str]
    data: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)  # field key → option value → label
    field_labels: dict[str, str] = field(default_factory=dict)  # field key → label
    user_names: dict[uuid.UUID, str] = field(default_factory=dict)
    #: where the process stands (the instance's stage)
    stage: str = ""
    #: engine errors waiting for someone (an operator retries them; a failed step can be submitted again)
    incidents: list[engine.Incident] = field(default_factory=list)

    @property
    def plan(self) -> dict[str, Any]:
        return {k: self.data[k] for k in PLAN_KEYS if self.data.get(k) not in (None, "", [])}

    @property
    def support_lines(self) -> list[dict[str, Any]]:
        lines = []
        for n in (1, 2, 3):
            line = {
                part: self.data.get(f"support_{n}_{part}")
                for part in ("own_action", "provider", "content", "frequency")
            }
            if any(line.values()):
                lines.append(line)
        return lines

    @property
    def consent(self) -> dict[str, Any]:
        return {k: self.data[k] for k in CONSENT_KEYS if k in self.data}

    @property
    def consent_withdrawn(self) -> bool:
        return bool(self.data.get("consent_withdrawal"))

    @property
    def meeting(self) -> dict[str, Any]:
        return {k: self.data[k] for k in MEETING_KEYS if self.data.get(k) not in (None, "", [])}

    def option_label(self, key: str, value: Any) -> str:
        if isinstance(value, list):
            return "、".join(self.option_label(key, v) for v in value)
        return self.labels.get(key, {}).get(str(value), str(value))


def user_names(session: TenantSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    return display_names(session, ids)


def _labels_from_forms(forms: dict[str, Any]) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    labels: dict[str, dict[str, str]] = {}
    field_labels: dict[str, str] = {}

    def walk(components: list[Any]) -> None:
        for comp in components:
            if not isinstance(comp, dict):
                continue
            if comp.get("components"):
                walk(comp["components"])
            key = comp.get("key")
            if not key:
                continue
            field_labels.setdefault(key, str(comp.get("label") or key))
            for option in comp.get("values") or []:
                labels.setdefault(key, {})[str(option.get("value"))] = str(option.get("label"))

    for schema in forms.values():
        walk(schema.get("components") or [])
    return labels, field_labels


def workflow_data(session: TenantSession, instance: engine.ProcessInstance) -> dict[str, Any]:
    """The data of the case's workflow as it stands: the newest task state of the top-level process."""
    return engine.workflow_data(instance)


def case_topics(session: TenantSession, case: Case) -> list[str]:
    """The consultation topics of the intake form (相談の主訴), for the anonymised summary."""
    instance = engine.get_instance(session, case.process_instance_id)
    if instance is None:
        return []
    topics = workflow_data(session, instance).get("consultation_topics") or []
    return [str(t) for t in topics] if isinstance(topics, list) else []


def load_workspace(session: TenantSession, case_id: uuid.UUID) -> Workspace:
    from .services import get_case

    case = get_case(session, case_id)
    tenant_id = case.tenant_id
    person = session.get(Person, (tenant_id, case.person_id))
    if person is None:  # pragma: no cover - foreign key
        raise NotFound("person not found")
    unit = session.get(OrgUnit, (tenant_id, case.org_unit_id)) if case.org_unit_id else None
    events = list(
        session.execute(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.at, CaseEvent.id)
        ).scalars()
    )
    progress = list(
        session.execute(
            select(ProgressRecord)
            .where(ProgressRecord.case_id == case.id)
            .order_by(ProgressRecord.record_date.desc(), ProgressRecord.created_at.desc())
        ).scalars()
    )
    ready = list(
        session.execute(
            select(HumanTask)
            .where(HumanTask.case_id == case.id, HumanTask.state == "ready")
            .order_by(HumanTask.created_at)
        ).scalars()
    )
    names = user_names(
        session, {e.actor_id for e in events if e.actor_id} | {t.assignee_id for t in ready if t.assignee_id}
    )
    timeline = [
        TimelineEntry(
            at=e.at,
            kind=e.kind,
            title=e.title,
            element=e.element,
            actor=names.get(e.actor_id, "") if e.actor_id else "",
            details=e.details or {},
        )
        for e in events
    ]
    workspace = Workspace(
        case=case,
        person=person,
        org_unit=unit,
        timeline=timeline,
        ready_tasks=ready,
        progress=progress,
        deployment_version=None,
        current_elements=[],
        user_names=names,
    )
    instance = engine.get_instance(session, case.process_instance_id)
    if instance is not None:
        deployment = engine.load_deployment(session, instance.deployment_id)
        workspace.deployment_version = deployment.version
        workspace.stage = instance.stage
        workspace.incidents = engine.open_incidents(session, instance.id)
        workspace.labels, workspace.field_labels = _labels_from_forms(deployment.forms)
        workspace.data = workflow_data(session, instance)
        timers = session.execute(
            select(engine.Timer.element).where(
                engine.Timer.process_instance_id == instance.id,
                engine.Timer.fired_at.is_(None),
                engine.Timer.cancelled_at.is_(None),
            )
        ).scalars()
        workspace.current_elements = sorted({t.element for t in ready} | set(timers))
    return workspace


# ---- the diagram ---------------------------------------------------------------------------------------
def diagram_xml(session: TenantSession, case: Case) -> str:
    """The BPMN file (XML) holding the case's process, from the deployment its instance runs on."""
    instance = engine.get_instance(session, case.process_instance_id)
    if instance is None:
        raise NotFound("このケースにはプロセスがありません / the case has no process")
    return instance_diagram_xml(session, instance)


def instance_diagram_xml(session: TenantSession, instance: engine.ProcessInstance) -> str:
    """The BPMN file (XML) holding the instance's process, from the deployment it runs on."""
    row = session.get(engine.Deployment, (instance.tenant_id, instance.deployment_id))
    if row is None:
        raise NotFound("deployment not found")
    xml = _process_file(row.files, instance.process_id)
    if xml is None:
        raise NotFound("the process file is missing from the deployment")
    return xml


def _process_file(files: dict[str, str], process_id: str) -> str | None:
    for name, text in sorted(files.items()):
        if not name.endswith(".bpmn") or f'id="{process_id}"' not in text:
            continue
        root = engine.parse_xml(text.encode("utf-8"), filename=name)
        for el in root.iter("{*}process"):
            if el.get("id") == process_id:
                return text
    return None


def highlight_ids(xml: str, elements: list[str]) -> list[str]:
    """Diagram ids to mark for ``elements``: the element itself when drawn in this file, its enclosing
    sub-processes, and — for steps inside a called process (the meeting) — the call activities."""
    root = engine.parse_xml(xml.encode("utf-8"), filename="diagram.bpmn")
    by_id = {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    marked: list[str] = []
    for element in elements:
        el = by_id.get(element)
        if el is None:
            for call in root.iter("{*}callActivity"):
                marked.append(str(call.get("id")))
            continue
        marked.append(element)
        parent = el.getparent()
        while parent is not None:
            if isinstance(parent.tag, str) and parent.tag.endswith("}subProcess") and parent.get("id"):
                marked.append(str(parent.get("id")))
            parent = parent.getparent()
    return sorted(set(marked))


# ---- progress records ------------------------------------------------------------------------------------
def add_progress_record(
    session: TenantSession,
    case: Case,
    *,
    record_date: str,
    method: str,
    staff_name: str,
    content: str,
    actor_id: uuid.UUID | None,
    category: str = "general",
    source: str = "consultant",
    meeting_key: str = "",
) -> ProgressRecord:
    """支援経過記録を追加 — validate and append a progress record, and note it in the case history.

    Provenance (issue #15): ``category`` (general / 要配慮 / tax / household) and ``source`` (the person, the
    consultant, another agency, the tax department, a 支援会議 — which then names its ``meeting_key``)."""
    from ..sharing import services as sharing
    from .advance import record_event
    from .inputs import one_line, parse_date

    errors: dict[str, list[str]] = {}
    if category not in sharing.CATEGORIES:
        errors["category"] = ["選択肢にない値です"]
    if source not in sharing.SOURCES:
        errors["source"] = ["選択肢にない値です"]
    meeting_key = (meeting_key or "").strip()
    if source == sharing.Source.SUPPORT_MEETING and not meeting_key:
        errors["meeting_key"] = ["支援会議の記録にはどの会議かが必要です / name the support meeting"]
    elif len(meeting_key) > 64:
        errors["meeting_key"] = ["64文字以内で入力してください"]
    day, problem = parse_date(record_date)  # YYYY-MM-DD only (issue #10)
    if problem:
        errors["record_date"] = [problem]
    if method not in PROGRESS_METHODS:
        errors["method"] = ["選択肢にない値です"]
    staff_name, problem = one_line(staff_name, 100)  # one line, at most 100 characters
    if problem:
        errors["staff_name"] = [problem]
    if not content.strip():
        errors["content"] = ["必須項目です"]
    elif len(content) > MAX_PROGRESS_CONTENT:
        errors["content"] = [f"{MAX_PROGRESS_CONTENT}文字以内で入力してください"]
    if errors or day is None:
        raise ValidationFailed("入力内容に誤りがあります / the data does not fit", details=errors)
    record = ProgressRecord(
        tenant_id=session.require_tenant_id(),
        case_id=case.id,
        record_date=day,
        method=method,
        staff_name=staff_name.strip(),
        content=content.replace("\r\n", "\n").strip(),
        created_by=actor_id,
        category=category,
        source=source,
        meeting_key=meeting_key if source == sharing.Source.SUPPORT_MEETING else None,
    )
    session.add(record)
    record_event(
        session,
        case.id,
        "progress_record",
        title="支援経過記録",
        actor_id=actor_id,
        details={"record_date": day.isoformat(), "method": method, "category": category, "source": source},
    )
    session.flush()
    return record
