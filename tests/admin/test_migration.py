"""Migration of running instances to a newer version (issue #18, done-when 4), through the JSON API."""

from __future__ import annotations

from sqlalchemy import select

from tests.admin.definitions import V_N, V_N1, complete, deploy, instance_row
from tests.support.api_errors import facts
from tsunagu.admin.models import AdminOperation
from tsunagu.core.session import transaction


def test_dry_run_says_which_of_20_cases_can_move_and_bulk_moves_exactly_those(api, runtime, tenant):
    version_n = deploy(api, V_N)["version"]
    cases = [api.start_case() for _ in range(20)]
    # eight cases go on to 二次確認 (removed in N+1): they cannot move; twelve wait at 確認: they can
    for case in cases[:8]:
        assert complete(api, case["id"], "check").status_code == 200
    at_second, at_check = cases[:8], cases[8:]
    version_n1 = deploy(api, V_N1, "二次確認を審査に置き換え")["version"]
    assert version_n1 == version_n + 1
    before = {c["id"]: instance_row(runtime, tenant, c["process_instance_id"]) for c in cases}

    dry = api.post("/migrations/dry-run", json={"target_version": version_n1, "from_version": version_n})
    assert dry.status_code == 200, dry.get_json()
    report = dry.get_json()
    by_instance = {item["instance_id"]: item for item in report["items"]}
    assert len(by_instance) == 20 and report["movable"] == 12 and report["blocked"] == 8
    for case in at_check:
        item = by_instance[case["process_instance_id"]]
        assert item["movable"] and item["reasons"] == [] and item["active"] == ["check"]
    for case in at_second:
        item = by_instance[case["process_instance_id"]]
        assert not item["movable"]
        (reason,) = item["reasons"]
        assert reason["code"] == "task_replaced" and reason["element"] == "second"
        assert "二次確認" in reason["message"] and "replaced by 'review'" in reason["message"]
    # the dry run changed nothing
    for case in cases:
        row = instance_row(runtime, tenant, case["process_instance_id"])
        assert (row.version, row.deployment_id) == (
            before[case["id"]].version,
            before[case["id"]].deployment_id,
        )

    movable = [
        {"id": item["instance_id"], "expected_version": item["instance_version"]}
        for item in report["items"]
        if item["movable"]
    ]
    run = api.post(
        "/migrations",
        json={"target_version": version_n1, "reason": "二次確認の廃止", "instances": movable},
    )
    assert run.status_code == 200, run.get_json()
    assert sorted(run.get_json()["migrated"]) == sorted(c["process_instance_id"] for c in at_check)
    assert run.get_json()["skipped"] == []

    listed = api.get(f"/instances?version={version_n1}&state=running").get_json()
    assert {i["id"] for i in listed["items"]} == {c["process_instance_id"] for c in at_check}
    # the moved ones complete on N+1 (確認 → 審査 → end); the others are untouched and finish on N
    for case in at_check:
        assert complete(api, case["id"], "check").status_code == 200
        assert complete(api, case["id"], "review").status_code == 200
        assert api.case(case["id"])["status"] == "closed"
    for case in at_second:
        row = instance_row(runtime, tenant, case["process_instance_id"])
        assert (row.version, row.deployment_id) == (
            before[case["id"]].version,
            before[case["id"]].deployment_id,
        )
        assert [t["name"] for t in api.ready_tasks(case["id"])] == ["second"]
        assert complete(api, case["id"], "second").status_code == 200
        assert api.case(case["id"])["status"] == "closed"
    with transaction(runtime.sessions, tenant.id) as session:
        dry_runs = session.execute(
            select(AdminOperation).where(AdminOperation.action == "migrate_dry_run")
        ).scalars()
        assert [(d.details["movable"], d.details["blocked"]) for d in dry_runs] == [(12, 8)]
        ops = (
            session.execute(select(AdminOperation).where(AdminOperation.action == "migrate")).scalars().all()
        )
        assert (
            len(ops) == 12 and {o.action for o in ops} == {"migrate"} and {o.outcome for o in ops} == {"ok"}
        )
        assert all(o.reason == "二次確認の廃止" and o.actor_id is not None for o in ops)


