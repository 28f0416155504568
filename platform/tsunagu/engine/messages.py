"""BPMN messages (meeting decided, consent withdrawn, referral) delivered to the instance waiting for them."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from ..core.errors import Conflict
from ..core.session import TenantSession
from .models import ProcessInstance

if TYPE_CHECKING:
    from ..cases.models import Case

MESSAGE_NAMES = ("meeting_decided", "consent_withdrawn", "referral_received")


def deliver_to_case(
    session: TenantSession,
    case: Case,
    name: str,
    payload: dict[str, Any],
    actor_id: uuid.UUID | None = None,
) -> None:
    """Correlate by case: the case's running instance catches the message, or 409 when nothing waits for it."""
    from ..cases import services as cases
    from . import runner

    if case.process_instance_id is None:
        raise Conflict("the case has no process", code="no_process")
    instance = session.get(ProcessInstance, (case.tenant_id, case.process_instance_id))
    if instance is None or instance.status != "running":
        raise Conflict("the case's process is not running", code="not_running")
    result = runner.deliver_message(session, instance, name, payload, cases.task_context(session, case))
    if result is None:
        raise Conflict(
            f"このケースはメッセージ {name} を待っていません / nothing is waiting for {name}",
            code="not_waiting",
        )
    cases.record_event(
        session, case.id, "message", element=name, title=name, actor_id=actor_id, details=payload
    )
    cases.apply_result(session, case, result)
    session.flush()
