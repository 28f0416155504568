"""Sign-in attacks and misconfigurations are refused with a clear page (Japanese and English) and no session.

Everything goes through the real provider over HTTP; nothing in Authlib is mocked. Where an attack needs a
misbehaving party, the test plays it for real: a second "provider" that publishes its own discovery document
but points at the real provider's endpoints (so the ID token's ``iss`` is not the configured issuer), a
stored nonce changed in the server-side session, a code used twice.
"""

from __future__ import annotations

import requests
from flask import Flask, jsonify
from sqlalchemy import select

from tests.support.live import live_server
from tests.support.oidc import (
    authorize_at_provider,
    finish_sign_in,
    sign_in,
    start_sign_in,
    text_of,
)
from tsunagu.core.session import transaction
from tsunagu.identity.models import User, UserSession


def assert_rejected(
    client, runtime, tenant, response, code: str, status: int = 400, *, signed_in_elsewhere: int = 0
) -> None:
    """The error page names the problem in both languages, and nobody is signed in (no signed-in session
    besides ``signed_in_elsewhere`` legitimate ones)."""
    body = text_of(response)
    assert response.status_code == status, body[:500]
    assert f'data-code="{code}"' in body
    assert "サインインできませんでした" in body and "Sign-in failed" in body
    account = client.get(f"/t/{tenant.slug}/account")
    assert account.status_code == 302 and "/auth/login" in account.headers["Location"]
    with transaction(runtime.sessions, tenant.id) as session:
        signed_in = session.execute(select(UserSession).where(UserSession.user_id.is_not(None))).all()
        assert len(signed_in) == signed_in_elsewhere


def _user(oidc_provider, sub: str, email: str, **claims) -> None:
    oidc_provider.add_user(sub, {"email": email, "name": "テスト 職員", "roles": ["consultant"], **claims})


def test_a_wrong_state_is_refused(idp_client, idp_tenant, oidc_provider, runtime):
    tenant = idp_tenant("state-city")
    _user(oidc_provider, "sub-state", "state@example.jp")
    callback = authorize_at_provider(start_sign_in(idp_client, "", "state-city"), "sub-state")
    forged = callback.replace("state=", "state=x", 1)
    assert_rejected(idp_client, runtime, tenant, finish_sign_in(idp_client, "", forged), "invalid_state")
    # Without any state at all, too.
    no_state = callback.split("&state=")[0] if "&state=" in callback else callback.split("state=")[0]
    assert_rejected(idp_client, runtime, tenant, finish_sign_in(idp_client, "", no_state), "invalid_state")


def test_a_replayed_code_is_refused(idp_client, idp_tenant, oidc_provider, runtime):
    tenant = idp_tenant("replay-city")
    _user(oidc_provider, "sub-replay", "replay@example.jp")
    callback = authorize_at_provider(start_sign_in(idp_client, "", "replay-city"), "sub-replay")
    assert finish_sign_in(idp_client, "", callback).status_code == 302
    code = callback.split("code=")[1].split("&")[0]

    # An attacker's browser replays the very same callback URL: its state is used up.
    attacker = Flask.test_client(idp_client.application)
    replayed = finish_sign_in(attacker, "", callback)
    assert_rejected(attacker, runtime, tenant, replayed, "invalid_state", signed_in_elsewhere=1)

    # ... or starts its own sign-in for a fresh state and slips the used code in: the provider refuses it.
    fresh = authorize_at_provider(start_sign_in(attacker, "", "replay-city"), "sub-replay")
    fresh_state = fresh.split("state=")[1].split("&")[0]
    replay = f"/t/replay-city/auth/callback?code={code}&state={fresh_state}"
    rejected = finish_sign_in(attacker, "", replay)
    assert_rejected(attacker, runtime, tenant, rejected, "token_rejected", signed_in_elsewhere=1)


def test_a_wrong_nonce_is_refused(idp_client, idp_tenant, oidc_provider, runtime):
    tenant = idp_tenant("nonce-city")
    _user(oidc_provider, "sub-nonce", "nonce@example.jp")
    authorize_url = start_sign_in(idp_client, "", "nonce-city")
    # The ID token will carry the nonce of this request; the session now expects another one.
    with transaction(runtime.sessions, tenant.id) as session:
        stored = session.execute(select(UserSession)).scalar_one()
        data = dict(stored.data)
        for key, value in data.items():
            if key.startswith("_state_"):
                data[key] = {**value, "data": {**value["data"], "nonce": "not-the-nonce-sent"}}
        stored.data = data
    callback = authorize_at_provider(authorize_url, "sub-nonce")
    assert_rejected(idp_client, runtime, tenant, finish_sign_in(idp_client, "", callback), "token_rejected")


def test_an_id_token_from_another_issuer_is_refused(idp_client, idp_tenant, oidc_provider, runtime):
    # A provider whose discovery document is self-consistent (its issuer is its own URL) but whose tokens
    # come from somewhere else: the ID token's iss is the real provider's, not the configured issuer.
    real = requests.get(oidc_provider.issuer + "/.well-known/openid-configuration", timeout=10).json()
    impostor = Flask("impostor")
    with live_server(impostor) as impostor_url:

        @impostor.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify({**real, "issuer": impostor_url})

        tenant = idp_tenant("issuer-city", issuer=impostor_url)
        _user(oidc_provider, "sub-iss", "iss@example.jp")
        callback = authorize_at_provider(start_sign_in(idp_client, "", "issuer-city"), "sub-iss")
        response = finish_sign_in(idp_client, "", callback)
    assert_rejected(idp_client, runtime, tenant, response, "token_rejected")
    assert "iss" in text_of(response)


