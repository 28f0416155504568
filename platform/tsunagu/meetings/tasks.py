"""The meetings module's side of the BPMN service operations ``add_to_agenda`` and ``schedule_meeting``.

The engine allowlists the operations and records them as outbox side effects; this module registers what they
do (``engine.services.register_executor``), so the engine never imports meetings. Imported by
``core.outbox.load_handlers`` in the worker, like every module's ``tasks.py``. Both are idempotent: a
redelivered message finds the case already on its agenda, or its ad hoc meeting already convened.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from ..core.errors import AppError
from ..core.session import TenantSession
from ..engine import services as engine
from . import adhoc, agenda
from .models import Purpose

#: the BPMN's ``purpose`` values → agenda purposes (the library sends ``plan_review``)
PURPOSES = {
    "plan_review": Purpose.NEW_PLAN.value,
    "new_plan": Purpose.NEW_PLAN.value,
    "plan_change": Purpose.PLAN_CHANGE.value,
    "replan": Purpose.PLAN_CHANGE.value,
    "evaluation": Purpose.EVALUATION.value,
    "after_the_fact": Purpose.AFTER_THE_FACT.value,
}


log = logging.getLogger("tsunagu.meetings")

#: A tenant without the meeting configured (no series of the right kind) keeps the behaviour from before the
#: meetings module: the case waits for the secretariat to send the decision (API or its workflow step).
_NOT_CONFIGURED = ("no_meeting_series", "no_adhoc_series", "no_meeting")


def _tolerate(exc: AppError, payload: dict[str, Any]) -> None:
    if exc.code not in _NOT_CONFIGURED:
        raise exc
    log.warning("meeting operation for case %s not applied: %s", payload.get("case_id"), exc.message)


def run_add_to_agenda(session: TenantSession, payload: dict[str, Any]) -> None:
    try:
        _add_to_agenda(session, payload)
    except AppError as exc:
        _tolerate(exc, payload)


def run_schedule_meeting(session: TenantSession, payload: dict[str, Any]) -> None:
    try:
        _schedule_meeting(session, payload)
    except AppError as exc:
        _tolerate(exc, payload)


def _add_to_agenda(session: TenantSession, payload: dict[str, Any]) -> None:
    params = payload.get("params") or {}
    purpose = PURPOSES.get(str(params.get("purpose", "plan_review")), Purpose.NEW_PLAN.value)
    priority = params.get("priority")
    agenda.add_to_agenda(
        session,
        uuid.UUID(str(payload["case_id"])),
        purpose,
        after_the_fact=bool(params.get("after_the_fact_report", False)),
        urgency=int(priority) if isinstance(priority, int) else 1,
    )


def _schedule_meeting(session: TenantSession, payload: dict[str, Any]) -> None:
    params = payload.get("params") or {}
    adhoc.convene_for_case(
        session,
        uuid.UUID(str(payload["case_id"])),
        scope=str(params.get("scope") or "adhoc"),
        meeting_date=params.get("meeting_date"),
        meeting_time=params.get("meeting_time"),
    )


engine.register_executor("add_to_agenda", run_add_to_agenda)
engine.register_executor("schedule_meeting", run_schedule_meeting)
