"""The one permission module: (role, org unit) grants × object.

Every HTML view and API endpoint asks here — through :func:`authorize` / :func:`can`, the SQL scopes
:func:`task_scope` / :func:`case_scope`, or ``web.blueprints.require_roles`` which calls :func:`check_roles`.

Rules (DESIGN 2.5, issue #15 "fail closed"):

* **Role** — :data:`ACTION_ROLES` lists which roles may attempt each action at all. A role that may not: 403.
* **Grants, not a cross product** — a principal acts as a role *in an org unit*, membership by membership
  (``principal.Principal.grants``): 港北区's consultant sees the tasks and cases of 港北区 (and its
  sub-units), not 鶴見区's, even if they are also a provider in 鶴見区. The municipality's staff reach the
  units their unit oversees (the contracted agency's, ``principal.OVERSIGHT_ROLES``).
* **Fail closed** — no org unit means no case access. Only tenant administrators and auditors see the whole
  tenant, because of their role (:data:`TENANT_WIDE_ROLES`), never because a membership lacks a unit. An
  object without an org unit is visible to them alone. Outside the principal's grants an object is *not
  found* (404): its existence is not disclosed.
* **Object** — a task is acted on by the holder of its role in its unit, its assignee or an administrator;
  an auditor only reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, false, or_

from ..core.errors import Forbidden, NotFound, Unauthorized
from . import events
from .models import ALL_ROLES, Role
from .principal import TENANT_WIDE_ROLES, Grant


class Subject(Protocol):
    """What a check needs of a :class:`~tsunagu.identity.principal.Principal` (or an ``Access``)."""

    @property
    def roles(self) -> frozenset[str]: ...

    @property
    def grants(self) -> frozenset[Grant]: ...


ADMIN = Role.TENANT_ADMIN.value
AUDITOR = Role.AUDITOR.value
_WRITERS = frozenset({ADMIN, Role.CONSULTANT.value, Role.MUNICIPAL_STAFF.value})
_CASE_READERS = _WRITERS | {Role.MEETING_SECRETARIAT.value, AUDITOR, Role.PROVIDER.value}
_PARTNER = Role.EXTERNAL_PARTICIPANT.value

__all__ = [
    "ACTION_ROLES",
    "TENANT_WIDE_ROLES",
    "authorize",
    "can",
    "case_scope",
    "check_roles",
    "creation_unit",
    "in_scope",
    "is_tenant_wide",
    "may_work_task",
    "role_queue_scope",
    "task_refusal",
    "task_scope",
    "units_for",
]

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
    "case.consent": _WRITERS,  # record or withdraw the person's consent (同意)
    "org_unit.read": ALL_ROLES,
    "org_unit.update": frozenset({ADMIN}),
    "definition.read": frozenset({ADMIN, AUDITOR}),
    "definition.deploy": frozenset({ADMIN}),
    # instance operations (admin): auditors see the list, the diagram, history and operations; only
    # administrators operate (retry, suspend/resume/terminate, migrate) and see the workflow's variables
    "instance.read": frozenset({ADMIN, AUDITOR}),
    "instance.operate": frozenset({ADMIN}),
    "instance.variables": frozenset({ADMIN}),
    "admin.users": frozenset({ADMIN}),
    "admin.tokens": frozenset({ADMIN}),
    "admin.identity_provider": frozenset({ADMIN}),
    "admin.notifications": frozenset({ADMIN}),  # failed e-mail deliveries: see and retry
    # the audit trail: searched and exported by auditors (and administrators); every search is itself audited
    "audit.read": frozenset({ADMIN, AUDITOR}),
    # A shared saved view changes what everyone in the tenant sees; auditors only read (personal views, a
    # reading aid that touches nobody else, stay open to them).
    "saved_view.share": ALL_ROLES - {AUDITOR},
    # Meetings (issue #14): everyone sees the calendar of their units; the secretariat (and administrators)
    # convene, move and cancel meetings and record attendance, decisions and minutes.
    "meeting.read": ALL_ROLES,
    "meeting.manage": frozenset({ADMIN, Role.MEETING_SECRETARIAT.value}),
    "meeting.reply": ALL_ROLES - {AUDITOR},
    # Referrals (issue #20): a partner's users (外部参加者) send referrals and flags and answer requests for
    # cooperation, for their own organisation only (``referrals`` scopes every row to it); case workers of
    # the receiving unit accept referrals and ask partners for cooperation.
    "referral.submit": frozenset({_PARTNER}),
    "referral.read": _WRITERS | {AUDITOR, _PARTNER},
    "referral.accept": _WRITERS,
    "cooperation.request": _WRITERS,
    "cooperation.respond": frozenset({_PARTNER}),
}

_READ_ONLY_MESSAGE = "監査担当は閲覧のみです / auditors can only read"
NOT_FOUND_MESSAGE = "見つかりません / not found"


def _message(action: str) -> str:
    return f"この操作の権限がありません / your roles do not allow this ({action})"


def is_tenant_wide(principal: Subject) -> bool:
    """Tenant administrators and auditors see the whole tenant — by their role, never by a missing unit."""
    return bool(principal.roles & TENANT_WIDE_ROLES)


def is_read_only(principal: Subject) -> bool:
    return bool(principal.roles) and principal.roles <= {AUDITOR}


def units_for(principal: Subject, roles: Iterable[str]) -> frozenset[uuid.UUID]:
    """The org units in which the principal holds one of ``roles`` (membership by membership)."""
    wanted = set(roles)
    return frozenset(unit for role, unit in principal.grants if role in wanted and unit is not None)


def in_scope(principal: Subject, org_unit_id: uuid.UUID | None, roles: Iterable[str] | None = None) -> bool:
    """Whether an object in ``org_unit_id`` lies within the principal's grants (of ``roles``, default any).

    No org unit: only the tenant-wide roles see it (fail closed).
    """
    if is_tenant_wide(principal):
        return True
    if org_unit_id is None:
        return False
    wanted = ALL_ROLES if roles is None else frozenset(roles)
    return any(unit == org_unit_id and role in wanted for role, unit in principal.grants)


def _role_allowed(principal: Subject, action: str) -> bool:
    try:
        allowed = ACTION_ROLES[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(sorted(ACTION_ROLES))}") from None
    return bool(principal.roles & allowed)


def _assignee(principal: Subject, task: Any) -> bool:
    user_id = getattr(principal, "user_id", None)
    return task.assignee_id is not None and task.assignee_id == user_id


def may_work_task(subject: Subject, role: str, org_unit_id: uuid.UUID | None) -> bool:
    """Whether ``subject`` holds the task's ``role`` in the task's org unit (or administers the tenant)."""
    if ADMIN in subject.roles:
        return True
    return org_unit_id is not None and (role, org_unit_id) in subject.grants


def _task_visible(principal: Subject, task: Any) -> bool:
    if is_tenant_wide(principal) or _assignee(principal, task):
        return True
    return task.org_unit_id is not None and (task.role, task.org_unit_id) in principal.grants


def _object_visible(principal: Subject, action: str, obj: Any) -> bool:
    if obj is None:
        return True
    if action.startswith("task."):
        return _task_visible(principal, obj)
    if action.startswith("meeting.") and getattr(obj, "org_unit_id", None) is None:
        # A meeting of the whole municipality (a series without an org unit, e.g. Iwamizawa's case review):
        # every holder of the action's roles; its agenda names a case only to that case's readers.
        return True
    if hasattr(obj, "org_unit_id"):
        return in_scope(principal, obj.org_unit_id, ACTION_ROLES[action])
    return True


def _may_act_on_task(principal: Subject, task: Any) -> bool:
    return _assignee(principal, task) or may_work_task(principal, task.role, task.org_unit_id)


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
    the principal's grants (the object is not disclosed). Every refusal of a principal is reported as a
    ``permission.denied`` security event (the audit trail records it)."""
    if principal is None:
        raise Unauthorized("サインインが必要です / sign-in required")
    if not _role_allowed(principal, action):
        if principal.roles and principal.roles <= {_PARTNER} and (obj is not None or action == "case.read"):
            # A partner's user is told nothing about cases, nor any object outside their referrals (#20): 404.
            raise _denied(principal, action, obj, NotFound(NOT_FOUND_MESSAGE))
        if (
            is_read_only(principal)
            and action in ACTION_ROLES
            and action.endswith((".act", ".create", ".share"))
        ):
            raise _denied(principal, action, obj, Forbidden(_READ_ONLY_MESSAGE))
        raise _denied(principal, action, obj, Forbidden(_message(action)))
    if not _object_visible(principal, action, obj):
        raise _denied(principal, action, obj, NotFound(NOT_FOUND_MESSAGE))
    if action == "task.act" and obj is not None and not _may_act_on_task(principal, obj):
        raise _denied(principal, action, obj, Forbidden(task_refusal(principal, obj.role)))


