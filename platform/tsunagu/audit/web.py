"""The audit trail's place in a request: identity's security events become entries.

An event of a request that succeeds (status < 400) is recorded in the request's own transaction, so it commits
with what it records. An event of a refused or failed request — a denial, a failed sign-in — would be rolled
back with that request, so it is recorded after the request's transaction is rolled back, in one of its own.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, has_request_context

from ..core.session import transaction
from ..identity import events
from ..web.requests import database_unavailable_seen, runtime
from . import services as audit

log = logging.getLogger(__name__)

_PENDING = "_audit_pending"


def _queue(event: events.SecurityEvent) -> None:
    if not has_request_context() or g.get("tenant") is None:
        log.info("security event outside a tenant request, not audited: %s", event.action)
        return
    g.setdefault(_PENDING, []).append(event)


def _target(event: events.SecurityEvent) -> audit.Target | None:
    case_id = event.details.get("case_id")
    if case_id:
        import uuid

        return audit.Target("case", str(case_id), uuid.UUID(str(case_id)))
    return None


def _record_all(session: audit.TenantSession, pending: list[events.SecurityEvent]) -> None:
    for event in pending:
        audit.record(
            session,
            audit.Actor(event.user_id, event.label),
            event.action,
            _target(event),
            details=event.details,
        )


def init_app(app: Flask) -> None:
    events.subscribe(_queue)

    @app.after_request
    def _record_security_events(response: Response) -> Response:
        # Registered after web.requests: runs before its commit (after_request runs in reverse order).
        pending: list[events.SecurityEvent] = g.pop(_PENDING, [])
        if not pending or database_unavailable_seen():
            return response
        session = g.get("_db")
        if session is not None and response.status_code < 400:
            _record_all(session, pending)
            return response
        if session is not None:
            session.rollback()  # what the refused request did is discarded; its audit entries are not
        with transaction(runtime().sessions, g.tenant.id) as own:
            _record_all(own, pending)
        return response
