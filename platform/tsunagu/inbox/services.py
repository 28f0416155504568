"""Inbox queries and task commands (claim, complete). Listing never deserializes a workflow."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm.exc import StaleDataError

from ..core.db import utcnow
from ..core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..core.session import TenantSession
from ..identity import permissions
from ..identity.models import Role
from ..identity.principal import Principal
from .models import HumanTask

SCOPES = ("mine", "role", "all")


def _visible(actor: Principal) -> Any:
    """Rows an actor may see at all: admins and auditors see the tenant; others their roles in their units.

    The rule lives in ``identity.permissions`` (``task_scope``); ``None`` means the whole tenant.
    """
    return permissions.task_scope(actor)


def task_query(actor: Principal, scope: str = "mine", state: str = "ready") -> Select[Any]:
    if scope not in SCOPES:
        raise ValidationFailed("unknown scope", details={"scope": [f"one of {', '.join(SCOPES)}"]})
    stmt = select(HumanTask).where(HumanTask.state == state)
    if scope == "mine":
        stmt = stmt.where(HumanTask.assignee_id == actor.user_id)
    elif scope == "role":
        stmt = stmt.where(HumanTask.assignee_id.is_(None), HumanTask.role.in_(sorted(actor.roles)))
        if actor.org_unit_ids:
            stmt = stmt.where(
                or_(HumanTask.org_unit_id.in_(sorted(actor.org_unit_ids)), HumanTask.org_unit_id.is_(None))
            )
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


def get_task(
    session: TenantSession, actor: Principal, task_id: uuid.UUID, *, for_update: bool = False
) -> HumanTask:
    stmt = select(HumanTask).where(HumanTask.id == task_id)
    if for_update:
        stmt = stmt.with_for_update()
    task = session.execute(stmt).scalar_one_or_none()
    if task is None:
        raise NotFound("タスクが見つかりません / task not found")
    if not permissions.can(actor, "task.read", task):
        raise NotFound("タスクが見つかりません / task not found")
    return task


def _check_may_act(task: HumanTask, actor: Principal) -> None:
    """Auditors only read; others act on their role's tasks or their own (``identity.permissions``)."""
    permissions.authorize(actor, "task.act", task)


def lock_workable_task(session: TenantSession, actor: Principal, task_id: uuid.UUID) -> HumanTask:
    """Lock the task row (concurrent writers queue here) and check ``actor`` may work it now: 403 or 409."""
    task = get_task(session, actor, task_id, for_update=True)
    _check_may_act(task, actor)
    if task.state != "ready":
        raise Conflict(
            "このタスクは他の担当者により既に完了しています / the task was already completed",
            code="task_completed",
        )
    if task.assignee_id is not None and task.assignee_id != actor.user_id:
        raise Conflict(
            "このタスクは他の担当者が引き受けています / another user has claimed the task",
            code="task_claimed",
        )
    return task


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


def complete_task(
    session: TenantSession,
    actor: Principal,
    task_id: uuid.UUID,
    data: dict[str, Any],
) -> HumanTask:
    """Validate ``data`` against the task's form and complete it. 409 if done or claimed by someone else."""
    from ..cases import services as cases
    from ..engine import runner
    from ..engine.definitions import load_deployment
    from ..engine.models import ProcessInstance
    from ..forms.schema import load_form
    from ..forms.validation import validate_submission

    task = lock_workable_task(session, actor, task_id)  # serializes concurrent completions
    tenant_id = session.require_tenant_id()
    instance = session.get(ProcessInstance, (tenant_id, task.process_instance_id))
    if instance is None:
        raise NotFound("process instance not found")
    deployment = load_deployment(session, instance.deployment_id)
    cleaned: dict[str, Any] = dict(data)
    if task.form_key:
        schema = deployment.forms.get(task.form_key)
        if schema is None:
            raise NotFound(f"form {task.form_key!r} is missing from the deployment")
        cleaned, errors = validate_submission(load_form(schema), data)
        if errors:
            raise ValidationFailed(
                "入力内容に誤りがあります / the data does not fit the form", details=errors
            )
    case = cases.get_case(session, task.case_id) if task.case_id else None
    ctx = (
        cases.task_context(session, case)
        if case
        else runner.TaskContext(case_id=None, org_unit_id=task.org_unit_id)
    )
    # Marked before the engine runs, so the projection sees it done and the row is written once.
    task.state = "completed"
    task.completed_at = utcnow()
    task.completed_by = actor.user_id
    task.assignee_id = task.assignee_id or actor.user_id
    task.draft = None
    result = runner.complete_user_task(session, instance, task.id, cleaned, ctx)
    if case is not None:
        cases.record_event(
            session,
            case.id,
            "task_completed",
            element=task.element,
            title=task.title,
            actor_id=actor.user_id,
            task_id=task.id,
            submission=cleaned,
        )
        cases.apply_result(session, case, result)
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict(
            "他の操作と競合しました。再読み込みしてください / a concurrent change won; reload",
            code="conflict",
        ) from exc
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


def _holds_role(session: TenantSession, user_id: uuid.UUID, role: str, org_unit_id: uuid.UUID | None) -> bool:
    """Whether an active user could work a task of ``role`` in ``org_unit_id`` — the rule their own principal
    would be checked by (``membership_units``: sub-units of a member's unit count as theirs)."""
    from ..identity.models import User
    from ..identity.principal import membership_units

    user = session.get(User, (session.require_tenant_id(), user_id))
    if user is None or not user.active:
        return False
    roles, units = membership_units(session, user_id)
    if role not in roles and Role.TENANT_ADMIN not in roles:
        return False
    return not units or org_unit_id is None or org_unit_id in units


def assign_task(
    session: TenantSession, actor: Principal, task_id: uuid.UUID, assignee_id: uuid.UUID
) -> HumanTask:
    """担当者の変更 — hand a task to another user holding its role.

    Allowed to tenant admins, to the current assignee, and to holders of the task's role while the task is
    unclaimed (a team member distributing work). The new assignee must hold the task's role in its org unit.
    """
    task = get_task(session, actor, task_id, for_update=True)
    _check_may_act(task, actor)
    if task.state != "ready":
        raise Conflict(
            "このタスクは既に完了しています / the task was already completed", code="task_completed"
        )
    if not (actor.is_admin or task.assignee_id in (None, actor.user_id)):
        raise Forbidden(
            "他の担当者が引き受けたタスクは変更できません / only the assignee or an admin can reassign it"
        )
    if not _holds_role(session, assignee_id, task.role, task.org_unit_id):
        raise ValidationFailed(
            "担当者がこのタスクの役割を持っていません / the user does not hold the task's role",
            details={"assignee": ["このタスクの役割を持つ職員を選んでください"]},
        )
    task.assignee_id = assignee_id
    task.updated_at = utcnow()
    session.flush()
    return task


def save_draft(
    session: TenantSession, actor: Principal, task_id: uuid.UUID, data: dict[str, Any]
) -> HumanTask:
    """一時保存 — keep what was typed without validating or completing. 409 like completing."""
    task = lock_workable_task(session, actor, task_id)
    task.draft = data
    task.updated_at = utcnow()
    session.flush()
    return task
