"""Listing 10,000 ready tasks reads the HumanTask projection only: no workflow is deserialized."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import insert

from tsunagu.cases.models import HumanTask
from tsunagu.core.db import utcnow
from tsunagu.core.session import transaction
from tsunagu.engine import spiff


def test_listing_ten_thousand_ready_tasks_never_deserializes(api, runtime, tenant):
    case = api.start_case()  # one real instance for the rows to belong to
    instance_id = uuid.UUID(case["process_instance_id"])
    now = utcnow()
    rows = [
        {
            "tenant_id": tenant.id,
            "id": uuid.uuid4(),
            "process_instance_id": instance_id,
            "case_id": uuid.UUID(case["id"]),
            "element": "intake",
            "title": f"相談受付 {n}",
            "lane": "相談支援員",
            "role": "consultant",
            "candidate_roles": ["consultant"],
            "form_key": "intake",
            "state": "ready",
            "priority": 0,
            "due_at": now + timedelta(minutes=n),
            "person_name": "山田",
            "person_kana": "ヤマダ",
            "created_at": now,
            "updated_at": now,
        }
        for n in range(10_000)
    ]
    with transaction(runtime.sessions, tenant.id) as session:
        session.execute(insert(HumanTask), rows)

    before = spiff.deserialize_count()
    seen = 0
    offset = 0
    while True:
        page = api.get(f"/tasks?scope=all&state=ready&limit=500&offset={offset}")
        assert page.status_code == 200
        items = page.get_json()
        if not items:
            break
        seen += len(items)
        offset += len(items)
    assert seen == 10_001
    assert spiff.deserialize_count() == before
