"""Server-side sessions (in PostgreSQL, with or without Redis): idle and absolute timeouts, deactivation, CSRF."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
import redis
from sqlalchemy import select

from tests.identity.conftest import Clock
from tests.support.oidc import app_with_idp_secret, csrf_from, sign_in
from tsunagu.core.session import transaction
from tsunagu.identity.models import User, UserSession
from tsunagu.identity.sessions import DatabaseSessionStore, hash_session_id
from tsunagu.identity.state import identity_state, set_clock

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["without Redis", "with Redis"])
def store_app(request, runtime):
    """The app with a 30-minute idle and 2-hour absolute timeout, without and with Redis configured."""
    overrides: dict[str, object] = {"session_idle_minutes": 30, "session_absolute_hours": 2}
    if request.param == "with Redis":
        overrides["redis_url"] = REDIS_URL
    app = app_with_idp_secret(runtime, **overrides)
    clock = Clock()
    set_clock(app, clock)
    app.config["clock"] = clock
    return app


def _signed_in(app, idp_tenant, slug: str, email: str, roles=("consultant",)):
    tenant = idp_tenant(slug)
    client = app.test_client()
    sign_in(client, "", slug, email, claims={"name": "時計 太郎", "roles": list(roles)})
    assert client.get(f"/t/{slug}/account").status_code == 200
    return tenant, client


def _is_signed_out(client, slug: str) -> bool:
    response = client.get(f"/t/{slug}/account")
    return response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_an_idle_session_ends_after_the_idle_timeout(store_app, idp_tenant):
    clock = store_app.config["clock"]
    _tenant, client = _signed_in(store_app, idp_tenant, "idle-city", "idle@example.jp")
    clock.advance(minutes=29)
    assert client.get("/t/idle-city/account").status_code == 200  # activity: the idle clock restarts
    clock.advance(minutes=29)
    assert client.get("/t/idle-city/account").status_code == 200
    clock.advance(minutes=31)
    expired = client.get("/t/idle-city/account")
    assert expired.status_code == 302 and "expired=1" in expired.headers["Location"]
    # The sign-in page says why.
    assert "有効期限が切れた" in client.get(expired.headers["Location"]).get_data(as_text=True)
    assert _is_signed_out(client, "idle-city")


def test_a_busy_session_still_ends_at_the_absolute_timeout(store_app, idp_tenant):
    clock = store_app.config["clock"]
    _tenant, client = _signed_in(store_app, idp_tenant, "absolute-city", "busy@example.jp")
    for _ in range(4):  # 4 × 25 minutes of activity: never idle for 30 minutes, 100 minutes in all
        clock.advance(minutes=25)
        assert client.get("/t/absolute-city/account").status_code == 200
    clock.advance(minutes=25)  # 125 minutes after sign-in: past the 2-hour limit
    assert _is_signed_out(client, "absolute-city")


def test_deactivating_a_user_ends_their_sessions_at_once(store_app, idp_tenant, runtime):
    tenant, user_browser = _signed_in(store_app, idp_tenant, "deactivate-city", "leaver@example.jp")
    second_browser = store_app.test_client()
    sign_in(second_browser, "", "deactivate-city", "leaver@example.jp")
    admin_browser = store_app.test_client()
    sign_in(admin_browser, "", "deactivate-city", "chief@example.jp", claims={"roles": ["tenant_admin"]})

    with transaction(runtime.sessions, tenant.id) as session:
        leaver = session.execute(select(User).where(User.email == "leaver@example.jp")).scalar_one()
    page = admin_browser.get(f"/t/deactivate-city/admin/users/{leaver.id}")
    assert page.status_code == 200
    done = admin_browser.post(
        f"/t/deactivate-city/admin/users/{leaver.id}/deactivate",
        data={"csrf_token": csrf_from(page.get_data(as_text=True))},
    )
    assert done.status_code == 302
    assert _is_signed_out(user_browser, "deactivate-city")
    assert _is_signed_out(second_browser, "deactivate-city")
    assert admin_browser.get("/t/deactivate-city/account").status_code == 200
    with transaction(runtime.sessions, tenant.id) as session:
        assert session.execute(select(UserSession).where(UserSession.user_id == leaver.id)).first() is None


def test_a_user_deactivated_behind_the_apps_back_loses_the_session_on_the_next_request(
    idp_app, idp_client, idp_tenant, runtime
):
    tenant = idp_tenant("backdoor-city")
    sign_in(idp_client, "", "backdoor-city", "quiet@example.jp", claims={"roles": ["consultant"]})
    with transaction(runtime.sessions, tenant.id) as session:
        session.execute(select(User)).scalar_one().active = False  # e.g. straight in the database
    assert _is_signed_out(idp_client, "backdoor-city")
    with transaction(runtime.sessions, tenant.id) as session:
        assert session.execute(select(UserSession).where(UserSession.user_id.is_not(None))).first() is None


def test_sessions_live_in_the_database_as_hashes_even_with_redis_configured(runtime, idp_tenant):
    app = app_with_idp_secret(runtime, redis_url=REDIS_URL)
    assert isinstance(identity_state(app).store, DatabaseSessionStore)
    tenant, client = _signed_in(app, idp_tenant, f"r{uuid.uuid4().hex[:8]}", "hash@example.jp")
    cookie = client.get_cookie(f"tsunagu_{tenant.slug}")
    assert cookie is not None
    with transaction(runtime.sessions, tenant.id) as session:
        stored = session.execute(
            select(UserSession.session_hash).where(UserSession.user_id.is_not(None))
        ).all()
    assert [row.session_hash for row in stored] == [hash_session_id(cookie.value)]  # the hash, never the id
    assert not redis.Redis.from_url(REDIS_URL).keys(f"tsunagu:t:{tenant.id}:session*")


def test_state_changing_forms_need_the_csrf_token(idp_client, idp_tenant):
    idp_tenant("csrf-city")
    sign_in(idp_client, "", "csrf-city", "csrf@example.jp", claims={"roles": ["consultant"]})
    refused = idp_client.post("/t/csrf-city/auth/logout")
    assert refused.status_code == 400
    assert "再読み込み" in refused.get_data(as_text=True)
    assert idp_client.post("/t/csrf-city/auth/logout", data={"csrf_token": "forged"}).status_code == 400
    assert idp_client.get("/t/csrf-city/account").status_code == 200  # still signed in
    token = csrf_from(idp_client.get("/t/csrf-city/account").get_data(as_text=True))
    assert idp_client.post("/t/csrf-city/auth/logout", headers={"X-CSRF-Token": token}).status_code == 302
    assert _is_signed_out(idp_client, "csrf-city")


def test_production_cookies_are_secure_and_host_only(runtime, idp_tenant):
    from tsunagu.identity.sessions import TenantSessionInterface

    production = dataclasses.replace(
        runtime, settings=dataclasses.replace(runtime.settings, env="production")
    )
    interface = TenantSessionInterface(production, identity_state(app_with_idp_secret(runtime)).store)
    assert interface.secure
    assert interface.cookie_name_for(type("R", (), {"slug": "yokohama"})()).startswith("__Host-")  # type: ignore[arg-type]
