"""Fixtures for meetings: the repository's presets synced into the test database, series made from them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tests.factories import tenant_row

# The e-mail and browser-session fixtures of tests/notifications and tests/web (a real SMTP server, the app
# sending to it, the local OpenID provider): invitations are checked as they are sent.
from tests.notifications.conftest import (  # noqa: F401 - shared fixtures
    _restore_delivery_settings,
    app,
    inline,
    mail_settings,
    smtp_server,
)

# (the Chromium fixtures stay in tests/web, one Playwright per session: the meetings browser test is there)
from tests.web.conftest import act_as, use_provider, web_provider  # noqa: F401 - shared fixtures
from tsunagu.core.session import transaction
from tsunagu.meetings import services as meetings
from tsunagu.tenancy.sync import sync_presets

REPO = Path(__file__).resolve().parents[2]
#: a fixed "today" for generation: a Monday before Iwamizawa's first Wednesday of January 2027
TODAY = date(2026, 12, 28)


@pytest.fixture
def presets(runtime):
    sync_presets(runtime, REPO / "tenants")


def synced(runtime, slug: str, today: date = TODAY):
    """The tenant row of ``slug`` with its series synced and meetings generated from ``today``."""
    tenant = tenant_row(runtime, slug)
    with transaction(runtime.sessions, tenant.id) as session:
        meetings.sync_series(session, today=today)
        meetings.generate_ahead(session, today=today)
    return tenant


def drain_service_tasks(runtime) -> int:
    """Run every pending ``engine.service_task`` outbox message as the worker would (the real handler)."""
    from sqlalchemy import select

    from tests.factories import owner_sessions
    from tsunagu.core.outbox import OutboxMessage, Outcome, process_message

    with transaction(owner_sessions(runtime), None, system=True) as session:
        pending = session.execute(
            select(OutboxMessage.tenant_id, OutboxMessage.id)
            .where(OutboxMessage.topic == "engine.service_task", OutboxMessage.processed_at.is_(None))
            .order_by(OutboxMessage.created_at)
        ).all()
    ran = 0
    for tenant_id, message_id in pending:
        assert process_message(runtime, tenant_id, message_id) is Outcome.PROCESSED
        ran += 1
    return ran