def _denied(principal: Subject, action: str, obj: Any, error: Exception) -> Exception:
    details: dict[str, Any] = {"permission": action, "status": getattr(error, "status", None)}
    object_id = getattr(obj, "id", None)
    if object_id is not None:
        details["object"] = f"{type(obj).__name__}:{object_id}"
    case_id = getattr(obj, "case_id", None) if not hasattr(obj, "person_id") else object_id
    if case_id is not None:
        details["case_id"] = str(case_id)
    events.emit(events.principal_event("permission.denied", principal, **details))
    return error


def access_basis(principal: Subject, action: str, obj: Any = None) -> str:
    """Why :func:`can` allowed ``action`` on ``obj``: the role and the grant that decided it. The audit trail
    records it as the legal basis of a read or export of personal data."""
    allowed = ACTION_ROLES.get(action, frozenset())
    wide = sorted(principal.roles & TENANT_WIDE_ROLES & allowed)
    if wide:
        return f"{action}: {wide[0]} (tenant-wide role)"
    unit = getattr(obj, "org_unit_id", None)
    if unit is not None:
        in_unit = sorted(
            role for role, grant_unit in principal.grants if grant_unit == unit and role in allowed
        )
        if in_unit:
            return f"{action}: {in_unit[0]} in org unit {unit}"
    held = sorted(principal.roles & allowed)
    return f"{action}: {held[0]}" if held else action


