"""Outbox consumers for BPMN service tasks: the platform-owned operations run here, in a worker."""

from __future__ import annotations

import logging

from ..core.outbox import OutboxMessage, handler, load_handlers
from ..core.session import TenantSession
from .operations import executor_for, get_operation

log = logging.getLogger("tsunagu.engine.operations")


@handler("engine.service_task")
def run_service_task(session: TenantSession, message: OutboxMessage) -> None:
    """Run one service operation. Operations are looked up again here: a retired one fails loudly."""
    payload = message.payload
    operation = get_operation(str(payload.get("operation")))
    # The operations' own effects (agenda building, meetings, statistics) are owned by the modules that
    # deliver them: they register an executor from their ``tasks.py`` (imported by ``load_handlers``).
    load_handlers()
    execute = executor_for(operation.name)
    if execute is not None:
        execute(session, {**payload, "params": operation.coerce_params(payload.get("params") or {})})
        return
    log.info(
        "service operation %s for case %s (instance %s) params=%s",
        operation.name,
        payload.get("case_id"),
        payload.get("process_instance_id"),
        sorted((payload.get("params") or {}).keys()),
    )
