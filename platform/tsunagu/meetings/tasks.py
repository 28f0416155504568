"""The meetings module's side of the BPMN service operations ``add_to_agenda`` and ``schedule_meeting``.

The engine allowlists the operations and records them as outbox side effects; this module registers what they
do (``engine.services.register_executor``), so the engine never imports meetings. Imported by
``core.outbox.load_handlers`` in the worker, like every module's ``tasks.py``. Both are idempotent: a
redelivered message finds the case already on its agenda, or its ad hoc meeting already convened.
"""

from __future__ import annotations

import uuid
from typing import Any

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


def run_add_to_agenda(session: TenantSession, payload: dict[str, Any]) -> None:
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


def run_schedule_meeting(session: TenantSession, payload: dict[str, Any]) -> None:
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
