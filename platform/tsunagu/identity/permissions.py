"""The one permission module: role × org unit × object.

Every HTML view and API endpoint asks here — through :func:`authorize` / :func:`can`, the SQL scopes
:func:`task_scope` / :func:`case_scope`, or ``web.blueprints.require_roles`` which calls :func:`check_roles`.

Rules (DESIGN 2.5):

* **Role** — :data:`ACTION_ROLES` lists which roles may attempt each action at all. A role that may not: 403.
* **Org unit** — 港北区's consultant sees the tasks and cases of 港北区 (and its sub-units), not 鶴見区's.
  Tenant administrators and auditors see the whole tenant. A principal with no org unit at all holds its roles
  tenant-wide (a membership without org unit). Objects without an org unit are visible to every reader role.
  Outside the principal's units an object is *not found* (404): its existence is not disclosed.
* **Object** — a task is acted on by its role, its assignee or an administrator; an auditor only reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy import ColumnElement, or_

from ..core.errors import Forbidden, NotFound, Unauthorized
from .models import ALL_ROLES, Role


class Subject(Protocol):
    """What a check needs of a :class:`~tsunagu.identity.principal.Principal`."""

    @property
    def user_id(self) -> uuid.UUID: ...

    @property
    def roles(self) -> frozenset[str]: ...

    @property
    def org_unit_ids(self) -> frozenset[uuid.UUID]: ...


ADMIN = Role.TENANT_ADMIN.value
AUDITOR = Role.AUDITOR.value
_WRITERS = frozenset({ADMIN, Role.CONSULTANT.value, Role.MUNICIPAL_STAFF.value})
_CASE_READERS = _WRITERS | {Role.MEETING_SECRETARIAT.value, AUDITOR, Role.PROVIDER.value}

#: Roles that see the whole tenant regardless of their org units.
TENANT_WIDE_ROLES = frozenset({ADMIN, AUDITOR})

#: action → roles that may attempt it.
ACTION_ROLES: dict[str, frozenset[str]] = {
    "tenant.view": ALL_ROLES,
    "inbox.view": ALL_ROLES,
    "task.list": ALL_ROLES,
    "task.read": ALL_ROLES,
    "task.act": ALL_ROLES - {AUDITOR},  # claim, release, complete, save a draft
    "case.read": _CASE_READERS,
    "case.create": _WRITERS,
    "case.message": _WRITERS | {Role.MEETING_SECRETARIAT.value},
    # 支援経過記録: case workers and the providers delivering support
    "case.record_progress": _WRITERS | {Role.PROVIDER.value},
    "org_unit.read": ALL_ROLES,
    "org_unit.update": frozenset({ADMIN}),
    "definition.read": frozenset({ADMIN, AUDITOR}),
    "definition.deploy": frozenset({ADMIN}),
    "admin.users": frozenset({ADMIN}),
    "admin.tokens": frozenset({ADMIN}),
    "admin.identity_provider": frozenset({ADMIN}),
    "admin.notifications": frozenset({ADMIN}),  # failed e-mail deliveries: see and retry
    # A shared saved view changes what everyone in the tenant sees; auditors only read (personal views, a
    # reading aid that touches nobody else, stay open to them).
    "saved_view.share": ALL_ROLES - {AUDITOR},
}

_READ_ONLY_MESSAGE = "監査担当は閲覧のみです / auditors can only read"


def _message(action: str) -> str:
    return f"この操作の権限がありません / your roles do not allow this ({action})"


def is_tenant_wide(principal: Subject) -> bool:
    return bool(principal.roles & TENANT_WIDE_ROLES) or not principal.org_unit_ids


def is_read_only(principal: Subject) -> bool:
    return bool(principal.roles) and principal.roles <= {AUDITOR}


def in_scope(principal: Subject, org_unit_id: uuid.UUID | None) -> bool:
    """Whether an object in ``org_unit_id`` lies within the principal's org units."""
    if org_unit_id is None or is_tenant_wide(principal):
        return True
    return org_unit_id in principal.org_unit_ids