def task_refusal(subject: Subject, role: str) -> str:
    """Why ``subject`` may not work a task of ``role``: the role itself, or the role in that org unit."""
    if role in subject.roles:
        return (
            "このタスクの役割はありますが、このケースの組織では持っていません / the role is held, but not in "
            "this task's org unit"
        )
    return "このタスクの役割を持っていません / the task's role is not held"


def check_roles(principal: Subject | None, roles: Iterable[str]) -> None:
    """The role gate of ``require_roles``: 401 without principal, 403 without any of ``roles``."""
    wanted = {str(r) for r in roles}
    if principal is None:
        raise Unauthorized("サインインが必要です / sign-in required")
    if not (principal.roles & wanted):
        error = Forbidden(
            "この操作に必要な役割がありません / you do not have the role this needs",
            details={"roles": [", ".join(sorted(wanted))]},
        )
        raise _denied(principal, "roles:" + ",".join(sorted(wanted)), None, error)


def _grant_clauses(principal: Subject, tasks: Any) -> list[ColumnElement[bool]]:
    """One ``role = r AND org_unit_id IN (...)`` per role the principal holds in some unit; a role held
    tenant-wide (administrator, auditor) matches its tasks in every unit."""
    by_role: dict[str, set[uuid.UUID]] = {}
    everywhere: set[str] = set()
    for role, unit in principal.grants:
        if unit is None:
            everywhere.add(role)
        else:
            by_role.setdefault(role, set()).add(unit)
    clauses: list[ColumnElement[bool]] = [tasks.role.in_(sorted(everywhere))] if everywhere else []
    clauses += [
        and_(tasks.role == role, tasks.org_unit_id.in_(sorted(units)))
        for role, units in sorted(by_role.items())
        if role not in everywhere
    ]
    return clauses


def task_scope(principal: Subject, tasks: Any) -> ColumnElement[bool] | None:
    """SQL condition on a task table for the rows a principal may see; ``None`` means the whole tenant.

    The caller names the mapped class (``task_scope(actor, HumanTask)``; it needs ``role``, ``org_unit_id``
    and ``assignee_id`` columns): identity knows the rule, not the model.
    """
    if is_tenant_wide(principal):
        return None
    return or_(tasks.assignee_id == getattr(principal, "user_id", None), *_grant_clauses(principal, tasks))


def role_queue_scope(principal: Subject, tasks: Any) -> ColumnElement[bool]:
    """The tasks of the principal's roles in the units it holds them in (the inbox's "my roles" queue)."""
    clauses = _grant_clauses(principal, tasks)
    return or_(*clauses) if clauses else false()


def case_scope(principal: Subject, org_unit_id: Any, action: str = "case.read") -> ColumnElement[bool] | None:
    """SQL condition on a case table's ``org_unit_id`` column for the cases a principal may ``action``;
    ``None`` means the whole tenant (``case_scope(actor, Case.org_unit_id)``); no grant: no row at all."""
    if is_tenant_wide(principal):
        return None
    units = units_for(principal, ACTION_ROLES[action])
    if not units:
        return false()
    return org_unit_id.in_(sorted(units))


def creation_unit(principal: Subject, requested: uuid.UUID | None) -> uuid.UUID | None:
    """The org unit a new case opens in: ``requested`` if the principal may create cases there, else the
    principal's own unit when it holds exactly one; ``None`` when there is no such unit (the caller refuses).

    Raises :class:`Forbidden` for a requested unit the principal does not hold a creating role in.
    """
    creators = ACTION_ROLES["case.create"]
    if requested is not None:
        if ADMIN in principal.roles or requested in units_for(principal, creators):
            return requested
        raise Forbidden("担当外の組織ではケースを開始できません / you cannot open a case in that org unit")
    home = {
        unit
        for role, unit in getattr(principal, "home_units", frozenset())
        if role in creators and unit is not None
    }
    return next(iter(home)) if len(home) == 1 else None
