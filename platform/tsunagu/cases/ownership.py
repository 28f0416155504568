"""担当相談支援員 — the case's responsible consultant, and the work that follows them.

A case has one responsible consultant: its creator when they open it as a consultant of the case's unit,
otherwise nobody until someone is named. Every new ready task of the case in the consultant lane (role
``consultant``) is assigned to them as it is projected, so their next step is in 自分のタスク without a claim.
Other lanes (secretariat, municipal staff, providers) get their tasks by role and org unit, as before.

Changing the responsible consultant is a command of its own: who may (a tenant administrator, the current
responsible consultant, or a consultant of the case's unit), to whom (an active user holding ``consultant``
in the case's unit), recorded in the case history (``responsible_changed``) and the audit trail, and the
case's open consultant tasks that were the old consultant's (or nobody's) move along.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import or_, update

from ..audit import services as audit
from ..core.db import utcnow
from ..core.errors import Forbidden, ValidationFailed
from ..core.session import TenantSession
from ..identity import permissions
from ..identity.models import Role, User
from .models import Case, HumanTask

#: the lane role whose tasks follow the case's responsible consultant
OWNER_ROLE = Role.CONSULTANT.value


def is_consultant_in(subject: Any, org_unit_id: uuid.UUID | None) -> bool:
    """``subject`` holds ``consultant`` in that unit itself (a tenant-wide role is not enough: an
    administrator opening a case does not become its consultant)."""
    return org_unit_id is not None and (OWNER_ROLE, org_unit_id) in set(subject.grants)


def default_responsible(actor: Any, org_unit_id: uuid.UUID | None) -> uuid.UUID | None:
    """The creator, when they open the case as a consultant of its unit (or a unit above it)."""
    if actor is None or org_unit_id is None:
        return None
    if is_consultant_in(actor, org_unit_id):
        return uuid.UUID(str(actor.user_id))
    return None


def assignee_for(role: str, responsible_id: uuid.UUID | None) -> uuid.UUID | None:
    """Who a newly ready task of ``role`` goes to straight away: the responsible consultant for their lane."""
    return responsible_id if role == OWNER_ROLE else None


def _refusal(session: TenantSession, user_id: uuid.UUID, org_unit_id: uuid.UUID | None) -> str | None:
    from ..identity.principal import load_access

    user = session.get(User, (session.require_tenant_id(), user_id))
    if user is None or not user.active:
        return "担当者が見つかりません / no such active user"
    if not is_consultant_in(load_access(session, user_id), org_unit_id):
        return "このケースの組織の相談支援員を選んでください / choose a consultant of the case's org unit"
    return None


def may_change(actor: Any, case: Case) -> bool:
    if actor is None or permissions.is_read_only(actor):
        return False
    if actor.is_admin:
        return True
    if case.responsible_id is not None and case.responsible_id == actor.user_id:
        return True
    return is_consultant_in(actor, case.org_unit_id)


def change_responsible(
    session: TenantSession, actor: Any, case: Case, user_id: uuid.UUID, reason: str = ""
) -> Case:
    """担当者の変更: name ``user_id`` the case's responsible consultant (403 / 422 as above)."""
    if not may_change(actor, case):
        raise Forbidden("担当相談支援員を変更する権限がありません / you may not change the case's consultant")
    reason = (reason or "").strip()
    if len(reason) > 1000:
        raise ValidationFailed(
            "the reason is too long", details={"reason": ["1000文字以内で入力してください"]}
        )
    refusal = _refusal(session, user_id, case.org_unit_id)
    if refusal is not None:
        raise ValidationFailed(refusal, details={"responsible": [refusal.split(" / ")[0]]})
    previous = case.responsible_id
    if previous == user_id:
        return case
    case.responsible_id = user_id
    now = utcnow()
    moved: Any = session.execute(
        update(HumanTask)
        .where(
            HumanTask.case_id == case.id,
            HumanTask.state == "ready",
            HumanTask.role == OWNER_ROLE,
            or_(HumanTask.assignee_id.is_(None), HumanTask.assignee_id == previous)
            if previous is not None
            else HumanTask.assignee_id.is_(None),
        )
        .values(assignee_id=user_id, updated_at=now)
        .execution_options(synchronize_session="fetch")
    )
    details = {
        "from": str(previous) if previous else None,
        "to": str(user_id),
        "reason": reason,
        "tasks_moved": int(moved.rowcount or 0),
    }
    from .advance import record_event  # advance → projection → this module: imported when used

    record_event(
        session,
        case.id,
        "responsible_changed",
        title="担当相談支援員の変更",
        actor_id=uuid.UUID(str(actor.user_id)),
        details=details,
    )
    audit.record(session, actor, "case.responsible_changed", audit.Target.case(case.id), details=details)
    session.flush()
    return case
