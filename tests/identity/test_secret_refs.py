"""The secret-exfiltration attack: a tenant administrator points their issuer at a provider they run and
their ``client_secret_ref`` at a platform secret. Before, one sign-in sent that secret to the provider in the
token request's HTTP Basic auth; now the reference is refused at save, at sync and at sign-in."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from tests.factories import make_tenant, tenant_row
from tests.support.oidc import (
    app_with_idp_secret,
    authorize_at_provider,
    configure_tenant_idp,
    csrf_from,
    finish_sign_in,
    provider_origin,
    register_user,
    sign_in,
    start_provider,
    status_of,
    text_of,
)
from tsunagu.core.session import transaction
from tsunagu.tenancy.models import Tenant

YOKOHAMA_SECRET = "yokohama-client-secret-value"


@pytest.fixture
def attacker_provider():
    """An OpenID provider run by the attacker: it records every request it receives."""
    seen: list[dict[str, str]] = []
    provider = start_provider(record=seen)
    yield provider, seen
    provider.stop()


def _point_own_row_at(runtime, tenant, issuer: str, ref: str) -> None:
    """What the admin form saved before it checked the reference (or any buggy path writing settings)."""
    configure_tenant_idp(runtime, tenant, issuer, allowed_email_domains=["evil.example"])
    with transaction(runtime.sessions, tenant.id) as session:
        row = session.get(Tenant, tenant.id)
        assert row is not None
        idp = dict(row.settings["identity_provider"])
        idp["client_secret_ref"] = ref
        row.settings = {**row.settings, "identity_provider": idp}


def _leaked(seen: list[dict[str, str]], secret: str) -> list[str]:
    found = []
    for request in seen:
        auth = request["authorization"]
        decoded = ""
        if auth.lower().startswith("basic "):
            decoded = base64.b64decode(auth.split(" ", 1)[1]).decode("utf-8", "replace")
        if secret in decoded or secret in auth or secret in request["body"] or secret in request["path"]:
            found.append(request["path"])
    return found


def _try_to_sign_in(client, slug: str):
    """Walk a sign-in as far as the app lets it go; returns the response that ended it."""
    start = client.get(f"/t/{slug}/auth/start")
    if status_of(start) != 302:
        return start
    authorize_url = start.headers["Location"]
    register_user(provider_origin(authorize_url), "mallory", {"email": "mallory@evil.example"})
    return finish_sign_in(client, "", authorize_at_provider(authorize_url, "mallory"))


@pytest.mark.parametrize(
    "ref", ["TSUNAGU_SECRET_KEY", "TSUNAGU_DATABASE_URL", "TSUNAGU_OIDC_YOKOHAMA_CLIENT_SECRET"]
)
def test_a_foreign_secret_ref_is_refused_at_sign_in_and_never_reaches_the_provider(
    runtime, attacker_provider, ref
):
    provider, seen = attacker_provider
    evil = make_tenant(runtime, "evil-city")
    _point_own_row_at(runtime, evil, provider.issuer, ref)
    # The process's environment as in production: every TSUNAGU_* variable, another tenant's secret too.
    wanted = {
        "TSUNAGU_SECRET_KEY": runtime.settings.secret_key,
        "TSUNAGU_DATABASE_URL": runtime.settings.database_url,
        "TSUNAGU_OIDC_YOKOHAMA_CLIENT_SECRET": YOKOHAMA_SECRET,
    }
    app = app_with_idp_secret(
        runtime,
        extra={**runtime.settings.extra, **wanted},
        tenant_secrets={"TSUNAGU_OIDC_YOKOHAMA_CLIENT_SECRET": YOKOHAMA_SECRET},
    )

    ended = _try_to_sign_in(app.test_client(), "evil-city")

    assert _leaked(seen, wanted[ref]) == [], f"{ref} was sent to the tenant's provider"
    assert [r["path"] for r in seen if r["path"].endswith("/token")] == []
    assert status_of(ended) == 503
    page = text_of(ended)
    assert 'data-code="secret_ref_refused"' in page
    assert "TSUNAGU_OIDC_EVIL_CITY_CLIENT_SECRET" in page and wanted[ref] not in page


def test_the_tenants_own_secret_still_signs_in(runtime, attacker_provider):
    provider, seen = attacker_provider
    tenant = make_tenant(runtime, "own-city")
    configure_tenant_idp(runtime, tenant, provider.issuer, allowed_email_domains=["own.example"])
    app = app_with_idp_secret(runtime)
    landing = sign_in(app.test_client(), "", "own-city", "chief@own.example", claims={"name": "市 長"})
    assert landing.startswith("/t/own-city/")
    token_requests = [r for r in seen if r["path"].endswith("/token")]
    assert token_requests and _leaked(token_requests, "test-client-secret")  # its own secret, and only that


def test_the_admin_form_refuses_a_foreign_secret_ref_naming_the_expected_variable(
    runtime, oidc_provider, idp_client, idp_tenant
):
    idp_tenant("admin-town", claims={"email": "email", "name": "name", "roles": "roles"})
    sign_in(
        idp_client, "", "admin-town", "chief@example.jp", claims={"name": "管理", "roles": ["tenant_admin"]}
    )
    path = "/t/admin-town/admin/identity-provider"
    page = idp_client.get(path).get_data(as_text=True)
    assert "TSUNAGU_OIDC_ADMIN_TOWN_CLIENT_SECRET" in page
    form = {
        "csrf_token": csrf_from(page),
        "issuer": "https://idp.attacker.example",
        "client_id": "mine",
        "client_secret_ref": "TSUNAGU_DATABASE_URL",
        "scopes": "openid email",
        "claim_email": "email",
        "claim_name": "name",
        "allowed_email_domains": "example.jp",
    }
    for route in (path, path + "/test"):
        refused = idp_client.post(route, data=form)
        assert refused.status_code == 422
        body = refused.get_data(as_text=True)
        assert "TSUNAGU_OIDC_ADMIN_TOWN_CLIENT_SECRET" in body and "TSUNAGU_DATABASE_URL" in body
    saved = tenant_row(runtime, "admin-town").settings["identity_provider"]
    assert saved["issuer"] == oidc_provider.issuer and saved["client_secret_ref"].endswith(
        "ADMIN_TOWN_CLIENT_SECRET"
    )


def test_the_discovery_check_sends_no_secret(runtime, attacker_provider):
    """ "Test connection" fetches only the public discovery document, with no credentials."""
    from tsunagu.identity.oidc import check_connection, tenant_provider_config

    provider, seen = attacker_provider
    settings = dataclasses.replace(
        runtime.settings, tenant_secrets={"TSUNAGU_OIDC_T1_CLIENT_SECRET": "s3cr3t-value"}
    )
    config = tenant_provider_config(
        settings,
        "t1",
        {
            "identity_provider": {
                "issuer": provider.issuer,
                "client_id": "c",
                "client_secret_ref": "TSUNAGU_OIDC_T1_CLIENT_SECRET",
            }
        },
    )
    assert check_connection(config).ok
    assert seen and _leaked(seen, "s3cr3t-value") == [] and all(not r["authorization"] for r in seen)
