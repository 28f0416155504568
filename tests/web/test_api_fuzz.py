"""Schemathesis over the generated OpenAPI document: every operation, a bounded number of examples each, as
tenant A's administrator — with generated ids and with tenant B's real ids. No 5xx, every response conforms
to the document (status, content type, headers, body schema), and tenant B's objects are never found.

Bounded for ``make test``: ``TSUNAGU_FUZZ_EXAMPLES`` examples per operation (default 8). The figures of the
last run are printed at the end of the session (``-s`` shows them) and quoted in the README.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks as st_checks

from tests.factories import make_org_unit, make_tenant, make_user

EXAMPLES = int(os.environ.get("TSUNAGU_FUZZ_EXAMPLES", "8"))
FIGURES: Counter[str] = Counter()
PERSON = {"name": "他区 太郎", "name_kana": "タク タロウ", "birth_date": "1970-01-01"}


@pytest.fixture
def fuzz_world(app, runtime) -> dict[str, Any]:
    alpha = make_tenant(runtime, "fuzz-a")
    beta = make_tenant(runtime, "fuzz-b")
    make_org_unit(runtime, alpha, "a-ward", "あ区")
    b_unit = make_org_unit(runtime, beta, "b-ward", "べ区")
    admin_a = make_user(runtime, alpha, email="admin@a.example", roles=["tenant_admin"])
    admin_b = make_user(runtime, beta, email="admin@b.example", roles=["tenant_admin"])
    client = app.test_client()
    auth_b = {"Authorization": f"Bearer {admin_b.token}"}
    client.post(
        "/t/fuzz-a/api/v1/cases",
        json={"person": PERSON},
        headers={"Authorization": f"Bearer {admin_a.token}"},
    )
    case_b = client.post("/t/fuzz-b/api/v1/cases", json={"person": PERSON}, headers=auth_b).get_json()
    task_b = client.get("/t/fuzz-b/api/v1/tasks?scope=all", headers=auth_b).get_json()[0]
    view_b = client.post("/t/fuzz-b/api/v1/views", json={"name": "B の一覧"}, headers=auth_b).get_json()
    return {
        "token": admin_a.token,
        "b_ids": {
            "case_id": case_b["id"],
            "task_id": task_b["id"],
            "unit_id": str(b_unit.id),
            "view_id": view_b["id"],
            "notification_id": case_b["id"],
        },
    }


#: The checks run on every response: no server error, and conformance to the document.
CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
]


def _exercise(case: Any, fuzz_world: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {fuzz_world['token']}"}
    response = case.call_and_validate(headers=headers, checks=CHECKS)
    FIGURES["requests"] += 1
    FIGURES[f"status {response.status_code // 100}xx"] += 1
    foreign = {k: v for k, v in fuzz_world["b_ids"].items() if k in (case.path_parameters or {})}
    if foreign:  # the same request with tenant B's ids: never found, and still as documented
        case.path_parameters = {**case.path_parameters, **foreign}
        response = case.call_and_validate(headers=headers, checks=CHECKS)
        FIGURES["requests"] += 1
        FIGURES["with tenant B's ids"] += 1
        FIGURES[f"status {response.status_code // 100}xx"] += 1
        assert response.status_code in (400, 404, 405, 409, 412, 413, 415, 422), (
            case.method,
            case.path,
            response.status_code,
        )


def test_every_operation_conforms_and_never_errors(app, fuzz_world):
    # schemathesis' own pytest plugin (``from_fixture``) does not run on pytest 9, so each operation's
    # strategy is driven here by Hypothesis directly: the same generation and the same checks.
    schema = schemathesis.openapi.from_wsgi("/t/fuzz-a/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            _exercise(case, fuzz_world)

        run()
        FIGURES["operations"] += 1


def test_zz_fuzz_figures():
    """Prints the figures of this run (requests, statuses) for the README."""
    print("\nschemathesis figures:", dict(FIGURES))
    if FIGURES:
        assert FIGURES["status 5xx"] == 0