def _role_allowed(principal: Subject, action: str) -> bool:
    try:
        allowed = ACTION_ROLES[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(sorted(ACTION_ROLES))}") from None
    return bool(principal.roles & allowed)


def _task_visible(principal: Subject, task: Any) -> bool:
    if principal.roles & TENANT_WIDE_ROLES:
        return True
    if task.assignee_id is not None and task.assignee_id == principal.user_id:
        return True
    return task.role in principal.roles and in_scope(principal, task.org_unit_id)


def _object_visible(principal: Subject, action: str, obj: Any) -> bool:
    if obj is None:
        return True
    if action.startswith("task."):
        return _task_visible(principal, obj)
    if hasattr(obj, "org_unit_id"):
        return in_scope(principal, obj.org_unit_id)
    return True


def _may_act_on_task(principal: Subject, task: Any) -> bool:
    return ADMIN in principal.roles or task.role in principal.roles or task.assignee_id == principal.user_id


def can(principal: Subject | None, action: str, obj: Any = None) -> bool:
    """Whether ``principal`` may do ``action`` (on ``obj``, a task, case or anything with ``org_unit_id``)."""
    if principal is None:
        return False
    if not _role_allowed(principal, action):
        return False
    if not _object_visible(principal, action, obj):
        return False
    if action == "task.act" and obj is not None:
        return _may_act_on_task(principal, obj)
    return True


def authorize(principal: Subject | None, action: str, obj: Any = None) -> None:
    """Raise unless ``can(principal, action, obj)``: 401 without principal, 403 for the role, 404 outside
    the principal's org units (the object is not disclosed)."""
    if principal is None:
        raise Unauthorized("サインインが必要です / sign-in required")
    if not _role_allowed(principal, action):
        if (
            is_read_only(principal)
            and action in ACTION_ROLES
            and action.endswith((".act", ".create", ".share"))
        ):
            raise Forbidden(_READ_ONLY_MESSAGE)
        raise Forbidden(_message(action))
    if not _object_visible(principal, action, obj):
        raise NotFound("見つかりません / not found")
    if action == "task.act" and obj is not None and not _may_act_on_task(principal, obj):
        raise Forbidden("このタスクを処理する権限がありません / your roles do not include this task's role")


def check_roles(principal: Subject | None, roles: Iterable[str]) -> None:
    """The role gate of ``require_roles``: 401 without principal, 403 without any of ``roles``."""
    wanted = {str(r) for r in roles}
    if principal is None:
        raise Unauthorized("サインインが必要です / sign-in required")
    if not (principal.roles & wanted):
        raise Forbidden(
            "この操作に必要な役割がありません / you do not have the role this needs",
            details={"roles": [", ".join(sorted(wanted))]},
        )


def task_scope(principal: Subject, tasks: Any) -> ColumnElement[bool] | None:
    """SQL condition on a task table for the rows a principal may see; ``None`` means the whole tenant.

    The caller names the mapped class (``task_scope(actor, HumanTask)``; it needs ``role``, ``org_unit_id``
    and ``assignee_id`` columns): identity knows the rule, not the model.
    """
    if principal.roles & TENANT_WIDE_ROLES:
        return None
    role_match: ColumnElement[bool] = tasks.role.in_(sorted(principal.roles))
    if principal.org_unit_ids:
        role_match = role_match & or_(
            tasks.org_unit_id.in_(sorted(principal.org_unit_ids)), tasks.org_unit_id.is_(None)
        )
    return or_(tasks.assignee_id == principal.user_id, role_match)


def case_scope(principal: Subject, org_unit_id: Any) -> ColumnElement[bool] | None:
    """SQL condition on a case table's ``org_unit_id`` column for the cases a principal may see; ``None``
    means the whole tenant (``case_scope(actor, Case.org_unit_id)``)."""
    if is_tenant_wide(principal):
        return None
    return or_(org_unit_id.in_(sorted(principal.org_unit_ids)), org_unit_id.is_(None))
