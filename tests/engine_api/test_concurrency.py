"""Concurrent completions of one task on the real PostgreSQL: exactly one wins."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import select

from tests.engine_api.driver import Api, fill
from tests.support.api_errors import fields
from tsunagu.cases.models import CaseEvent
from tsunagu.core.session import transaction
from tsunagu.engine.models import ProcessInstance


def test_twenty_concurrent_completions_one_succeeds_the_rest_get_409(app, api, runtime, tenant, admin):
    case = api.start_case()
    (first,) = api.ready_tasks(case["id"])
    detail = api.get(f"/tasks/{first['id']}").get_json()
    data = fill(detail["form_schema"], {})
    with transaction(runtime.sessions, tenant.id) as session:
        version_before = session.get(
            ProcessInstance, (tenant.id, uuid.UUID(case["process_instance_id"]))
        ).version

    barrier = threading.Barrier(20)
    statuses: list[int] = []
    lock = threading.Lock()

    def complete() -> None:
        client = Api(app.test_client(), tenant.slug, admin.token)
        barrier.wait()
        response = client.post(f"/tasks/{first['id']}/complete", json={"data": data})
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=complete) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert sorted(statuses) == [200] + [409] * 19
    with transaction(runtime.sessions, tenant.id) as session:
        instance = session.get(ProcessInstance, (tenant.id, uuid.UUID(case["process_instance_id"])))
        assert instance.version == version_before + 1
        completions = (
            session.execute(
                select(CaseEvent).where(
                    CaseEvent.kind == "task_completed",
                    CaseEvent.task_id == uuid.UUID(first["id"]),
                )
            )
            .scalars()
            .all()
        )
        assert len(completions) == 1


def test_completing_a_task_twice_returns_conflict_and_changes_nothing(api):
    case = api.start_case()
    (first,) = api.ready_tasks(case["id"])
    detail = api.get(f"/tasks/{first['id']}").get_json()
    data = fill(detail["form_schema"], {})
    assert api.post(f"/tasks/{first['id']}/complete", json={"data": data}).status_code == 200
    history_before = api.case(case["id"])["history"]
    again = api.post(f"/tasks/{first['id']}/complete", json={"data": data})
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "task_completed"
    assert api.case(case["id"])["history"] == history_before


def test_a_task_claimed_by_another_user_cannot_be_completed(api, client, runtime, tenant):
    from tests.factories import make_user

    other = make_user(runtime, tenant, email="other@example.jp", roles=["consultant"])
    other_api = Api(client, tenant.slug, other.token)
    case = api.start_case()
    (first,) = api.ready_tasks(case["id"])
    assert api.post(f"/tasks/{first['id']}/claim").status_code == 200
    detail = api.get(f"/tasks/{first['id']}").get_json()
    response = other_api.post(
        f"/tasks/{first['id']}/complete", json={"data": fill(detail["form_schema"], {})}
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "task_claimed"
    assert other_api.post(f"/tasks/{first['id']}/claim").status_code == 409


def test_form_errors_answer_422_per_field_and_keep_the_task_ready(api):
    case = api.start_case()
    (first,) = api.ready_tasks(case["id"])
    response = api.post(f"/tasks/{first['id']}/complete", json={"data": {}})
    assert response.status_code == 422
    details = fields(response.get_json())
    assert details and all(isinstance(v, list) and v for v in details.values())
    assert any("必須" in m for msgs in details.values() for m in msgs)
    assert [t["id"] for t in api.ready_tasks(case["id"])] == [first["id"]]
