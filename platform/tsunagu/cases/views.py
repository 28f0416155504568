"""JSON API for cases: open, list and search, read, timeline, consent, progress records, messages."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, request

from ..audit import services as audit
from ..identity.auth import current_principal
from ..identity.permissions import authorize
from ..sharing import services as sharing
from ..tenancy.models import Tenant
from ..web.api import operation
from ..web.blueprints import api_bp, require_permission
from ..web.etag import respond
from ..web.requests import db, parse_id
from . import information, queries, services, workspace
from .inputs import check_message_payload, parse_date, parse_org_unit
from .models import Case, HumanTask
from .referral import parse_referral
from .schemas import (
    AnonymisedPerson,
    CaseCreated,
    CaseListItem,
    CaseOut,
    CaseQuery,
    ConsentIn,
    ConsentOut,
    ConsentRecordOut,
    ConsentWithdrawalIn,
    ConsentWithdrawalOut,
    MessageIn,
    MessageResult,
    NewCase,
    PersonOut,
    ProgressRecordIn,
    ProgressRecordOut,
    PromotionIn,
    PromotionOut,
    ResponsibleIn,
    ResponsibleOut,
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
    """Cases the caller may see, newest first: by 事例番号 (``number``), person name or kana (``q``, partial;
    ``kana``: prefix), org unit (code), state, stage, responsible consultant, in its meeting, overdue and
    ready tasks due on or before a day. ``limit`` per page; the ``Next-Cursor`` header names the next."""
    due = None
    if query.due_before:
        due, problem = parse_date(query.due_before)
        if problem:
            from ..core.errors import ValidationFailed

            raise ValidationFailed(
                "入力内容に誤りがあります / the input is invalid", details={"due_before": [problem]}
            )
    responsible = None
    if query.responsible:
        responsible = g.principal.user_id if query.responsible == "me" else _user_id(query.responsible)
    filters = queries.CaseFilters(
        org_unit=query.org_unit,
        state=query.state,
        stage=query.stage,
        kana=query.kana,
        due_before=due,
        limit=query.limit,
        cursor=query.cursor,
        number=query.number,
        person=query.q,
        responsible=responsible,
        in_meeting=query.in_meeting,
        overdue=query.overdue,
    )
    session = db()
    rows, cursor = queries.search_cases(session, g.principal, filters)
    # one decision per row, decided for the whole page at once (no queries per row)
    decisions = information.file_decisions(session, [r.case for r in rows], g.principal)
    items = []
    for r in rows:
        # the person is named only to viewers with a legal basis for the case file (sharing.decide)
        person: PersonOut | AnonymisedPerson
        if decisions[r.case.id].full:
            person = PersonOut(
                name=r.person.name,
                name_kana=r.person.name_kana,
                birth_date=r.person.birth_date.isoformat() if r.person.birth_date else None,
            )
        else:
            person = AnonymisedPerson.model_validate(information.list_summary(r.person, r.org_unit_name))
        items.append(
            CaseListItem(
                id=str(r.case.id),
                number=r.case.number,
                responsible_id=str(r.case.responsible_id) if r.case.responsible_id else None,
                in_meeting=r.case.in_meeting,
                status=r.case.status,
                outcome=r.case.outcome,
                stage=r.stage,
                org_unit_id=str(r.case.org_unit_id) if r.case.org_unit_id else None,
                person=person,
                created_at=r.case.created_at.isoformat(),
                next_due_at=r.next_due_at.isoformat() if r.next_due_at else None,
            ).model_dump(mode="json")
        )
    return items, 200, next_page_headers(cursor)


def _user_id(raw: str, field: str = "responsible") -> Any:
    import uuid

    from ..core.errors import ValidationFailed

    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ValidationFailed(
            "利用者IDの形式が正しくありません / not a user id", details={field: ["形式が正しくありません"]}
        ) from None


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
    """A case: person, stage, status, process version, history, open incidents and its ready tasks — each
    part as ``sharing.decide`` allows the caller (``information``: the basis, the anonymised summary, the
    progress records one by one, 支援会議 records for its members, consents)."""
    session = db()
    case = _visible_case(case_id)
    audit.record_access(session, g.principal, "case.api_read", case)  # one entry per read, with its basis
    info = information.case_information(session, case, g.principal, workspace.case_topics(session, case))
    body = services.case_detail(session, case)
    if not info.file_full:
        # No legal basis for the case file: the anonymised summary, and the history as process steps only
        # (which step, when) — without what was submitted or who did it.
        body["person"] = info.summary
        body["history"] = [
            {
                "kind": h["kind"],
                "element": h["element"],
                "title": h["title"],
                "task_id": h["task_id"],
                "at": h["at"],
            }
            for h in body["history"]
        ]
    body["information"] = information.information_json(session, info)
    body["org_unit_id"] = str(case.org_unit_id) if case.org_unit_id else None
    body["open_tasks"] = [task_summary(t) for t in queries.open_tasks(session, case.id)]
    if not info.file_full:
        for task in body["open_tasks"]:
            task["person_name"] = None  # the person is not named without a basis for the case file
    return respond(CaseOut.model_validate(body).model_dump(mode="json"))


@api_bp.put("/cases/<case_id>/responsible")
@require_permission("case.create")
@operation(json=ResponsibleIn, resp={200: ResponsibleOut}, errors=(403, 404), tags=_TAGS)
def change_responsible(case_id: str, json: ResponsibleIn) -> Any:
    """担当相談支援員の変更: name another consultant of the case's unit (recorded in the history and the
    audit trail); the case's open consultant tasks follow."""
    session = db()
    case = _visible_case(case_id)
    user_id = _user_id(json.user_id, "user_id")
    services.ownership.change_responsible(session, g.principal, case, user_id, json.reason)
    return ResponsibleOut(
        id=str(case.id),
        number=case.number,
        responsible_id=str(case.responsible_id) if case.responsible_id else None,
    ).model_dump(mode="json")


