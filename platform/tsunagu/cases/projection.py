"""The HumanTask projection: its one writer.

Every engine command returns the user tasks that became ready and the ones that went away; this module turns
that into ``human_task`` rows in the command's transaction — inserts for the new ones, one UPDATE for the
cancelled ones — without reading the projection back. The inbox reads these rows and writes only their
assignment and drafts; nothing else writes them.

Roles are not an engine concept: a task's role is the one its BPMN lane names, resolved here through
``identity`` (:data:`LANE_ROLES`, which the engine also gets to validate lanes at deploy time).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update

from ..core.db import utcnow
from ..core.session import TenantSession
from ..engine.services import CommandResult, LaneRoles
from ..identity.services import ALL_ROLES, role_for_lane
from .models import HumanTask
from .ownership import assignee_for

#: How this deployment's lanes name roles: identity's rule, handed to the engine by its callers.
LANE_ROLES = LaneRoles(resolve=role_for_lane, roles=ALL_ROLES)


@dataclass(frozen=True)
class TaskContext:
    """What the projection copies onto every HumanTask of an instance."""

    case_id: uuid.UUID | None
    org_unit_id: uuid.UUID | None
    person_name: str = ""
    person_kana: str = ""
    #: the case's responsible consultant: new consultant-lane tasks are assigned to them (``ownership``)
    responsible_id: uuid.UUID | None = None

    @classmethod
    def of_task(cls, task: HumanTask, responsible_id: uuid.UUID | None = None) -> TaskContext:
        """The context a task already carries (its successors belong to the same case and person)."""
        return cls(task.case_id, task.org_unit_id, task.person_name, task.person_kana, responsible_id)


def apply(
    session: TenantSession,
    result: CommandResult,
    ctx: TaskContext,
    *,
    completed: HumanTask | None = None,
) -> list[HumanTask]:
    """Insert the newly ready tasks, cancel the ones that went away; returns the new rows.

    ``completed`` is the task the command completed: its row was written by the caller, not cancelled here.
    """
    now = utcnow()
    cancelled = [task_id for task_id in result.gone if completed is None or task_id != completed.id]
    if cancelled:
        session.execute(
            update(HumanTask)
            .where(
                HumanTask.process_instance_id == result.instance.id,
                HumanTask.id.in_(cancelled),
                HumanTask.state == "ready",
            )
            .values(state="cancelled", completed_at=now, updated_at=now)
            .execution_options(synchronize_session="evaluate")
        )
    tenant_id = session.require_tenant_id()
    created = []
    for ready in result.ready:
        role = LANE_ROLES.resolve(ready.lane) or ""
        human = HumanTask(
            tenant_id=tenant_id,
            id=ready.id,
            process_instance_id=result.instance.id,
            case_id=ctx.case_id,
            org_unit_id=ctx.org_unit_id,
            element=ready.element,
            title=ready.title,
            lane=ready.lane,
            role=role,
            candidate_roles=[role] if role else [],
            assignee_id=assignee_for(role, ctx.responsible_id),
            form_key=ready.form_key,
            due_at=now + timedelta(days=ready.due_in_days) if ready.due_in_days is not None else None,
            person_name=ctx.person_name,
            person_kana=ctx.person_kana,
            created_at=now,
            updated_at=now,
        )
        session.add(human)
        created.append(human)
    return created
