"""The demo's SQLite (a real database file, as ``make demo`` runs it): two tabs submit the same task at the same
moment — one succeeds, the other gets the 409 page in Japanese with everything typed still in the form; never
Werkzeug's raw "Internal Server Error" (issue #17)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import make_settings
from tests.engine_api.driver import fill
from tests.factories import make_org_unit, make_tenant
from tests.support.oidc import app_with_idp_secret, configure_tenant_idp, csrf_from, sign_in
from tests.web.conftest import DOMAIN, make_staff
from tsunagu.cases.models import CaseEvent, HumanTask
from tsunagu.core.migrate import upgrade
from tsunagu.core.runtime import Runtime
from tsunagu.core.session import transaction

DETAIL = "二つのタブから同時に送信した相談内容"


@pytest.fixture
def demo_runtime(tmp_path: Path) -> Iterator[Runtime]:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    settings = make_settings(database_url=url, migration_database_url=url, redis_url=None)
    upgrade(settings)  # the whole chain, as `tsunagu dev` runs it
    runtime = Runtime.from_settings(settings)
    yield runtime
    runtime.dispose()


def _form_data(schema: dict[str, Any]) -> dict[str, Any]:
    """The intake form as the browser posts it (checklists as repeated fields, checkboxes as ``true``)."""
    data = fill(schema, {"screening_outcome": "continue", "consultation_detail": DETAIL})
    posted: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, bool):
            if value:
                posted[key] = "true"
        elif isinstance(value, list):
            posted[key] = [str(v) for v in value]
        else:
            posted[key] = str(value)
    return posted


def test_two_simultaneous_submissions_on_sqlite_give_one_success_and_one_409_page(demo_runtime, web_provider):
    from tsunagu.cases.services import PersonInput, start_case
    from tsunagu.engine.services import form_schema, get_instance
    from tsunagu.tenancy.models import Tenant

    tenant = make_tenant(demo_runtime, "demo-city")
    make_org_unit(demo_runtime, tenant, "ward1", "第一区")
    configure_tenant_idp(demo_runtime, tenant, web_provider.issuer, allowed_email_domains=[DOMAIN])
    staff = make_staff(demo_runtime, tenant, f"tabs@{DOMAIN}", "佐藤 美咲", ["consultant"])
    app = app_with_idp_secret(demo_runtime)
    with transaction(demo_runtime.sessions, tenant.id) as session:
        case = start_case(
            session,
            session.get(Tenant, tenant.id),
            demo_runtime.settings.workflows_dir,
            PersonInput(name="山田 花子", name_kana="ヤマダ ハナコ", birth_date=None),
            org_unit_code="ward1",
        )
        task = session.execute(select(HumanTask).where(HumanTask.case_id == case.id)).scalar_one()
        instance = get_instance(session, task.process_instance_id)
        schema = form_schema(session, instance.deployment_id, task.form_key)
        task_id = task.id
    path = f"/t/{tenant.slug}/tasks/{task_id}"
    form = _form_data(schema)

    tabs = []
    for _ in range(2):  # two tabs: two sessions of the same consultant, each with its page open
        client = app.test_client()
        sign_in(client, "", tenant.slug, staff.email, claims={"name": staff.name, "roles": staff.roles})
        page = client.get(path)
        assert page.status_code == 200
        tabs.append((client, csrf_from(page.get_data(as_text=True))))

    barrier = threading.Barrier(2)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def submit(client: Any, csrf: str) -> None:
        barrier.wait()
        response = client.post(path, data={**form, "csrf_token": csrf, "action": "complete"})
        with lock:
            answers.append((response.status_code, response.get_data(as_text=True)))

    threads = [threading.Thread(target=submit, args=tab) for tab in tabs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    statuses = sorted(status for status, _ in answers)
    assert statuses == [302, 409], [(s, body[:300]) for s, body in answers]
    (conflict_page,) = [body for status, body in answers if status == 409]
    assert "Internal Server Error" not in conflict_page
    assert "入力中に、このタスクは他の担当者によって完了されました。" in conflict_page
    assert DETAIL in conflict_page  # the typed text is still in the form
    assert 'id="conflict"' in conflict_page
    with transaction(demo_runtime.sessions, tenant.id) as session:
        completions = session.execute(
            select(func.count()).select_from(CaseEvent).where(CaseEvent.kind == "task_completed")
        ).scalar()
        assert completions == 1
