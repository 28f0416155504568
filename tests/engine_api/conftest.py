from __future__ import annotations

import pytest

from tests.engine_api.driver import Api
from tests.factories import make_org_unit, make_tenant, make_user


@pytest.fixture
def tenant(runtime):
    tenant = make_tenant(
        runtime,
        "kunitachi-test",
        settings={"workflow": {"meeting_process": "meeting_hybrid", "monitoring_interval": "P1M"}},
    )
    make_org_unit(runtime, tenant, "fukushi", "福祉総務課", kind="department")
    return tenant


@pytest.fixture
def admin(runtime, tenant):
    return make_user(runtime, tenant, email="admin@example.jp", roles=["tenant_admin"])


@pytest.fixture
def api(client, tenant, admin):
    return Api(client, tenant.slug, admin.token)
