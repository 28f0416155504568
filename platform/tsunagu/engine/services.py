"""What the domain modules use of the engine: deployments, the four commands, timers and incidents.

The engine (layer 2) knows no domain module and no screen. Callers pass what it cannot know — how lanes name
roles (:class:`LaneRoles`) — and apply the plain :class:`CommandResult` each command returns.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..core.session import TenantSession
from .control import resume, suspend, terminate
from .definitions import (
    DEFINITION_SUFFIXES,
    LoadedDeployment,
    deploy,
    ensure_library_deployed,
    latest_deployment_for,
    load_deployment,
    lock_deployments,
    read_library,
)
from .errors import DefinitionError, EngineFault, Problem
from .incidents import open_incidents, record_incident, resolve_incident
from .lanes import LaneRoles
from .migration import MOVABLE_STATUSES, MigrationRefused, VersionDiff, diff_versions
from .migration import Check as MigrationCheck
from .migration import check as check_migration
from .migration import migrate as migrate_instance
from .models import Deployment, Incident, ProcessInstance, Timer
from .operations import register_executor
from .runner import (
    CommandResult,
    InstanceSuspended,
    ReadyTask,
    WaitingTimer,
    complete_task,
    deliver_message,
    fire_timer,
    load,
    lock_instance,
    require_running,
    running_calls,
    start,
)
from .safe_xml import parse_xml
from .timers import ClaimedTimer, claim_due_timer, due_timer_ids, park_timer, retry_incident
from .validation import register_form_check, validate_bundle, validate_paths_report

__all__ = [
    "DEFINITION_SUFFIXES",
    "MOVABLE_STATUSES",
    "ClaimedTimer",
    "CommandResult",
    "DefinitionError",
    "Deployment",
    "EngineFault",
    "Incident",
    "InstanceSuspended",
    "LaneRoles",
    "LoadedDeployment",
    "MigrationCheck",
    "MigrationRefused",
    "Problem",
    "ProcessInstance",
    "ReadyTask",
    "Timer",
    "VersionDiff",
    "WaitingTimer",
    "check_migration",
    "claim_due_timer",
    "complete_task",
    "deliver_message",
    "deploy",
    "diff_versions",
    "due_timer_ids",
    "ensure_library_deployed",
    "fire_timer",
    "form_schema",
    "get_instance",
    "latest_deployment",
    "latest_deployment_for",
    "load",
    "load_deployment",
    "lock_deployments",
    "lock_instance",
    "migrate_instance",
    "open_incidents",
    "park_timer",
    "parse_xml",
    "read_library",
    "record_incident",
    "register_executor",
    "register_form_check",
    "require_running",
    "resolve_incident",
    "resume",
    "retry_incident",
    "running_calls",
    "start",
    "suspend",
    "terminate",
    "validate_bundle",
    "validate_paths_report",
    "workflow_data",
]


def get_instance(session: TenantSession, instance_id: uuid.UUID | None) -> ProcessInstance | None:
    if instance_id is None:
        return None
    return session.get(ProcessInstance, (session.require_tenant_id(), instance_id))


def latest_deployment(session: TenantSession) -> Deployment | None:
    from sqlalchemy import select

    return session.execute(
        select(Deployment).order_by(Deployment.version.desc()).limit(1)
    ).scalar_one_or_none()


def form_schema(session: TenantSession, deployment_id: uuid.UUID, form_key: str) -> dict[str, Any] | None:
    """The form-js schema ``form_key`` of a deployment (``None`` when it has none by that key)."""
    if not form_key:
        return None
    return load_deployment(session, deployment_id).forms.get(form_key)


def workflow_data(instance: ProcessInstance) -> dict[str, Any]:
    """The data of the workflow as it stands: the newest task state of the top-level process."""
    workflow = load(instance)
    data: dict[str, Any] = dict(workflow.data)
    tasks = [t for t in workflow.tasks.values() if t.data]
    tasks.sort(key=lambda t: t.last_state_change)
    for task in tasks[-1:]:
        data.update(task.data)
    return data
