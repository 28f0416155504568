"""Reading and locking task rows with the permission rules (``identity.permissions``): 404, 403 or 409.

Used by the advance path (completing) and by the inbox (claim, assign, drafts), so that every command on a
task checks the same things in the same order.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass

from sqlalchemy import Select, and_, bindparam, select, text

from ..core.errors import Conflict, NotFound
from ..core.session import TenantSession
from ..engine.services import ProcessInstance
from ..identity import permissions
from ..identity.services import Principal
from .models import Case, HumanTask, Person

TASK_NOT_FOUND = "タスクが見つかりません / task not found"


def get_task(
    session: TenantSession, actor: Principal, task_id: uuid.UUID, *, for_update: bool = False
) -> HumanTask:
    stmt = select(HumanTask).where(HumanTask.id == task_id)
    if for_update:
        stmt = stmt.with_for_update()
    task = session.execute(stmt).scalar_one_or_none()
    if task is None or not permissions.can(actor, "task.read", task):
        raise NotFound(TASK_NOT_FOUND)
    return task


def check_workable(task: HumanTask, actor: Principal, *, as_operator: bool = False) -> None:
    """``actor`` may work ``task`` now: 403 for auditors and other roles, 409 when done or claimed by another.

    ``as_operator``: an administrator re-running a failed completion (an incident's retry) acts for whoever
    submitted it, so another user's claim does not stop it."""
    permissions.authorize(actor, "task.act", task)
    if task.state != "ready":
        raise Conflict(
            "このタスクは他の担当者により既に完了しています / the task was already completed",
            code="task_completed",
        )
    if task.assignee_id is not None and task.assignee_id != actor.user_id and not as_operator:
        raise Conflict(
            "このタスクは他の担当者が引き受けています / another user has claimed the task",
            code="task_claimed",
        )


def lock_workable_task(session: TenantSession, actor: Principal, task_id: uuid.UUID) -> HumanTask:
    """Lock the task row (concurrent writers queue here) and check ``actor`` may work it now."""
    task = get_task(session, actor, task_id, for_update=True)
    check_workable(task, actor)
    return task


def first_ready_task(session: TenantSession, actor: Principal, case_id: uuid.UUID) -> HumanTask | None:
    """The case's ready task ``actor`` sees first (soonest due), or ``None``."""
    stmt = select(HumanTask).where(HumanTask.case_id == case_id, HumanTask.state == "ready")
    visible = permissions.task_scope(actor, HumanTask)
    if visible is not None:
        stmt = stmt.where(visible)
    stmt = stmt.order_by(HumanTask.due_at.asc().nulls_last(), HumanTask.created_at, HumanTask.id).limit(1)
    return session.execute(stmt).scalar_one_or_none()


def next_task_for(session: TenantSession, actor: Principal, case_id: uuid.UUID) -> HumanTask | None:
    """The case's ready task assigned to ``actor`` (soonest due first): where they land after a step."""
    stmt = (
        select(HumanTask)
        .where(
            HumanTask.case_id == case_id,
            HumanTask.state == "ready",
            HumanTask.assignee_id == actor.user_id,
        )
        .order_by(HumanTask.due_at.asc().nulls_last(), HumanTask.created_at, HumanTask.id)
        .limit(1)
    )
    return session.execute(stmt).scalar_one_or_none()


def take_write_lock(session: TenantSession) -> None:
    """SQLite (the demo) has no row locks and ignores ``FOR UPDATE``: there, start the write transaction now
    with a statement that writes nothing, so a concurrent command waits (``busy_timeout``) until this one
    commits, then reads what it did — two tabs completing one task queue like on PostgreSQL and the second
    gets 409, instead of both running the engine on the same state. PostgreSQL: nothing (row locks do it)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("UPDATE process_instance SET version = version WHERE 1 = 0"))


@dataclass
class LockedTask:
    task: HumanTask
    instance: ProcessInstance
    case: Case | None
    #: the case's person (read in the same statement: a corrected name on the form updates it)
    person: Person | None = None


@functools.cache
def _lock_statement() -> Select[ProcessInstance, HumanTask, Case, Person]:
    """Built once per process with a bound ``task_id`` (every completion runs it; building it cost more CPU
    than the statement itself)."""
    return (
        select(ProcessInstance, HumanTask, Case, Person)
        .select_from(ProcessInstance)
        .join(
            HumanTask,
            and_(
                HumanTask.tenant_id == ProcessInstance.tenant_id,
                HumanTask.process_instance_id == ProcessInstance.id,
            ),
        )
        .outerjoin(Case, and_(Case.tenant_id == HumanTask.tenant_id, Case.id == HumanTask.case_id))
        .outerjoin(Person, and_(Person.tenant_id == Case.tenant_id, Person.id == Case.person_id))
        .where(HumanTask.id == bindparam("task_id"))
        .with_for_update(of=[ProcessInstance, HumanTask])
    )


def lock_for_completion(
    session: TenantSession, actor: Principal, task_id: uuid.UUID, *, as_operator: bool = False
) -> LockedTask:
    """Task, instance and case in one statement, the instance row and the task row locked.

    The instance comes first in the FROM list, so its row is locked first — the order every command on an
    instance locks in (timers and messages lock the instance row alone), so two commands queue, never
    deadlock. A command that committed meanwhile is seen: PostgreSQL re-reads locked rows.
    """
    take_write_lock(session)
    row = session.execute(_lock_statement(), {"task_id": task_id}).first()
    if row is None:
        raise NotFound(TASK_NOT_FOUND)
    instance, task, case, person = row
    if not permissions.can(actor, "task.read", task):
        raise NotFound(TASK_NOT_FOUND)
    check_workable(task, actor, as_operator=as_operator)
    return LockedTask(task, instance, case, person)
