"""Guard: how many SQL statements one ``POST tasks/<id>/complete`` costs, authentication and tenant included."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event

from tests.engine_api.driver import Api, fill
from tests.factories import make_org_unit, make_tenant, make_user

#: Issue #11's target for one API completion: tenant resolution and binding, authentication, the locked
#: read of task, instance and case, and the writes (the task, the next task, the instance, the history).
MAX_STATEMENTS_PER_COMPLETION = 7
#: A step whose form declares statistics facts (issue #19) also reads the case's facts and writes its own.
STATISTICS_STATEMENTS = 2


@contextmanager
def counting(engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _executemany) -> None:
        statements.append(" ".join(statement.split())[:200])

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_one_api_completion_costs_at_most_seven_statements_plus_two_for_statistics(client, runtime):
    tenant = make_tenant(runtime, "count-test", settings={"workflow": {"meeting_process": "meeting_hybrid"}})
    ward = make_org_unit(runtime, tenant, "ward1", "第一区")
    # A consultant working in one ward: authentication has to find the ward (and the units below it).
    worker = make_user(runtime, tenant, email="c@example.jp", roles=["consultant"], org_unit=ward)
    api = Api(client, tenant.slug, worker.token)
    case = api.start_case(org_unit="ward1")
    # Starting the case loaded (and cached) the deployment and recorded the token's use.
    intake = api.task(case["id"], "intake")
    schema = api.get(f"/tasks/{intake['id']}").get_json()["form_schema"]
    data = fill(schema, {"screening_outcome": "continue"})

    with counting(runtime.engine) as statements:
        response = api.post(f"/tasks/{intake['id']}/complete", json={"data": data})
    assert response.status_code == 200, response.get_json()
    assert [t["name"] for t in api.ready_tasks(case["id"])] == ["consent"]
    # the intake form declares 新規相談受付 (and the screening outcomes): the projection's read and write
    assert len([s for s in statements if "report_fact" in s]) == STATISTICS_STATEMENTS, "\n".join(statements)
    assert len(statements) <= MAX_STATEMENTS_PER_COMPLETION + STATISTICS_STATEMENTS, "\n".join(statements)

    consent = api.task(case["id"], "consent")
    data = fill(api.get(f"/tasks/{consent['id']}").get_json()["form_schema"], {"consent_application": True})
    with counting(runtime.engine) as statements:
        response = api.post(f"/tasks/{consent['id']}/complete", json={"data": data})
    assert response.status_code == 200, response.get_json()
    # a step whose form declares no figure costs what it did before the statistics existed
    assert not [s for s in statements if "report_fact" in s]
    assert len(statements) <= MAX_STATEMENTS_PER_COMPLETION, "\n".join(statements)
