"""Platform operators: their own provider and allowlist; tenants and health; never case data."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, select

from tests.factories import tenant_row
from tests.support.oidc import app_with_idp_secret, authorize_at_provider, csrf_from, register_user
from tsunagu.core.session import transaction
from tsunagu.identity.models import Membership, User


def case_tables() -> set[str]:
    """Every table of the case-holding modules (cases, engine, inbox)."""
    from tsunagu.core.db import Base

    modules = ("tsunagu.cases.", "tsunagu.engine.", "tsunagu.inbox.")
    return {m.local_table.name for m in Base.registry.mappers if m.class_.__module__.startswith(modules)}


@pytest.fixture
def operator_app(runtime, oidc_provider):
    return app_with_idp_secret(
        runtime,
        operator_issuer=oidc_provider.issuer,
        operator_client_id="tsunagu-operators",
        operator_client_secret="operator-secret",
        operator_emails=frozenset({"ops@platform.example"}),
    )


def _operator_sign_in(client, email: str):
    start = client.get("/operator/auth/start")
    assert start.status_code == 302
    register_user(start.headers["Location"].split("/oauth2/")[0], email, {"email": email})
    return client.get(authorize_at_provider(start.headers["Location"], email))


def test_operator_pages_are_absent_without_configuration(idp_client):
    assert idp_client.get("/operator/").status_code == 404
    assert idp_client.get("/operator/login").status_code == 404


def test_only_listed_operators_get_in(operator_app):
    client = operator_app.test_client()
    assert client.get("/operator/").headers["Location"] == "/operator/login"
    refused = _operator_sign_in(client, "someone@platform.example")
    assert refused.status_code == 403 and 'data-code="not_an_operator"' in refused.get_data(as_text=True)
    assert client.get("/operator/").status_code == 302
    welcomed = _operator_sign_in(client, "ops@platform.example")
    assert welcomed.status_code == 302 and welcomed.headers["Location"] == "/operator/"
    assert client.get("/operator/").status_code == 200


def test_operators_create_tenants_without_touching_case_data(operator_app, runtime):
    client = operator_app.test_client()
    _operator_sign_in(client, "ops@platform.example")
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement.lower())

    event.listen(runtime.engine, "before_cursor_execute", record)
    try:
        page = client.get("/operator/")
        token = csrf_from(page.get_data(as_text=True))
        bad = client.post(
            "/operator/tenants", data={"csrf_token": token, "slug": "X!", "name": "", "name_kana": "abc"}
        )
        assert bad.status_code == 422
        created = client.post(
            "/operator/tenants",
            data={
                "csrf_token": token,
                "slug": "shinmachi",
                "name": "新町",
                "name_kana": "シンマチ",
                "name_en": "Shinmachi",
                "prefecture_code": "13",
                "population": "12000",
                "admin_email": "Chief@Shinmachi.example",
            },
        )
        assert created.status_code == 302
        listing = client.get("/operator/").get_data(as_text=True)
        assert "新町" in listing
        # Status changes are the owner's: the page names the command instead of offering a button.
        assert "tsunagu tenants suspend shinmachi" in listing
        taken = client.post(
            "/operator/tenants",
            data={
                "csrf_token": token,
                "slug": "shinmachi",
                "name": "新町",
                "name_kana": "シンマチ",
                "prefecture_code": "13",
                "population": "1",
            },
        )
        assert taken.status_code == 422 and "already taken" in taken.get_data(as_text=True)
        assert client.get("/t/shinmachi/").status_code == 200
        assert client.get("/operator/health").status_code == 200
    finally:
        event.remove(runtime.engine, "before_cursor_execute", record)
    tables = case_tables()
    assert {"support_case", "person", "human_task", "process_instance"} <= tables
    pattern = re.compile(r"\b(" + "|".join(sorted(tables)) + r")\b")
    assert statements and [s for s in statements if pattern.search(s)] == []
    tenant = tenant_row(runtime, "shinmachi")
    assert tenant.status == "active" and tenant.settings == {}
    with transaction(runtime.sessions, tenant.id) as session:
        chief = session.execute(select(User)).scalar_one()
        assert chief.email == "chief@shinmachi.example"
        assert session.execute(select(Membership.roles)).scalar_one() == ["tenant_admin"]


def test_operator_forms_need_the_csrf_token(operator_app):
    client = operator_app.test_client()
    _operator_sign_in(client, "ops@platform.example")
    assert client.post("/operator/tenants", data={"slug": "nocsrf"}).status_code == 400


def test_the_operator_page_counts_background_work_and_dead_letters(operator_app, runtime):
    from tests.factories import make_tenant
    from tsunagu.core.db import utcnow
    from tsunagu.core.outbox import PING_TOPIC, enqueue

    tenants = [make_tenant(runtime), make_tenant(runtime)]
    for tenant in tenants:
        with transaction(runtime.sessions, tenant.id) as session:
            enqueue(session, PING_TOPIC, {})
            enqueue(session, PING_TOPIC, {}).dead_at = utcnow()
    client = operator_app.test_client()
    _operator_sign_in(client, "ops@platform.example")
    page = client.get("/operator/").get_data(as_text=True)
    assert 'data-outbox="unprocessed">2<' in page
    assert 'data-outbox="dead-letters">2<' in page  # across tenants, counts only
    assert "tsunagu outbox dead-letters" in page
