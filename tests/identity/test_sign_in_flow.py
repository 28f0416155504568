"""Sign-in end to end against the real local OpenID provider: redirects, callback, session, sign-out."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from sqlalchemy import select

from tests.support.live import live_server
from tests.support.oidc import (
    authorize_at_provider,
    csrf_from,
    finish_sign_in,
    query_of,
    sign_in,
    sign_out,
    start_sign_in,
)
from tsunagu.core.session import transaction
from tsunagu.identity.models import Membership, User, UserSession


def test_sign_in_walks_provider_and_callback_and_sign_out_ends_the_server_session(
    idp_client, idp_tenant, oidc_provider, runtime
):
    tenant = idp_tenant("kohoku-city")
    # Unauthenticated: the protected page sends the person to the tenant's sign-in page.
    page = idp_client.get("/t/kohoku-city/account")
    assert page.status_code == 302
    assert page.headers["Location"] == "/t/kohoku-city/auth/login?next=%2Ft%2Fkohoku-city%2Faccount"
    login = idp_client.get(page.headers["Location"])
    assert login.status_code == 200 and "サインイン" in login.get_data(as_text=True)

    authorize_url = start_sign_in(idp_client, "", "kohoku-city", "/t/kohoku-city/account")
    params = query_of(authorize_url)
    assert authorize_url.startswith(oidc_provider.issuer + "/oauth2/authorize")
    assert params["code_challenge_method"] == "S256" and params["code_challenge"]
    assert params["state"] and params["nonce"] and params["response_type"] == "code"
    assert params["redirect_uri"] == "http://localhost/t/kohoku-city/auth/callback"
    oidc_provider.add_user(
        "sub-hanako", {"email": "hanako@example.jp", "name": "港北 花子", "roles": ["consultant"]}
    )
    callback = authorize_at_provider(authorize_url, "sub-hanako")
    assert urlsplit(callback).path == "/t/kohoku-city/auth/callback"
    done = finish_sign_in(idp_client, "", callback)
    assert done.status_code == 302 and done.headers["Location"] == "/t/kohoku-city/account"
    cookie = idp_client.get_cookie("tsunagu_kohoku-city")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"

    account = idp_client.get("/t/kohoku-city/account")
    assert account.status_code == 200
    assert "港北 花子" in account.get_data(as_text=True)

    with transaction(runtime.sessions, tenant.id) as session:
        user = session.execute(select(User)).scalar_one()
        assert (user.issuer, user.subject, user.email) == (
            oidc_provider.issuer,
            "sub-hanako",
            "hanako@example.jp",
        )
        assert session.execute(select(Membership.roles)).scalar_one() == ["consultant"]
        stored = session.execute(select(UserSession)).scalar_one()
        assert stored.user_id == user.id
        assert stored.session_hash != cookie.value and len(stored.session_hash) == 64  # only a hash is stored

    out = sign_out(idp_client, "", "kohoku-city")
    assert out.status_code == 302
    assert out.headers["Location"].startswith(oidc_provider.issuer + "/oauth2/end_session")
    assert query_of(out.headers["Location"])["post_logout_redirect_uri"] == (
        "http://localhost/t/kohoku-city/auth/signed-out"
    )
    with transaction(runtime.sessions, tenant.id) as session:
        assert session.execute(select(UserSession)).scalars().all() == []

    # The old cookie no longer works: replaying it lands on the sign-in page.
    idp_client.set_cookie("tsunagu_kohoku-city", cookie.value)
    again = idp_client.get("/t/kohoku-city/account")
    assert again.status_code == 302 and "/auth/login" in again.headers["Location"]


def test_sign_in_rotates_the_session_id(idp_client, idp_tenant, oidc_provider):
    idp_tenant("rotate-city")
    authorize_url = start_sign_in(idp_client, "", "rotate-city")
    before = idp_client.get_cookie("tsunagu_rotate-city")
    assert before is not None  # the anonymous session carrying state, nonce and the PKCE verifier
    oidc_provider.add_user("sub-rot", {"email": "rot@example.jp", "roles": ["auditor"]})
    finish_sign_in(idp_client, "", authorize_at_provider(authorize_url, "sub-rot"))
    after = idp_client.get_cookie("tsunagu_rotate-city")
    assert after is not None and after.value != before.value
    idp_client.set_cookie("tsunagu_rotate-city", before.value)
    assert idp_client.get("/t/rotate-city/account").status_code == 302


def test_sign_in_with_requests_against_a_live_server(idp_app, idp_tenant, oidc_provider):
    idp_tenant("live-city")
    with live_server(idp_app) as base_url:
        browser = requests.Session()
        landing = sign_in(
            browser,
            base_url,
            "live-city",
            "live@example.jp",
            claims={"name": "ライブ", "roles": ["consultant"]},
        )
        assert landing in ("/t/live-city/inbox", "/t/live-city/")
        account = browser.get(base_url + "/t/live-city/account", allow_redirects=False, timeout=10)
        assert account.status_code == 200 and "live@example.jp" in account.text
        token = csrf_from(account.text)
        out = browser.post(
            base_url + "/t/live-city/auth/logout",
            data={"csrf_token": token},
            allow_redirects=False,
            timeout=10,
        )
        assert out.status_code == 302
        assert (
            browser.get(base_url + "/t/live-city/account", allow_redirects=False, timeout=10).status_code
            == 302
        )


def test_htmx_requests_without_a_session_get_401_with_a_redirect_header(idp_client, idp_tenant):
    idp_tenant("htmx-city")
    response = idp_client.get(
        "/t/htmx-city/account",
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/t/htmx-city/x"},
    )
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/t/htmx-city/auth/login?next=%2Ft%2Fhtmx-city%2Fx"


def test_next_only_goes_to_pages_of_the_same_tenant():
    from tsunagu.identity.views import safe_next

    assert safe_next("/t/a/inbox?x=1", "a") == "/t/a/inbox?x=1"
    for bad in (
        "https://evil.example/t/a/",
        "//evil.example/t/a/",
        "/t/b/inbox",
        "/t/a/auth/logout",
        "t/a/",
        "/\\evil",
    ):
        assert safe_next(bad, "a") is None, bad


def test_an_open_redirect_through_next_is_ignored(idp_client, idp_tenant, oidc_provider):
    idp_tenant("next-city")
    landing = sign_in(
        idp_client,
        "",
        "next-city",
        "next@example.jp",
        claims={"roles": ["consultant"]},
        next_path="https://evil.example/",
    )
    assert landing.startswith("/t/next-city/")


# --- issue #10: hostile `next` values (header injection, dot segments, other tenants) ------------------------
HOSTILE_NEXT = (
    "/t/a/inbox\r\nSet-Cookie: evil=1",
    "/t/a/inbox\nLocation: https://evil.example/",
    "/t/a/inbox\r",
    "/t/a/\x00",
    "/t/a/\tinbox",
    "/t/a/inbox\u2028x",
    "/t/a/../b/inbox",
    "/t/a/%2e%2e/b/inbox",
    "/t/a/.%2E/b/inbox",
    "/t/a//evil.example/",
    "/t/a/\\evil",
    "javascript:alert(1)",
    "http:/t/a/inbox",
    "/t/ab/inbox",
)


def test_next_with_control_characters_dot_segments_or_another_tenant_is_refused():
    from tsunagu.identity.views import safe_next

    for bad in HOSTILE_NEXT:
        assert safe_next(bad, "a") is None, repr(bad)
    assert safe_next("/t/a/cases/new?x=%E5%B1%B1", "a") == "/t/a/cases/new?x=%E5%B1%B1"


def test_a_next_with_cr_lf_lands_on_the_tenant_home_and_never_injects_a_header(
    idp_client, idp_tenant, oidc_provider
):
    idp_tenant("crlf-city")
    hostile = "/t/crlf-city/account\r\nSet-Cookie: evil=1"
    landing = sign_in(
        idp_client, "", "crlf-city", "crlf@example.jp", claims={"roles": ["consultant"]}, next_path=hostile
    )
    assert landing == "/t/crlf-city/inbox"
    # Signed in already: the sign-in page sends the person on at once, also to the tenant home.
    for raw in ("%2Ft%2Fcrlf-city%2Faccount%0D%0ASet-Cookie:%20evil=1", "%2Ft%2Fcrlf-city%2F..%2Fother%2F"):
        response = idp_client.get(f"/t/crlf-city/auth/login?next={raw}")
        assert response.status_code == 302, raw
        assert response.headers["Location"] == "/t/crlf-city/inbox"
        assert "evil" not in str(response.headers)
