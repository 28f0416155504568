"""Supervision of contracted agencies (issue #15, done-when 3): in the demo and Iwamizawa presets the
municipality's department oversees the agency consultation is contracted to, so its staff see the agency's
cases and complete their 支援決定 / 支援確認 without being added to the agency's unit."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.engine_api.driver import Api, later
from tests.factories import make_org_unit, make_user, tenant_row
from tsunagu.core.errors import ValidationFailed
from tsunagu.core.session import transaction
from tsunagu.identity.principal import load_access
from tsunagu.inbox.services import assign_task
from tsunagu.tenancy.models import OrgUnit, OrgUnitOversight
from tsunagu.tenancy.sync import sync_presets

REPO = Path(__file__).resolve().parents[2]

#: preset → (the agency's unit, the overseeing department's unit)
PRESETS = {"demo": ("soudan-center", "seikatsu-shien"), "iwamizawa": ("jiritsu-soudan", "hogo")}


@pytest.fixture
def presets(runtime):
    sync_presets(runtime, REPO / "tenants")


def _people(client, runtime, slug: str) -> dict[str, Api]:
    agency, department = PRESETS[slug]
    tenant = tenant_row(runtime, slug)
    with transaction(runtime.sessions, tenant.id) as session:
        units = {u.code: u for u in session.execute(select(OrgUnit)).scalars()}

    def api(role: str, unit: str) -> Api:
        user = make_user(
            runtime, tenant, email=f"{role}-{unit}@{slug}.example", roles=[role], org_unit=units[unit]
        )
        return Api(client, slug, user.token)

    return {
        "consultant": api("consultant", agency),
        "secretariat": api("meeting_secretariat", agency),
        "agency_staff": api("municipal_staff", agency),
        "staff": api("municipal_staff", department),
        "department_consultant": api("consultant", department),
    }


def _to_decision(people: dict[str, Api], slug: str, programmes: list[str]) -> str:
    consultant = people["consultant"]
    case_id = consultant.start_case()["id"]  # opens in the consultant's own unit: the agency's
    consultant.complete(case_id, "intake", screening_outcome="continue")
    consultant.complete(case_id, "consent", consent_application=True)
    consultant.complete(case_id, "assessment", emergency_support=False, urgency="normal", complexity="normal")
    consultant.complete(
        case_id,
        "plan_draft",
        plan_end_date=later(180).isoformat(),
        early_start=False,
        statutory_programmes=programmes,
    )
    ready = [t["name"] for t in consultant.ready_tasks(case_id)]
    if "convene_adhoc" in ready:  # demo (hybrid): the DMN may route it ad hoc
        consultant.complete(case_id, "convene_adhoc")
        consultant.complete(case_id, "record_meeting_result", meeting_decision="approve")
    else:
        answer = people["secretariat"].message(case_id, "meeting_decided", {"decision": "approve"})
        assert answer.status_code == 200, answer.get_json()
    return case_id


@pytest.mark.parametrize("slug", sorted(PRESETS))
@pytest.mark.parametrize(
    ("programmes", "step"), [(["employment_preparation"], "support_decision"), ([], "support_confirmation")]
)
def test_the_municipality_decides_on_the_agencys_case_without_a_membership_change(
    client, runtime, presets, slug, programmes, step
):
    people = _people(client, runtime, slug)
    case_id = _to_decision(people, slug, programmes)
    staff = people["staff"]
    # The department's staff see the case and find the step in their role queue.
    assert staff.get(f"/cases/{case_id}").status_code == 200
    queue = [t for t in staff.get("/tasks?scope=role").get_json() if t["case_id"] == case_id]
    assert [t["name"] for t in queue] == [step]
    staff.complete(case_id, step)
    assert step not in [t["name"] for t in people["consultant"].ready_tasks(case_id)]
    # Oversight extends the staff role only: the department's consultant does not see the agency's cases.
    assert people["department_consultant"].get(f"/cases/{case_id}").status_code == 404


def test_an_admin_hands_the_decision_to_overseeing_staff_and_the_refusal_names_the_unit(
    client, runtime, presets
):
    people = _people(client, runtime, "iwamizawa")
    case_id = _to_decision(people, "iwamizawa", ["employment_preparation"])
    tenant = tenant_row(runtime, "iwamizawa")
    elsewhere = make_org_unit(runtime, tenant, "somewhere-else", "他課", kind="department")
    outsider = make_user(
        runtime, tenant, email="outsider@iwamizawa.example", roles=["municipal_staff"], org_unit=elsewhere
    )
    admin = make_user(
        runtime, tenant, email="boss@iwamizawa.example", roles=["tenant_admin"], tenant_wide=True
    )
    task_id = uuid.UUID(people["staff"].task(case_id, "support_decision")["id"])
    with transaction(runtime.sessions, tenant.id) as session:
        from tsunagu.identity.auth import Principal
        from tsunagu.identity.models import User

        staff_user = session.execute(
            select(User).where(User.email == "municipal_staff-hogo@iwamizawa.example")
        ).scalar_one()
        access = load_access(session, admin.user.id)
        boss = Principal(
            user_id=admin.user.id,
            tenant_id=tenant.id,
            roles=access.roles,
            org_unit_ids=access.org_unit_ids,
            grants=access.grants,
        )
        with pytest.raises(ValidationFailed) as refused:
            assign_task(session, boss, task_id, outsider.user.id)
        # The role is held; the org unit is what is missing — and the message says so.
        assert "組織" in str(refused.value) and "not in this task's org unit" in str(refused.value)
        assigned = assign_task(session, boss, task_id, staff_user.id)
        assert assigned.assignee_id == staff_user.id


def test_presets_declare_the_oversight(runtime, presets):
    for slug, (agency, department) in PRESETS.items():
        tenant = tenant_row(runtime, slug)
        with transaction(runtime.sessions, tenant.id) as session:
            codes = dict(session.execute(select(OrgUnit.id, OrgUnit.code)).all())
            pairs = {
                (codes[o.overseer_id], codes[o.overseen_id])
                for o in session.execute(select(OrgUnitOversight)).scalars()
            }
        assert (department, agency) in pairs, slug


def test_notifications_for_the_agencys_unit_reach_the_overseeing_staff(client, runtime, presets):
    from tsunagu.identity.models import User
    from tsunagu.notifications.recipients import holders

    _people(client, runtime, "iwamizawa")
    tenant = tenant_row(runtime, "iwamizawa")
    wide = make_user(
        runtime, tenant, email="nowhere@iwamizawa.example", roles=["municipal_staff"], tenant_wide=True
    )
    with transaction(runtime.sessions, tenant.id) as session:
        units = {u.code: u.id for u in session.execute(select(OrgUnit)).scalars()}
        emails = dict(session.execute(select(User.id, User.email)).all())
        staff = {emails[u] for u in holders(session, "municipal_staff", units["jiritsu-soudan"])}
        consultants = {emails[u] for u in holders(session, "consultant", units["jiritsu-soudan"])}
    assert "municipal_staff-hogo@iwamizawa.example" in staff  # through oversight
    assert "municipal_staff-jiritsu-soudan@iwamizawa.example" in staff
    assert wide.user.email not in staff  # a staff role without an org unit reaches nobody's cases
    assert consultants == {"consultant-jiritsu-soudan@iwamizawa.example"}  # oversight is the staff role's
