"""JSON API for the inbox: tasks (by case, by saved view), claim, release, reassign, draft, complete; saved
views."""

from __future__ import annotations

from typing import Any

from flask import g, request

from ..cases import services as cases
from ..engine import services as engine
from ..identity.services import Principal
from ..web.api import operation
from ..web.blueprints import api_bp, require_permission
from ..web.etag import check_if_match, respond
from ..web.requests import db, parse_id
from . import filters as inbox_filters
from . import services
from .schemas import (
    CompleteIn,
    DraftIn,
    ReassignIn,
    SavedViewIn,
    SavedViewOut,
    TaskDetail,
    TaskOut,
    TaskQuery,
)

_TAGS = ["tasks"]


def _actor() -> Principal:
    principal: Principal = g.principal
    return principal


@api_bp.get("/tasks")
@require_permission("task.list")
@operation(query=TaskQuery, resp={200: list[TaskOut]}, errors=(404,), tags=_TAGS)
def list_tasks(query: TaskQuery) -> Any:
    """Tasks the caller may see: ``scope`` mine / role / all, ``state``, one case's (``case_id``), or a saved
    view's filters (``view_id``, ready tasks), soonest due first."""
    session, actor = db(), _actor()
    if query.view_id or query.due or (query.case_id and query.state == "ready"):
        filters = inbox_filters.InboxFilters(scope=query.scope)
        if query.view_id:
            view = inbox_filters.get_view(session, actor, query.view_id)
            filters = inbox_filters.filters_of(view)
        if query.case_id:
            filters = filters.with_(case=str(query.case_id))
        if query.due:
            filters = filters.with_(due=query.due)
        stmt = inbox_filters.filtered_query(actor, filters).limit(query.limit).offset(query.offset)
        tasks = list(session.execute(stmt).scalars())
    else:
        stmt = services.task_query(actor, query.scope, query.state)
        if query.case_id:
            stmt = stmt.where(services.HumanTask.case_id == query.case_id)
        tasks = list(session.execute(stmt.limit(query.limit).offset(query.offset)).scalars())
    return [services.task_json(t) for t in tasks]


def _detail(task: Any) -> dict[str, Any]:
    session = db()
    body = services.task_json(task)
    schema = None
    if task.form_key:
        instance = engine.get_instance(session, task.process_instance_id)
        if instance is not None:
            schema = engine.form_schema(session, instance.deployment_id, task.form_key)
    body["form_schema"] = schema
    body["draft"] = task.draft
    return TaskDetail.model_validate(body).model_dump(mode="json")


def _current(task_id: str) -> None:
    """With ``If-Match``: 412 unless it names the task as it is now (404 when the caller may not see it).
    Without it, nothing is read here (a completion stays at its statement budget)."""
    if "If-Match" in request.headers:
        check_if_match(_detail(services.get_task(db(), _actor(), parse_id(task_id))))


@api_bp.get("/tasks/<task_id>")
@require_permission("task.read")
@operation(resp={200: TaskDetail}, errors=(404,), tags=_TAGS)
def show_task(task_id: str) -> Any:
    """A task with its form schema and draft; the ``ETag`` goes back in ``If-Match`` on a change."""
    task = services.get_task(db(), _actor(), parse_id(task_id))
    return respond(_detail(task))


@api_bp.post("/tasks/<task_id>/claim")
@require_permission("task.act")
@operation(resp={200: TaskDetail}, errors=(403, 404, 409, 412), tags=_TAGS, headers=["If-Match"])
def claim(task_id: str) -> Any:
    """Take the task (409 when someone else has it)."""
    _current(task_id)
    return respond(_detail(services.claim_task(db(), _actor(), parse_id(task_id))))


@api_bp.post("/tasks/<task_id>/release")
@require_permission("task.act")
@operation(resp={200: TaskDetail}, errors=(403, 404, 409, 412), tags=_TAGS, headers=["If-Match"])
def release(task_id: str) -> Any:
    """Give the task back to its role's queue (the assignee or an admin)."""
    _current(task_id)
    return respond(_detail(services.unclaim_task(db(), _actor(), parse_id(task_id))))


@api_bp.post("/tasks/<task_id>/reassign")
@require_permission("task.act")
@operation(
    json=ReassignIn, resp={200: TaskDetail}, errors=(403, 404, 409, 412), tags=_TAGS, headers=["If-Match"]
)
def reassign(task_id: str, json: ReassignIn) -> Any:
    """担当者の変更: hand the task to a user holding its role (they are notified)."""
    _current(task_id)
    assignee = json.assignee
    return respond(_detail(services.assign_task(db(), _actor(), parse_id(task_id), assignee)))


@api_bp.put("/tasks/<task_id>/draft")
@require_permission("task.act")
@operation(
    json=DraftIn, resp={200: TaskDetail}, errors=(403, 404, 409, 412), tags=_TAGS, headers=["If-Match"]
)
def save_draft(task_id: str, json: DraftIn) -> Any:
    """一時保存: keep what was typed without checking it."""
    _current(task_id)
    return respond(_detail(services.save_draft(db(), _actor(), parse_id(task_id), json.data)))


@api_bp.post("/tasks/<task_id>/complete")
@require_permission("task.act")
@operation(
    json=CompleteIn,
    resp={200: TaskOut},
    errors=(403, 404, 409, 412),
    tags=_TAGS,
    headers=["If-Match", "Idempotency-Key"],
)
def complete(task_id: str, json: CompleteIn) -> Any:
    """Complete the task with its form's data: 422 per field, 409 when completed or claimed by someone
    else, 422 ``workflow_error`` when the workflow cannot go on (Idempotency-Key honoured)."""
    _current(task_id)
    task = cases.complete_task(db(), _actor(), parse_id(task_id), json.data)
    return services.task_json(task)


# ---- saved views ------------------------------------------------------------------------------------------
def _view_json(view: Any) -> dict[str, Any]:
    return SavedViewOut(
        id=str(view.id),
        name=view.name,
        owner_id=str(view.owner_id),
        shared=view.shared,
        filters=dict(view.filters or {}),
        updated_at=view.updated_at.isoformat(),
    ).model_dump(mode="json")


@api_bp.get("/views")
@require_permission("inbox.view")
@operation(resp={200: list[SavedViewOut]}, tags=["views"])
def list_views() -> Any:
    """Saved views: the caller's own and the shared ones."""
    return [_view_json(v) for v in inbox_filters.visible_views(db(), _actor())]


@api_bp.post("/views")
@require_permission("inbox.view")
@operation(json=SavedViewIn, resp={201: SavedViewOut}, errors=(403,), tags=["views"])
def create_view(json: SavedViewIn) -> Any:
    """Save a view (or update the caller's own view of that name); sharing it needs ``saved_view.share``."""
    filters = inbox_filters.InboxFilters.from_mapping(json.filters.model_dump())
    view = inbox_filters.save_view(db(), _actor(), json.name, filters, shared=json.shared)
    return _view_json(view), 201


@api_bp.get("/views/<view_id>")
@require_permission("inbox.view")
@operation(resp={200: SavedViewOut}, errors=(404,), tags=["views"])
def show_view(view_id: str) -> Any:
    return respond(_view_json(inbox_filters.get_view(db(), _actor(), parse_id(view_id))))


@api_bp.delete("/views/<view_id>")
@require_permission("inbox.view")
@operation(resp={204: None}, errors=(403, 404), tags=["views"])
def delete_view(view_id: str) -> Any:
    inbox_filters.delete_view(db(), _actor(), parse_id(view_id))
    return "", 204
