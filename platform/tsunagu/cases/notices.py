"""How the notification centre describes tasks and cases — to readers who may see them *now*.

Registered from ``app.create_app``. The permission rules are ``identity.permissions``' (the same as the inbox
and the case pages): a task outside the reader's roles and org units, or a case in another ward, is simply not
described, and the centre lists that notification without title, name or link.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from ..core.session import TenantSession
from ..identity import permissions
from ..notifications.centre import SubjectView, register_subject
from .models import Case, HumanTask, Person


def describe_tasks(session: TenantSession, actor: Any, ids: list[uuid.UUID]) -> dict[uuid.UUID, SubjectView]:
    tasks = session.execute(select(HumanTask).where(HumanTask.id.in_(ids))).scalars()
    views = {}
    for task in tasks:
        if permissions.can(actor, "task.read", task):
            views[task.id] = SubjectView(title=task.title, detail=task.person_name)
    return views


def describe_cases(session: TenantSession, actor: Any, ids: list[uuid.UUID]) -> dict[uuid.UUID, SubjectView]:
    rows = session.execute(
        select(Case, Person.name)
        .join(Person, (Person.tenant_id == Case.tenant_id) & (Person.id == Case.person_id))
        .where(Case.id.in_(ids))
    ).all()
    views = {}
    for case, name in rows:
        if permissions.can(actor, "case.read", case):
            views[case.id] = SubjectView(title="ケース / case", detail=name)
    return views


def register() -> None:
    register_subject("task", describe_tasks)
    register_subject("case", describe_cases)
