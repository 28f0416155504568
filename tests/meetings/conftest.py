"""Fixtures for meetings: the repository's presets synced into the test database, series made from them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tests.factories import tenant_row
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
