"""Helpers for the referral page tests: the demo tenant with partner members at the test provider's domain."""

from __future__ import annotations

import copy
from pathlib import Path

from tests.factories import owner_sessions, tenant_row
from tsunagu.core.session import transaction
from tsunagu.tenancy.models import Tenant

REPO = Path(__file__).resolve().parents[2]


def demo_tenant(runtime) -> Tenant:
    from tsunagu.tenancy.sync import sync_presets

    sync_presets(runtime, REPO / "tenants")
    return tenant_row(runtime, "demo")


def join_partner(runtime, tenant: Tenant, key: str, email: str) -> None:
    """Add ``email`` to the members of the partner ``key`` in the tenant's settings (as ``tenants sync`` of an
    edited preset would); the portal syncs partner rows from there."""
    with transaction(owner_sessions(runtime), None, system=True) as session:
        row = session.get(Tenant, tenant.id)
        assert row is not None
        settings = copy.deepcopy(row.settings)
        for partner in settings["partners"]:
            if partner["key"] == key:
                partner["members"] = [*partner.get("members", []), email]
        row.settings = settings
