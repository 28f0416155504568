"""Outbox handlers of notifications (loaded by ``core.outbox.load_handlers``): thin, one service call each."""

from __future__ import annotations

import logging
import uuid

from ..core.outbox import OutboxMessage, handler
from ..core.session import TenantSession
from .delivery import deliver
from .services import DELIVER_TOPIC

log = logging.getLogger("tsunagu.notifications")


@handler(DELIVER_TOPIC)
def deliver_notification(session: TenantSession, message: OutboxMessage) -> None:
    try:
        delivery_id = uuid.UUID(str(message.payload.get("delivery")))
    except ValueError:
        log.error("outbox message %s: no delivery id in %r", message.id, message.payload)
        return
    outcome = deliver(session, delivery_id)
    log.info("notification delivery %s: %s", delivery_id, outcome)
