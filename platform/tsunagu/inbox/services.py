"""Inbox queries and the inbox's task commands (claim, release, assign, drafts).

Listing never deserializes a workflow. The task rows are ``cases``' projection (``cases.models.HumanTask``):
the inbox reads them and writes only their assignment and drafts; completing a task is the advance path's
(``cases.services.complete_task``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, select

from ..cases.services import HumanTask, get_task, lock_workable_task
from ..core.db import utcnow
from ..core.errors import Conflict, Forbidden, ValidationFailed
from ..core.session import TenantSession
from ..identity import permissions
from ..identity.services import Principal
from ..notifications import services as notifications

__all__ = [
    "SCOPES",
    "assign_task",
    "claim_task",
    "get_task",
    "list_tasks",
    "lock_workable_task",
    "panels",
    "register_panel",
    "save_draft",
    "task_json",
    "task_query",
    "unclaim_task",
]

SCOPES = ("mine", "role", "all")

#: Work that is not a BPMN task but waits in the inbox all the same, from modules above (``referrals``: the
#: referrals waiting to be accepted): ``panel(session, actor)`` → HTML (``Markup``) or ``None``.
_PANELS: list[Callable[[Any, Any], Any]] = []


def register_panel(panel: Callable[[Any, Any], Any]) -> None:
    if panel not in _PANELS:
        _PANELS.append(panel)


def panels(session: TenantSession, actor: Any) -> list[Any]:
    return [html for panel in _PANELS if (html := panel(session, actor)) is not None]


def _visible(actor: Principal) -> Any:
    """Rows an actor may see at all: admins and auditors see the tenant; others their roles in their units.

    The rule lives in ``identity.permissions`` (``task_scope``); ``None`` means the whole tenant.
    """
    return permissions.task_scope(actor, HumanTask)


def task_query(actor: Principal, scope: str = "mine", state: str = "ready") -> Select[Any]:
    if scope not in SCOPES:
        raise ValidationFailed(
            "表示範囲の指定が正しくありません / unknown scope",
            details={"scope": [f"one of {', '.join(SCOPES)}"]},
        )
    stmt = select(HumanTask).where(HumanTask.state == state)
    if scope == "mine":
        stmt = stmt.where(HumanTask.assignee_id == actor.user_id)
    elif scope == "role":
        stmt = stmt.where(HumanTask.assignee_id.is_(None), permissions.role_queue_scope(actor, HumanTask))
    visible = _visible(actor)
    if visible is not None:
        stmt = stmt.where(visible)
    return stmt.order_by(HumanTask.due_at.asc().nulls_last(), HumanTask.created_at, HumanTask.id)


def list_tasks(
    session: TenantSession,
    actor: Principal,
    scope: str = "mine",
    state: str = "ready",
    limit: int = 100,
    offset: int = 0,
) -> list[HumanTask]:
    stmt = task_query(actor, scope, state).limit(limit).offset(offset)
    return list(session.execute(stmt).scalars())


def claim_task(session: TenantSession, actor: Principal, task_id: uuid.UUID) -> HumanTask:
    task = lock_workable_task(session, actor, task_id)
    task.assignee_id = actor.user_id
    task.updated_at = utcnow()
    session.flush()
    return task


def unclaim_task(session: TenantSession, actor: Principal, task_id: uuid.UUID) -> HumanTask:
    task = get_task(session, actor, task_id, for_update=True)
    if task.assignee_id != actor.user_id and not actor.is_admin:
        raise Forbidden("自分が引き受けたタスクのみ戻せます / only the assignee can release the task")
    task.assignee_id = None
    session.flush()
    return task


def task_json(task: HumanTask) -> dict[str, Any]:
    return {
        "id": str(task.id),
        "name": task.element,
        "title": task.title,
        "case_id": str(task.case_id) if task.case_id else None,
        "lane": task.lane,
        "role": task.role,
        "assignee": str(task.assignee_id) if task.assignee_id else None,
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "form": task.form_key,
        "state": task.state,
        "person_name": task.person_name,
    }


def _refusal(
    session: TenantSession, user_id: uuid.UUID, role: str, org_unit_id: uuid.UUID | None
) -> str | None:
    """Why an active user could not work a task of ``role`` in ``org_unit_id`` — checked by the rule their
    own principal would be (``identity.permissions.may_work_task`` over their grants) — or ``None``."""
    from ..identity.models import User
    from ..identity.principal import load_access

    user = session.get(User, (session.require_tenant_id(), user_id))
    if user is None or not user.active:
        return "担当者が見つかりません / no such active user"
    access = load_access(session, user_id)
    if permissions.may_work_task(access, role, org_unit_id):
        return None
    return permissions.task_refusal(access, role)


def assign_task(
    session: TenantSession, actor: Principal, task_id: uuid.UUID, assignee_id: uuid.UUID
) -> HumanTask:
    """担当者の変更 — hand a task to another user holding its role.

    Allowed to tenant admins, to the current assignee, and to holders of the task's role while the task is
    unclaimed (a team member distributing work). The new assignee must hold the task's role in its org unit.
    """
    task = get_task(session, actor, task_id, for_update=True)
    permissions.authorize(actor, "task.act", task)
    if task.state != "ready":
        raise Conflict(
            "このタスクは既に完了しています / the task was already completed", code="task_completed"
        )
    if not (actor.is_admin or task.assignee_id in (None, actor.user_id)):
        raise Forbidden(
            "他の担当者が引き受けたタスクは変更できません / only the assignee or an admin can reassign it"
        )
    refusal = _refusal(session, assignee_id, task.role, task.org_unit_id)
    if refusal is not None:
        raise ValidationFailed(
            refusal, details={"assignee": ["このケースの組織でこのタスクの役割を持つ職員を選んでください"]}
        )
    if task.assignee_id == assignee_id:
        return task  # already theirs: nothing changes, nobody is told again
    now = utcnow()
    task.assignee_id = assignee_id
    task.updated_at = now
    session.flush()
    # In this transaction: if the handover rolls back, nobody is told. The key is this handover (task,
    # assignee, moment), so a task handed back and forth notifies each time, a repeated delivery never.
    notifications.notify(
        session,
        "task.assigned",
        [assignee_id],
        f"tasks/{task.id}",
        key=f"task.assigned:{task.id}:{assignee_id}:{now.isoformat()}",
        subject=("task", task.id),
        exclude=[actor.user_id],
    )
    return task


def save_draft(
    session: TenantSession, actor: Principal, task_id: uuid.UUID, data: dict[str, Any]
) -> HumanTask:
    """一時保存 — keep what was typed without validating or completing. 409 like completing; 422 when the
    draft is larger than a draft may be (issue #10: bounded in size, nesting and per text)."""
    from ..core import limits

    limits.require_fits(
        data,
        "",
        max_size=limits.DRAFT_MAX_SIZE,
        max_depth=limits.JSON_MAX_DEPTH,
        max_text=limits.DRAFT_TEXT_MAX,
        message="一時保存の内容が大きすぎます / the draft is too large",
    )
    task = lock_workable_task(session, actor, task_id)
    task.draft = data
    task.updated_at = utcnow()
    session.flush()
    return task
