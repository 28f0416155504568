"""The per-process workflow cache: reused only when current, never after a failed command."""

from __future__ import annotations

import uuid

import pytest

from tests.engine_api.driver import fill
from tsunagu.core.session import transaction
from tsunagu.engine import cache, runner, spiff
from tsunagu.engine.models import ProcessInstance


def _intake(api, case_id: str) -> tuple[str, dict]:
    (task,) = api.ready_tasks(case_id)
    detail = api.get(f"/tasks/{task['id']}").get_json()
    return task["id"], fill(detail["form_schema"], {"screening_outcome": "continue"})


def test_the_next_command_reuses_the_workflow_this_process_saved(api):
    case = api.start_case()
    task_id, data = _intake(api, case["id"])
    before = spiff.deserialize_count()
    assert api.post(f"/tasks/{task_id}/complete", json={"data": data}).status_code == 200
    assert spiff.deserialize_count() == before  # start_case left it in the cache
    assert [t["name"] for t in api.ready_tasks(case["id"])] == ["consent"]


def test_a_change_by_another_writer_makes_the_cached_copy_stale(api, runtime, tenant):
    case = api.start_case()
    instance_id = uuid.UUID(case["process_instance_id"])
    with transaction(runtime.sessions, tenant.id) as session:
        # Another process writes the row (version 1 → 2) without going through this process's cache.
        instance = session.get(ProcessInstance, (tenant.id, instance_id))
        instance.serialized = instance.serialized + " "
    task_id, data = _intake(api, case["id"])
    before = spiff.deserialize_count()
    assert api.post(f"/tasks/{task_id}/complete", json={"data": data}).status_code == 200
    assert spiff.deserialize_count() == before + 1


def test_a_failed_command_leaves_nothing_in_the_cache(api, runtime, tenant):
    case = api.start_case()
    instance_id = uuid.UUID(case["process_instance_id"])
    task_id, data = _intake(api, case["id"])
    key = (tenant.id, instance_id, 1)
    assert key in cache.CACHE  # start_case committed version 1 and kept it
    with pytest.raises(RuntimeError):
        with transaction(runtime.sessions, tenant.id) as session:
            instance = session.get(ProcessInstance, (tenant.id, instance_id))
            workflow = runner.load(session, instance)  # taken out of the cache
            workflow.get_task_from_id(uuid.UUID(task_id)).set_data(screening_outcome="advice_only")
            runner.save(session, instance, workflow)
            raise RuntimeError("the command fails after changing the workflow")
    assert key not in cache.CACHE
    before = spiff.deserialize_count()
    assert api.post(f"/tasks/{task_id}/complete", json={"data": data}).status_code == 200
    assert spiff.deserialize_count() == before + 1  # read back from the row, not the half-changed copy
    assert [t["name"] for t in api.ready_tasks(case["id"])] == ["consent"]
