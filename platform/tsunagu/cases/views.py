"""JSON API for cases: open, list and search, read, timeline, consent, progress records, messages."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request

from ..identity.auth import current_principal
from ..identity.permissions import authorize
from ..tenancy.models import Tenant
from ..web.api import operation
from ..web.blueprints import api_bp, require_permission
from ..web.etag import respond
from ..web.requests import db, parse_id
from . import queries, services, workspace
from .inputs import check_message_payload, parse_date, parse_org_unit
from .models import Case, HumanTask
from .referral import parse_referral
from .schemas import (
    CaseCreated,
    CaseListItem,
    CaseOut,
    CaseQuery,
    ConsentOut,
    MessageIn,
    MessageResult,
    NewCase,
    PersonOut,
    ProgressRecordIn,
    ProgressRecordOut,
    TaskSummary,
    TimelineEntryOut,
)

_TAGS = ["cases"]


def task_summary(task: HumanTask) -> dict[str, Any]:
    """A ready task of the case, as ``GET tasks`` lists it (the inbox's ``task_json``; cases sits below it)."""
    return TaskSummary(
        id=str(task.id),
        name=task.element,
        title=task.title,
        case_id=str(task.case_id) if task.case_id else None,
        lane=task.lane,
        role=task.role,
        assignee=str(task.assignee_id) if task.assignee_id else None,
        due_at=task.due_at.isoformat() if task.due_at else None,
        form=task.form_key,
        state=task.state,
        person_name=task.person_name,
    ).model_dump(mode="json")


@api_bp.post("/cases")
@require_permission("case.create")
@operation(json=NewCase, resp={201: CaseCreated}, errors=(403, 409), tags=_TAGS, headers=["Idempotency-Key"])
def create_case(json: NewCase) -> Any:
    """相談受付: open a case for a person and start the casework process (Idempotency-Key honoured)."""
    body = request.get_json()
    person = services.parse_person(body.get("person"))  # one line each, the birth date between 1900 and today
    referral = parse_referral(body.get("referral"))  # issue #10: a schema, not any object of any size
    org_unit = parse_org_unit(json.org_unit)
    session = db()
    tenant = session.get(Tenant, g.tenant.id)
    assert tenant is not None
    case = services.start_case(
        session,
        tenant,
        current_app.extensions["tsunagu"].settings.workflows_dir,
        person,
        org_unit_code=org_unit,
        referral=referral,
        actor_id=g.principal.user_id,
        actor=g.principal,
    )
    created = CaseCreated(
        id=str(case.id),
        process_instance_id=str(case.process_instance_id),
        stage=services.stage_of(session, case),
    )
    return created.model_dump(mode="json"), 201


@api_bp.get("/cases")
@require_permission("case.read")
@operation(query=CaseQuery, resp={200: list[CaseListItem]}, tags=_TAGS)
def list_cases(query: CaseQuery) -> Any:
    """Cases the caller may see, newest first: by org unit (code), state, stage, person kana (prefix) and
    ready tasks due on or before a day. ``limit`` per page; the ``Next-Cursor`` header names the next."""
    due = None
    if query.due_before:
        due, problem = parse_date(query.due_before)
        if problem:
            from ..core.errors import ValidationFailed

            raise ValidationFailed(
                "入力内容に誤りがあります / the input is invalid", details={"due_before": [problem]}
            )
    filters = queries.CaseFilters(
        org_unit=query.org_unit,
        state=query.state,
        stage=query.stage,
        kana=query.kana,
        due_before=due,
        limit=query.limit,
        cursor=query.cursor,
    )
    rows, cursor = queries.search_cases(db(), g.principal, filters)
    items = [
        CaseListItem(
            id=str(r.case.id),
            status=r.case.status,
            outcome=r.case.outcome,
            stage=r.stage,
            org_unit_id=str(r.case.org_unit_id) if r.case.org_unit_id else None,
            person=PersonOut(
                name=r.person.name,
                name_kana=r.person.name_kana,
                birth_date=r.person.birth_date.isoformat() if r.person.birth_date else None,
            ),
            created_at=r.case.created_at.isoformat(),
            next_due_at=r.next_due_at.isoformat() if r.next_due_at else None,
        ).model_dump(mode="json")
        for r in rows
    ]
    return items, 200, next_page_headers(cursor)


def next_page_headers(cursor: str | None) -> dict[str, str]:
    if cursor is None:
        return {}
    args = request.args.to_dict()
    args["cursor"] = cursor
    from urllib.parse import urlencode

    return {"Next-Cursor": cursor, "Link": f'<{request.base_url}?{urlencode(args)}>; rel="next"'}


def _visible_case(case_id: str, action: str = "case.read") -> Case:
    case = services.get_case(db(), parse_id(case_id))
    authorize(current_principal(), action, case)  # another org unit's case: 404, existence hidden
    return case


@api_bp.get("/cases/<case_id>")
@require_permission("case.read")
@operation(resp={200: CaseOut}, errors=(404,), tags=_TAGS)
def show_case(case_id: str) -> Any:
    """A case: person, stage, status, process version, history, open incidents and its ready tasks."""
    session = db()
    case = _visible_case(case_id)
    body = services.case_detail(session, case)
    body["org_unit_id"] = str(case.org_unit_id) if case.org_unit_id else None
    body["open_tasks"] = [task_summary(t) for t in queries.open_tasks(session, case.id)]
    return respond(CaseOut.model_validate(body).model_dump(mode="json"))


@api_bp.get("/cases/<case_id>/timeline")
@require_permission("case.read")
@operation(resp={200: list[TimelineEntryOut]}, errors=(404,), tags=_TAGS)
def case_timeline(case_id: str) -> Any:
    """The case's timeline: every step, who did it and when (oldest first)."""
    case = _visible_case(case_id)
    loaded = workspace.load_workspace(db(), case.id)
    return [
        TimelineEntryOut(
            at=e.at.isoformat(),
            kind=e.kind,
            title=e.title,
            element=e.element or None,
            actor=e.actor,
            details=e.details or {},
        ).model_dump(mode="json")
        for e in loaded.timeline
    ]


@api_bp.get("/cases/<case_id>/consent")
@require_permission("case.read")
@operation(resp={200: ConsentOut}, errors=(404,), tags=_TAGS)
def case_consent(case_id: str) -> Any:
    """同意: what the consent step recorded (application, date, scope) and whether it was withdrawn."""
    case = _visible_case(case_id)
    loaded = workspace.load_workspace(db(), case.id)
    return ConsentOut(consent=loaded.consent, withdrawn=loaded.consent_withdrawn).model_dump(mode="json")


def _record_json(record: Any) -> dict[str, Any]:
    return ProgressRecordOut(
        id=str(record.id),
        record_date=record.record_date.isoformat(),
        method=record.method,
        staff_name=record.staff_name,
        content=record.content,
        created_at=record.created_at.isoformat(),
    ).model_dump(mode="json")


@api_bp.get("/cases/<case_id>/progress-records")
@require_permission("case.read")
@operation(resp={200: list[ProgressRecordOut]}, errors=(404,), tags=_TAGS)
def list_progress_records(case_id: str) -> Any:
    """支援経過記録: the case's progress records, newest first."""
    case = _visible_case(case_id)
    return [_record_json(r) for r in workspace.load_workspace(db(), case.id).progress]


@api_bp.post("/cases/<case_id>/progress-records")
@require_permission("case.record_progress")
@operation(
    json=ProgressRecordIn,
    resp={201: ProgressRecordOut},
    errors=(403, 404, 409),
    tags=_TAGS,
    headers=["Idempotency-Key"],
)
def add_progress_record(case_id: str, json: ProgressRecordIn) -> Any:
    """支援経過記録を追加: date, method (visit, phone, accompany, other), staff, content."""
    case = _visible_case(case_id, "case.record_progress")
    record = workspace.add_progress_record(db(), case, actor_id=g.principal.user_id, **json.model_dump())
    return _record_json(record), 201


@api_bp.post("/cases/<case_id>/messages")
@require_permission("case.message")
@operation(
    json=MessageIn,
    resp={200: MessageResult},
    errors=(403, 404, 409),
    tags=_TAGS,
    headers=["Idempotency-Key"],
)
def post_message(case_id: str, json: MessageIn) -> Any:
    """Deliver a BPMN message to the case's process: a meeting decision, a consent withdrawal, a referral."""
    payload = check_message_payload(json.name, json.payload)  # bounded, and a referral fits its schema
    session = db()
    case = _visible_case(case_id, "case.message")
    result = services.deliver_message(session, case, json.name, payload, actor_id=g.principal.user_id)
    return MessageResult(id=str(case.id), stage=result.stage, status=case.status).model_dump(mode="json")