def test_an_instance_that_changed_since_the_dry_run_is_left_alone(api, runtime, tenant):
    deploy(api, V_N)
    case = api.start_case()
    version_n1 = deploy(api, V_N1)["version"]
    (item,) = api.post("/migrations/dry-run", json={"target_version": version_n1}).get_json()["items"]
    assert item["movable"]
    assert complete(api, case["id"], "check").status_code == 200  # it moved on meanwhile (to 二次確認)
    run = api.post(
        "/migrations",
        json={
            "target_version": version_n1,
            "reason": "移行",
            "instances": [{"id": item["instance_id"], "expected_version": item["instance_version"]}],
        },
    ).get_json()
    assert run["migrated"] == []
    assert run["skipped"][0]["code"] == "changed_since_dry_run"
    assert [t["name"] for t in api.ready_tasks(case["id"])] == ["second"]
    one = api.post(
        f"/instances/{item['instance_id']}/migrate", json={"target_version": version_n1, "reason": "再試行"}
    )
    assert one.status_code == 409
    assert facts(one.get_json())["reasons"][0]["code"] == "task_replaced"
    with transaction(runtime.sessions, tenant.id) as session:
        migrations = select(AdminOperation).where(AdminOperation.action == "migrate")
        outcomes = sorted(o.outcome for o in session.execute(migrations).scalars())
        assert outcomes == ["refused", "refused"]


def test_the_diff_of_two_versions_lists_added_removed_and_changed_elements(api):
    version_n = deploy(api, V_N)["version"]
    version_n1 = deploy(api, V_N1)["version"]
    diff = api.get(f"/definitions/{version_n}/diff/{version_n1}").get_json()
    assert {d["element"] for d in diff["removed"]} == {"second"}
    assert {d["element"] for d in diff["added"]} >= {"review"}
    assert api.get(f"/definitions/{version_n}/diff/999").status_code == 404


def test_migration_input_errors_are_clear_4xx(api):
    deploy(api, V_N)
    assert api.post("/migrations/dry-run", json={}).status_code == 422
    assert api.post("/migrations/dry-run", json={"target_version": "x"}).status_code == 422
    assert api.post("/migrations/dry-run", json={"target_version": 99}).status_code == 404
    assert (
        api.post("/migrations", json={"target_version": 1, "reason": "x", "instances": []}).status_code == 422
    )
    assert api.post("/migrations", json={"target_version": 1, "instances": [{"id": "x"}]}).status_code == 422
    assert api.post("/migrations", data="[", content_type="application/json").status_code in (400, 422)
    assert api.post("/migrations/dry-run", json=[1, 2]).status_code == 422
    assert api.post("/migrations/dry-run", json={"target_version": 1, "instance_ids": "x"}).status_code == 422
    assert (
        api.post("/migrations/dry-run", json={"target_version": 1, "instance_ids": ["x"]}).status_code == 422
    )
    assert api.post("/migrations/dry-run", json={"target_version": True}).status_code == 422
    assert api.post("/migrations/dry-run", json={"target_version": 10**12}).status_code == 422
    case = api.start_case()
    path = f"/instances/{case['process_instance_id']}"
    assert api.post(f"{path}/suspend", json={"reason": "あ" * 1001}).status_code == 422
    assert api.post(f"{path}/suspend", json={"reason": 5}).status_code == 422
    assert api.post(f"{path}/migrate", json={"reason": "x"}).status_code == 422
    assert api.post(f"{path}/retry", json={}).status_code == 404  # no open incident
    assert api.post(f"{path}/retry", json={"incident_id": "nope"}).status_code == 422
    assert api.get("/instances?version=abc").status_code == 422
    assert api.get("/instances?incident=maybe").status_code == 422