@api_bp.get("/cases/<case_id>/timeline")
@require_permission("case.read")
@operation(resp={200: list[TimelineEntryOut]}, errors=(404,), tags=_TAGS)
def case_timeline(case_id: str) -> Any:
    """The case's timeline: every step, who did it and when (oldest first)."""
    case = _visible_case(case_id)
    full = information.file_decision(db(), case, g.principal).full  # else the process steps only
    loaded = workspace.load_workspace(db(), case.id)
    return [
        TimelineEntryOut(
            at=e.at.isoformat(),
            kind=e.kind,
            title=e.title,
            element=e.element or None,
            actor=e.actor if full else "",
            details=(e.details or {}) if full else {},
        ).model_dump(mode="json")
        for e in loaded.timeline
    ]


@api_bp.get("/cases/<case_id>/consent")
@require_permission("case.read")
@operation(resp={200: ConsentOut}, errors=(404,), tags=_TAGS)
def case_consent(case_id: str) -> Any:
    """同意: what the consent step recorded (application, date, scope) and whether it was withdrawn; the
    recorded consents (``POST cases/{id}/consents``) are in the case's ``information``."""
    case = _visible_case(case_id)
    loaded = workspace.load_workspace(db(), case.id)
    full = information.file_decision(db(), case, g.principal).full
    return ConsentOut(consent=loaded.consent if full else {}, withdrawn=loaded.consent_withdrawn).model_dump(
        mode="json"
    )


@api_bp.get("/cases/<case_id>/progress-records")
@require_permission("case.read")
@operation(resp={200: list[ProgressRecordOut]}, errors=(404,), tags=_TAGS)
def list_progress_records(case_id: str) -> Any:
    """支援経過記録: the case's progress records, newest first, each as ``sharing.decide`` allows the caller
    (``visibility``: full, or anonymised without method, staff and content); 支援会議 records only for its
    members, until promoted into the case file."""
    session = db()
    case = _visible_case(case_id)
    info = information.case_information(session, case, g.principal)
    return [information.progress_json(v) for v in (*info.progress, *info.meeting_records)]


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
    """支援経過記録を追加: date, method (visit, phone, accompany, other), staff, content, and its provenance —
    ``category`` (general, 要配慮, tax, household), ``source`` and, from a 支援会議, ``meeting_key``."""
    session = db()
    case = _visible_case(case_id, "case.record_progress")
    record = workspace.add_progress_record(session, case, actor_id=g.principal.user_id, **json.model_dump())
    view = information.progress_view(session, case, g.principal, record)
    return information.progress_json(view), 201


@api_bp.post("/cases/<case_id>/progress-records/<record_id>/promote")
@require_permission("case.read")
@operation(json=PromotionIn, resp={200: PromotionOut}, errors=(403, 404, 409), tags=_TAGS)
def promote_progress_record(case_id: str, record_id: str, json: PromotionIn) -> Any:
    """Move a 支援会議 record into the case file: who and why are recorded (a member of that meeting on the
    case team, with a reason)."""
    session = db()
    case = _visible_case(case_id)
    record = information.promote(session, case, parse_id(record_id), json.reason, g.principal)
    return PromotionOut(
        id=str(record.id), promoted_at=record.promoted_at.isoformat() if record.promoted_at else None
    ).model_dump(mode="json")


@api_bp.post("/cases/<case_id>/consents")
@require_permission("case.consent")
@operation(json=ConsentIn, resp={201: ConsentRecordOut}, errors=(403, 404, 409), tags=_TAGS)
def record_consent(case_id: str, json: ConsentIn) -> Any:
    """同意の記録: scope (org units and/or roles), categories, date, channel, form version, valid until."""
    session = db()
    case = _visible_case(case_id, "case.consent")
    consent = information.record_consent(session, case, request.get_json(), g.principal.user_id)
    return sharing.consent_json(session, consent), 201


@api_bp.post("/cases/<case_id>/consents/<consent_id>/withdraw")
@require_permission("case.consent")
@operation(json=ConsentWithdrawalIn, resp={200: ConsentWithdrawalOut}, errors=(403, 404, 409), tags=_TAGS)
def withdraw_consent(case_id: str, consent_id: str, json: ConsentWithdrawalIn) -> Any:
    """同意の撤回: ``{"full": true}`` or ``{"categories" | "org_units" | "roles": [...]}``; effective at once (a
    full withdrawal reaches the running case as the ``consent_withdrawn`` message)."""
    session = db()
    case = _visible_case(case_id, "case.consent")
    cid = parse_id(consent_id)
    kind = information.withdraw_consent(session, case, cid, request.get_json(), g.principal.user_id)
    consent = sharing.get_consent(session, case.id, cid)
    return {"withdrawal": kind, "consent": sharing.consent_json(session, consent), "status": case.status}


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
