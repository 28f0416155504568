"""Outbox consumers for BPMN service tasks: the platform-owned operations run here, in a worker."""

from __future__ import annotations

import logging

from ..core.outbox import OutboxMessage, handler
from ..core.session import TenantSession
from .operations import get_operation

log = logging.getLogger("tsunagu.engine.operations")


@handler("engine.service_task")
def run_service_task(session: TenantSession, message: OutboxMessage) -> None:
    """Run one service operation. Operations are looked up again here: a retired one fails loudly."""
    payload = message.payload
    operation = get_operation(str(payload.get("operation")))
    # The operations' own effects (notifications, agenda building, statistics) are owned by the modules
    # that deliver them; until those exist the operation is recorded in the log with its case.
    log.info(
        "service operation %s for case %s (instance %s) params=%s",
        operation.name,
        payload.get("case_id"),
        payload.get("process_instance_id"),
        sorted((payload.get("params") or {}).keys()),
    )
