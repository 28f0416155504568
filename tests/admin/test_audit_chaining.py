"""Instance operations and definition deployments are chained into the audit trail (#16): one entry for each
``admin_operation`` row — a refused or failed one too, written beside the rolled-back request — and one for
each deployment; membership changes by an administrator are audited as well."""

from __future__ import annotations

from sqlalchemy import select

from tests.admin.definitions import FAILING, complete, deploy
from tsunagu.admin.models import AdminOperation
from tsunagu.audit import services as audit
from tsunagu.audit.models import AuditEntry
from tsunagu.core.session import transaction


def _entries(runtime, tenant, action):
    with transaction(runtime.sessions, tenant.id) as session:
        return list(
            session.execute(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
            ).scalars()
        )


def test_operations_and_deployments_are_chained(api, admin, runtime, tenant):
    version = deploy(api, FAILING)["version"]
    (deployed,) = _entries(runtime, tenant, "definition.deploy")
    assert deployed.details["version"] == version and deployed.actor_id == admin.user.id

    case = api.start_case()
    instance_id = case["process_instance_id"]
    assert complete(api, case["id"], "check", note="要支援").status_code == 422
    incident = api.get(f"/instances/{instance_id}").get_json()["incidents"][0]
    assert (
        api.post(f"/instances/{instance_id}/retry", json={"incident_id": incident["id"]}).status_code == 422
    )
    assert api.post(f"/instances/{instance_id}/suspend", json={"reason": "調査のため"}).status_code == 200

    with transaction(runtime.sessions, tenant.id) as session:
        rows = {str(r.id): r for r in session.execute(select(AdminOperation)).scalars()}
    chained = _entries(runtime, tenant, "instance.operation")
    assert sorted(e.details["admin_operation_id"] for e in chained) == sorted(rows)
    assert sorted((e.details["operation"], e.details["outcome"]) for e in chained) == [
        ("retry", "failed"),
        ("suspend", "ok"),
    ]
    assert all(e.target_id == instance_id and str(e.case_id) == case["id"] for e in chained)
    assert audit.verify_as_owner(runtime, tenant.id).ok


def test_a_membership_change_is_audited(api, admin, runtime, tenant):
    from tests.factories import make_user

    other = make_user(runtime, tenant, "member@example.jp", ["consultant"], tenant_wide=False)
    response = api.client.put(
        f"/t/{tenant.slug}/api/v1/users/{other.user.id}/memberships",
        headers=api.headers,
        json={"memberships": [{"org_unit": None, "roles": ["auditor"]}]},
    )
    assert response.status_code == 200, response.get_json()
    (change,) = _entries(runtime, tenant, "admin.change")
    assert change.details["change"] == "memberships" and change.details["user"] == str(other.user.id)
    assert change.actor_id == admin.user.id
