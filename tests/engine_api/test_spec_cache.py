"""Stored instances refer to their definitions; the per-process spec cache resolves them per tenant."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.engine_api.driver import Api
from tests.factories import make_user
from tsunagu.core.session import transaction
from tsunagu.engine import runner
from tsunagu.engine.models import ProcessInstance
from tsunagu.engine.serialization import SPEC_CACHE, SpecRef, resolver_for


def _instance(runtime, tenant_id: uuid.UUID, case: dict) -> tuple[str, SpecRef]:
    with transaction(runtime.sessions, tenant_id) as session:
        instance = session.get(ProcessInstance, (tenant_id, uuid.UUID(case["process_instance_id"])))
        assert instance is not None
        return instance.serialized, runner.spec_ref(instance)


def test_rows_hold_a_reference_and_the_cache_resolves_it_once_per_process(api: Api, runtime, tenant) -> None:
    SPEC_CACHE.clear()
    case = api.start_case()
    assert "process_instance_id" in case
    api.complete(case["id"], "intake", screening_outcome="continue")
    misses = SPEC_CACHE.misses
    hits = SPEC_CACHE.hits
    api.complete(case["id"], "consent", consent_application=True)
    assert SPEC_CACHE.misses == misses and SPEC_CACHE.hits > hits  # restored from the cache, not re-resolved

    state, ref = _instance(runtime, tenant.id, case)
    stored = json.loads(state)
    assert stored["spec_ref"] == ref.to_json()
    assert ref.process_id == "casework" and dict(ref.aliases) == {"meeting": "meeting_hybrid"}
    assert "spec" not in stored and "subprocess_specs" not in stored


def test_another_tenant_cannot_resolve_a_deployment_it_does_not_own(
    api: Api, runtime, tenant, client
) -> None:
    from tests.factories import make_tenant
    from tsunagu.core.errors import NotFound

    case = api.start_case()
    _, ref = _instance(runtime, tenant.id, case)
    other = make_tenant(runtime, "other-city", settings={"workflow": {"meeting_process": "meeting_hybrid"}})
    make_user(runtime, other, email="x@example.jp", roles=["tenant_admin"])
    SPEC_CACHE.clear()
    with transaction(runtime.sessions, tenant.id) as session:
        resolver_for(session)(ref)  # cached for the owning tenant
    with transaction(runtime.sessions, other.id) as session, pytest.raises(NotFound):
        resolver_for(session)(ref)  # keyed by tenant: the owner's entry is not handed to another tenant
