"""Engine errors become incidents (nothing half-saved, retryable); messages reach the waiting case."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.engine_api.driver import drive_to_monitoring
from tsunagu.cases.services import fire_due_timers
from tsunagu.core.db import utcnow
from tsunagu.core.session import transaction
from tsunagu.engine.models import Incident, ProcessInstance, Timer
from tsunagu.engine.timers import retry_incident


def test_a_failing_timer_becomes_an_incident_and_fires_after_retry(api, runtime, tenant):
    case = api.start_case()
    drive_to_monitoring(api, case["id"])
    instance_id = uuid.UUID(case["process_instance_id"])
    with transaction(runtime.sessions, tenant.id) as session:
        instance = session.get(ProcessInstance, (tenant.id, instance_id))
        good_state, version = instance.serialized, instance.version
        instance.serialized = good_state.replace('"serializer_version"', '"serializer_versio"', 1)[:-200]
        broken_state = instance.serialized

    assert fire_due_timers(runtime, now=utcnow() + timedelta(days=40)) == 0
    with transaction(runtime.sessions, tenant.id) as session:
        instance = session.get(ProcessInstance, (tenant.id, instance_id))
        assert instance.serialized == broken_state, "nothing may be half-saved"
        assert instance.version == version + 1  # only our own corruption above bumped it
        (incident,) = session.execute(select(Incident)).scalars().all()
        assert incident.command == "fire_timer" and incident.element and incident.message
        parked = session.execute(select(Timer).where(Timer.claimed_at.is_not(None))).scalars().all()
        assert len(parked) == 1 and parked[0].fired_at is None
        instance.serialized = good_state  # an operator repairs the cause ...
        incident_id = incident.id

    assert fire_due_timers(runtime, now=utcnow() + timedelta(days=40)) == 0  # parked until retried
    retry_incident(runtime, tenant.id, incident_id)  # ... and retries
    assert fire_due_timers(runtime, now=utcnow() + timedelta(days=40)) == 1
    assert [t["name"] for t in api.ready_tasks(case["id"])] == ["monitoring"]
    with transaction(runtime.sessions, tenant.id) as session:
        assert session.get(Incident, (tenant.id, incident_id)).resolved_at is not None


def test_consent_withdrawn_ends_the_case_as_suspended(api):
    case = api.start_case()
    api.complete(case["id"], "intake", screening_outcome="continue")
    api.complete(case["id"], "consent", consent_application=True)
    response = api.message(case["id"], "consent_withdrawn", {"reason": "本人の申出"})
    assert response.status_code == 200, response.get_json()
    detail = api.case(case["id"])
    assert detail["status"] == "closed"
    assert detail["outcome"] == "end_withdrawn"
    assert api.ready_tasks(case["id"]) == []
    assert any(h["kind"] == "message" and h["element"] == "consent_withdrawn" for h in detail["history"])


def test_a_message_nobody_waits_for_answers_409(api):
    case = api.start_case()
    response = api.message(case["id"], "meeting_decided", {"decision": "approve"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "not_waiting"


def test_advice_only_intake_closes_the_case_with_that_outcome(api):
    case = api.start_case(
        referral={"source_agency": "税務課", "reason": "滞納相談からのつなぎ", "consent_status": "obtained"}
    )
    api.complete(case["id"], "intake", screening_outcome="advice_only")
    detail = api.case(case["id"])
    assert detail["status"] == "closed"
    assert detail["outcome"] == "end_advice_only"
    assert detail["history"][0]["title"].endswith("（他機関からのつなぎ）")


def test_a_ward_consultant_opens_cases_only_in_her_own_ward(client, runtime, tenant):
    from tests.engine_api.driver import Api
    from tests.factories import make_org_unit, make_user

    kohoku = make_org_unit(runtime, tenant, "kohoku", "港北区")
    make_org_unit(runtime, tenant, "tsurumi", "鶴見区")
    consultant = make_user(
        runtime, tenant, email="c@kohoku.example.jp", roles=["consultant"], org_unit=kohoku
    )
    api = Api(client, tenant.slug, consultant.token)
    assert (
        api.post(
            "/cases", json={"person": {"name": "a", "name_kana": "ア"}, "org_unit": "tsurumi"}
        ).status_code
        == 403
    )
    own = api.post("/cases", json={"person": {"name": "a", "name_kana": "ア"}, "org_unit": "kohoku"})
    assert own.status_code == 201


def test_a_task_in_a_sub_unit_can_be_handed_to_a_member_of_the_ward_above(client, runtime, tenant, admin):
    """Reassignment uses the same org-unit rule as permissions: a ward's members cover its sections."""
    from sqlalchemy import update

    from tests.engine_api.driver import Api
    from tests.factories import make_org_unit, make_user
    from tsunagu.core.errors import ValidationFailed
    from tsunagu.identity.principal import Principal
    from tsunagu.inbox.services import assign_task
    from tsunagu.tenancy.models import OrgUnit

    ward = make_org_unit(runtime, tenant, "kohoku", "港北区")
    section = make_org_unit(runtime, tenant, "kohoku-seikatsu", "港北区生活支援課", kind="department")
    other = make_org_unit(runtime, tenant, "tsurumi", "鶴見区")
    with transaction(runtime.sessions, tenant.id) as session:
        session.execute(update(OrgUnit).where(OrgUnit.id == section.id).values(parent_id=ward.id))
    in_ward = make_user(runtime, tenant, email="w@example.jp", roles=["consultant"], org_unit=ward)
    elsewhere = make_user(runtime, tenant, email="t@example.jp", roles=["consultant"], org_unit=other)
    case = Api(client, tenant.slug, admin.token).start_case(org_unit="kohoku-seikatsu")
    (task,) = Api(client, tenant.slug, admin.token).ready_tasks(case["id"])
    boss = Principal(
        user_id=admin.user.id,
        tenant_id=tenant.id,
        roles=frozenset({"tenant_admin"}),
        org_unit_ids=frozenset(),
    )
    with transaction(runtime.sessions, tenant.id) as session:
        with pytest.raises(ValidationFailed):
            assign_task(session, boss, uuid.UUID(task["id"]), elsewhere.user.id)
    with transaction(runtime.sessions, tenant.id) as session:
        assert (
            assign_task(session, boss, uuid.UUID(task["id"]), in_ward.user.id).assignee_id == in_ward.user.id
        )