def test_a_waiting_timer_keeps_its_due_time_when_its_instance_moves(api, runtime, tenant):
    from datetime import timedelta

    from tests.engine_api.test_advance_policy import PARALLEL
    from tsunagu.cases.services import fire_due_timers
    from tsunagu.core.db import utcnow
    from tsunagu.engine.models import Timer

    deploy(api, PARALLEL)
    case = api.start_case()
    with transaction(runtime.sessions, tenant.id) as session:
        (timer,) = session.execute(select(Timer)).scalars().all()
        due = timer.due_at
    renamed = PARALLEL.replace('id="reminder" name="催促"', 'id="reminder" name="電話で催促"')
    assert renamed != PARALLEL
    version = deploy(api, renamed)["version"]
    (item,) = api.post("/migrations/dry-run", json={"target_version": version}).get_json()["items"]
    assert item["movable"] and item["active"] == ["reminder_due", "work"], item
    moved = api.post(
        f"/instances/{case['process_instance_id']}/migrate",
        json={"target_version": version, "reason": "名称変更", "expected_version": item["instance_version"]},
    )
    assert moved.status_code == 200, moved.get_json()
    with transaction(runtime.sessions, tenant.id) as session:
        (timer,) = session.execute(select(Timer)).scalars().all()
        assert timer.due_at == due and timer.fired_at is None and timer.claimed_at is None
    assert fire_due_timers(runtime, now=utcnow() + timedelta(minutes=30)) == 0  # not due before its time
    assert fire_due_timers(runtime, now=utcnow() + timedelta(hours=2)) == 1
    titles = sorted(t["title"] for t in api.ready_tasks(case["id"]))
    assert titles == ["作業", "電話で催促"]  # the step after the timer comes from the new version


def test_casework_cases_in_delivery_and_before_the_meeting_move_to_a_redeployed_library(api, runtime, tenant):
    """The real casework process with its meeting call activity and delivery subprocess: a redeployed library
    with a renamed later step moves every running case, and they carry on."""
    import io

    from tests.conftest import REPO_ROOT
    from tests.engine_api.driver import drive_to_monitoring
    from tsunagu.engine.services import read_library

    in_delivery = api.start_case()
    drive_to_monitoring(api, in_delivery["id"])
    at_assessment = api.start_case()
    api.complete(at_assessment["id"], "intake", screening_outcome="continue")
    api.complete(at_assessment["id"], "consent", consent_application=True)
    files = read_library(REPO_ROOT / "workflows")
    files["casework/casework.bpmn"] = files["casework/casework.bpmn"].replace(
        'id="follow_up_task" name="フォローアップ"', 'id="follow_up_task" name="フォローアップ（電話）"'
    )
    response = api.post(
        "/definitions",
        data={"files": [(io.BytesIO(t.encode("utf-8")), n) for n, t in files.items()], "note": "名称変更"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_json()
    version = response.get_json()["version"]
    report = api.post("/migrations/dry-run", json={"target_version": version}).get_json()
    assert report["blocked"] == 0 and report["movable"] == 2, report
    run = api.post(
        "/migrations",
        json={
            "target_version": version,
            "reason": "名称変更",
            "instances": [
                {"id": i["instance_id"], "expected_version": i["instance_version"]} for i in report["items"]
            ],
        },
    ).get_json()
    assert len(run["migrated"]) == 2 and run["skipped"] == []
    api.complete(at_assessment["id"], "assessment", emergency_support=False, urgency="high")
    assert [t["name"] for t in api.ready_tasks(at_assessment["id"])] == ["plan_draft"]
    detail = api.get(f"/instances/{in_delivery['process_instance_id']}").get_json()
    assert detail["version"] == version and detail["status"] == "running"
    from datetime import timedelta

    from tsunagu.cases.services import fire_due_timers
    from tsunagu.core.db import utcnow

    assert fire_due_timers(runtime, now=utcnow() + timedelta(days=40)) >= 1  # monitoring is due on N+1 too
    assert "monitoring" in [t["name"] for t in api.ready_tasks(in_delivery["id"])]