def test_a_discovery_document_for_another_issuer_is_refused(idp_client, idp_tenant, oidc_provider, runtime):
    # Configured "http://localhost:<port>/" but the provider calls itself "http://localhost:<port>".
    tenant = idp_tenant("discovery-city", issuer=oidc_provider.issuer + "/")
    response = idp_client.get("/t/discovery-city/auth/start")
    assert_rejected(idp_client, runtime, tenant, response, "issuer_mismatch", 502)


def test_a_sign_in_started_at_tenant_a_is_refused_at_tenant_b(idp_client, idp_tenant, oidc_provider, runtime):
    idp_tenant("alpha-city")
    beta = idp_tenant("beta-city")
    _user(oidc_provider, "sub-cross", "cross@example.jp")
    callback = authorize_at_provider(start_sign_in(idp_client, "", "alpha-city"), "sub-cross")
    # Same browser, B has a pending sign-in of its own, and A's code and state arrive at B's callback.
    start_sign_in(idp_client, "", "beta-city")
    at_b = callback.replace("/t/alpha-city/", "/t/beta-city/")
    assert_rejected(idp_client, runtime, beta, finish_sign_in(idp_client, "", at_b), "invalid_state")
    with transaction(runtime.sessions, beta.id) as session:
        assert session.execute(select(User)).first() is None


def test_a_mismatching_iss_parameter_is_refused(idp_client, idp_tenant, oidc_provider, runtime):
    tenant = idp_tenant("rfc9207-city")
    _user(oidc_provider, "sub-9207", "rfc@example.jp")
    callback = authorize_at_provider(start_sign_in(idp_client, "", "rfc9207-city"), "sub-9207")
    evil = callback + "&iss=" + requests.utils.quote("https://evil.example", safe="")
    assert_rejected(idp_client, runtime, tenant, finish_sign_in(idp_client, "", evil), "issuer_mismatch")


def test_a_matching_iss_parameter_is_accepted(idp_client, idp_tenant, oidc_provider):
    idp_tenant("rfc9207-ok")
    _user(oidc_provider, "sub-9207-ok", "rfcok@example.jp")
    callback = authorize_at_provider(start_sign_in(idp_client, "", "rfc9207-ok"), "sub-9207-ok")
    good = callback + "&iss=" + requests.utils.quote(oidc_provider.issuer, safe="")
    assert finish_sign_in(idp_client, "", good).status_code == 302


def test_an_email_domain_the_tenant_does_not_allow_is_refused(idp_client, idp_tenant, oidc_provider, runtime):
    tenant = idp_tenant("domain-city", allowed_email_domains=["domain-city.example"])
    _user(oidc_provider, "sub-domain", "someone@elsewhere.example")
    callback = authorize_at_provider(start_sign_in(idp_client, "", "domain-city"), "sub-domain")
    response = finish_sign_in(idp_client, "", callback)
    assert_rejected(idp_client, runtime, tenant, response, "email_domain_not_allowed", 403)
    assert "elsewhere.example" in text_of(response)
    with transaction(runtime.sessions, tenant.id) as session:
        assert session.execute(select(User)).first() is None  # no account was created either


def test_a_required_acr_is_enforced(idp_client, idp_tenant, oidc_provider, runtime):
    tenant = idp_tenant("mfa-city", required_acr="urn:tsunagu:mfa")
    _user(oidc_provider, "sub-weak", "weak@example.jp")
    callback = authorize_at_provider(start_sign_in(idp_client, "", "mfa-city"), "sub-weak")
    assert_rejected(
        idp_client, runtime, tenant, finish_sign_in(idp_client, "", callback), "assurance_too_low", 403
    )
    # The provider asserts the context (acr) for this user: accepted.
    landing = sign_in(idp_client, "", "mfa-city", "strong@example.jp", claims={"acr": "urn:tsunagu:mfa"})
    assert landing.startswith("/t/mfa-city/")


def test_a_deactivated_user_cannot_sign_in(idp_client, idp_tenant, oidc_provider, runtime):
    tenant = idp_tenant("inactive-city")
    sign_in(idp_client, "", "inactive-city", "gone@example.jp", claims={"roles": ["consultant"]})
    with transaction(runtime.sessions, tenant.id) as session:
        session.execute(select(User)).scalar_one().active = False
    other = Flask.test_client(idp_client.application)
    callback = authorize_at_provider(start_sign_in(other, "", "inactive-city"), "gone@example.jp")
    refused = finish_sign_in(other, "", callback)
    assert_rejected(other, runtime, tenant, refused, "account_deactivated", 403, signed_in_elsewhere=1)


def test_sign_in_is_rate_limited_per_tenant_and_address(runtime, idp_tenant):
    from tests.support.oidc import app_with_idp_secret

    idp_tenant("busy-city")
    app = app_with_idp_secret(runtime, signin_rate_limit_per_minute=3)
    client = app.test_client()
    statuses = [client.get("/t/busy-city/auth/start").status_code for _ in range(4)]
    assert statuses == [302, 302, 302, 429]
    assert "サインインの試行が多すぎます" in client.get("/t/busy-city/auth/start").get_data(as_text=True)
