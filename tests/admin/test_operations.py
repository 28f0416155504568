"""Instance operations through the JSON API: incidents and retry (done-when 5), suspend / resume / terminate
with a reason, the record of every operation, permissions, and tenant isolation of the record."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from tests.admin.definitions import FAILING, FIXED, V_N, complete, deploy, instance_row
from tests.engine_api.driver import Api
from tests.factories import make_tenant, make_user
from tsunagu.admin.models import AdminOperation
from tsunagu.cases.services import fire_due_timers
from tsunagu.core.db import utcnow
from tsunagu.core.session import transaction
from tsunagu.engine.models import Incident, Timer


def test_a_failing_condition_is_an_incident_and_after_fix_migrate_and_retry_the_case_continues(
    api, runtime, tenant
):
    version_n = deploy(api, FAILING)["version"]
    case = api.start_case()
    instance_id = case["process_instance_id"]
    failed = complete(api, case["id"], "check", note="要支援")
    assert failed.status_code == 422 and failed.get_json()["error"]["code"] == "workflow_error"

    listed = api.get("/instances?incident=open").get_json()
    assert [i["id"] for i in listed["items"]] == [instance_id] and listed["items"][0]["open_incidents"] == 1
    detail = api.get(f"/instances/{instance_id}").get_json()
    (incident,) = detail["incidents"]
    assert incident["element"] == "gw_score" and "risk_score" in incident["message"]
    assert detail["position"] == ["check"] and detail["variables"] is not None

    # retrying without a fix fails again: a new incident takes the old one's place, the case is unchanged
    again = api.post(f"/instances/{instance_id}/retry", json={"incident_id": incident["id"]})
    assert again.status_code == 422
    detail = api.get(f"/instances/{instance_id}").get_json()
    open_incidents = [i for i in detail["incidents"] if i["resolved_at"] is None]
    assert len(open_incidents) == 1 and open_incidents[0]["id"] != incident["id"]
    assert [o["outcome"] for o in detail["operations"]] == ["failed"]

    # the administrator fixes the condition, deploys N+1, migrates the instance and retries
    version_n1 = deploy(api, FIXED, "点数ではなく記録で分岐")["version"]
    (row,) = api.post("/migrations/dry-run", json={"target_version": version_n1}).get_json()["items"]
    assert row["movable"], row
    moved = api.post(
        f"/instances/{instance_id}/migrate",
        json={
            "target_version": version_n1,
            "reason": "条件の修正",
            "expected_version": row["instance_version"],
        },
    )
    assert moved.status_code == 200, moved.get_json()
    retried = api.post(f"/instances/{instance_id}/retry", json={"reason": "修正後の再実行"})
    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json()["result"] == "completed"

    assert [t["name"] for t in api.ready_tasks(case["id"])] == ["intensive"]  # routed by the fixed rule
    detail = api.get(f"/instances/{instance_id}").get_json()
    assert detail["version"] == version_n1 != version_n
    assert all(i["resolved_at"] for i in detail["incidents"])
    assert [o["action"] for o in detail["operations"]] == ["retry", "migrate", "retry"]
    assert [o["outcome"] for o in detail["operations"]] == ["ok", "ok", "failed"]
    history = api.case(case["id"])["history"]
    assert [h["kind"] for h in history][-2:] == ["migrated", "task_completed"]
    assert complete(api, case["id"], "intensive").status_code == 200
    assert api.case(case["id"])["status"] == "closed"


def test_a_suspended_instance_refuses_completion_and_its_timers_do_not_fire(api, runtime, tenant):
    from tests.engine_api.test_advance_policy import PARALLEL

    deploy(api, PARALLEL)
    case = api.start_case()
    instance_id = case["process_instance_id"]
    work = api.task(case["id"], "work")

    assert api.post(f"/instances/{instance_id}/suspend", json={}).status_code == 422  # a reason is required
    assert api.post(f"/instances/{instance_id}/suspend", json={"reason": "  "}).status_code == 422
    suspended = api.post(f"/instances/{instance_id}/suspend", json={"reason": "本人から一時中断の申出"})
    assert suspended.status_code == 200 and suspended.get_json()["timers_parked"] == 1

    refused = api.post(f"/tasks/{work['id']}/complete", json={"data": {"note": "x"}})
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "instance_suspended"
    assert "一時停止" in refused.get_json()["error"]["message"]
    assert fire_due_timers(runtime, now=utcnow() + timedelta(hours=2)) == 0
    assert [t["name"] for t in api.ready_tasks(case["id"])] == ["work"]
    assert api.post(f"/instances/{instance_id}/suspend", json={"reason": "二度目"}).status_code == 409

    resumed = api.post(f"/instances/{instance_id}/resume", json={"reason": "再開の申出"})
    assert resumed.status_code == 200 and resumed.get_json()["timers_released"] == 1
    assert fire_due_timers(runtime, now=utcnow() + timedelta(hours=2)) == 1
    assert sorted(t["name"] for t in api.ready_tasks(case["id"])) == ["reminder", "work"]
    assert api.post(f"/tasks/{work['id']}/complete", json={"data": {"note": "x"}}).status_code == 200
    with transaction(runtime.sessions, tenant.id) as session:
        ops = session.execute(select(AdminOperation).order_by(AdminOperation.at)).scalars().all()
        assert [(o.action, o.outcome) for o in ops] == [
            ("suspend", "ok"),
            ("suspend", "refused"),
            ("resume", "ok"),
        ]
        assert ops[0].reason == "本人から一時中断の申出" and ops[0].actor_id is not None


def test_terminate_cancels_the_open_tasks_and_timers_and_closes_the_case(api, runtime, tenant):
    from tests.engine_api.test_advance_policy import PARALLEL

    deploy(api, PARALLEL)
    case = api.start_case()
    instance_id = case["process_instance_id"]
    response = api.post(f"/instances/{instance_id}/terminate", json={"reason": "重複登録のため"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"status": "terminated", "tasks_cancelled": 1}
    assert api.ready_tasks(case["id"]) == []
    detail = api.case(case["id"])
    assert detail["status"] == "closed" and detail["outcome"] == "terminated"
    assert instance_row(runtime, tenant, instance_id).status == "terminated"
    with transaction(runtime.sessions, tenant.id) as session:
        (timer,) = session.execute(select(Timer)).scalars().all()
        assert timer.cancelled_at is not None
    assert fire_due_timers(runtime, now=utcnow() + timedelta(hours=2)) == 0
    assert api.post(f"/instances/{instance_id}/resume", json={"reason": "x"}).status_code == 409
    assert api.get("/instances?state=terminated").get_json()["total"] == 1


def test_auditors_read_without_variables_and_cannot_operate_others_get_403(client, api, runtime, tenant):
    deploy(api, V_N)
    case = api.start_case()
    instance_id = case["process_instance_id"]
    auditor = Api(
        client, tenant.slug, make_user(runtime, tenant, email="a@example.jp", roles=["auditor"]).token
    )
    consultant = Api(
        client, tenant.slug, make_user(runtime, tenant, email="c@example.jp", roles=["consultant"]).token
    )
    detail = auditor.get(f"/instances/{instance_id}")
    assert detail.status_code == 200 and "variables" not in detail.get_json()
    assert auditor.get("/instances").status_code == 200
    assert auditor.post(f"/instances/{instance_id}/suspend", json={"reason": "x"}).status_code == 403
    assert (
        auditor.post("/migrations", json={"target_version": 1, "reason": "x", "instances": []}).status_code
        == 403
    )
    assert consultant.get("/instances").status_code == 403
    assert consultant.get(f"/instances/{instance_id}").status_code == 403
    assert consultant.post(f"/instances/{instance_id}/terminate", json={"reason": "x"}).status_code == 403
    assert api.get(f"/instances/{uuid.uuid4()}").status_code == 404
    assert api.get("/instances/not-an-id").status_code in (400, 404)
    assert api.get("/instances?state=bogus").status_code == 422
    assert instance_row(runtime, tenant, instance_id).status == "running"


def test_another_tenant_sees_neither_the_instances_nor_the_operation_records(client, api, runtime, tenant):
    deploy(api, V_N)
    case = api.start_case()
    instance_id = case["process_instance_id"]
    assert api.post(f"/instances/{instance_id}/suspend", json={"reason": "確認のため"}).status_code == 200
    other = make_tenant(runtime, "yokohama-test")
    other_admin = make_user(runtime, other, email="admin@yokohama.example.jp", roles=["tenant_admin"])
    theirs = Api(client, other.slug, other_admin.token)
    assert theirs.get(f"/instances/{instance_id}").status_code == 404
    assert theirs.get("/instances").get_json()["total"] == 0
    assert theirs.post(f"/instances/{instance_id}/resume", json={"reason": "x"}).status_code == 404
    with transaction(runtime.sessions, other.id) as session:
        assert session.execute(select(AdminOperation)).scalars().all() == []  # ORM criteria and RLS
        assert session.execute(select(Incident)).scalars().all() == []
    with runtime.engine.connect() as conn:  # RLS alone: a raw query bound to the other tenant
        from sqlalchemy import text

        conn.execute(text("SELECT set_config('app.tenant_id', :t, false)"), {"t": str(other.id)})
        assert conn.execute(text("SELECT count(*) FROM admin_operation")).scalar_one() == 0
        conn.execute(text("SELECT set_config('app.tenant_id', :t, false)"), {"t": str(tenant.id)})
        assert conn.execute(text("SELECT count(*) FROM admin_operation")).scalar_one() == 1
        conn.execute(text("SELECT set_config('app.tenant_id', '', false)"))
