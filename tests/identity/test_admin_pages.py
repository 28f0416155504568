"""Tenant administrators' pages: users (search, roles, org units, deactivate), API tokens, identity provider."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from tests.factories import make_org_unit
from tests.support.oidc import csrf_from, sign_in
from tsunagu.core.session import transaction
from tsunagu.identity.models import ApiToken, Membership, User
from tsunagu.tenancy.models import Tenant


@pytest.fixture
def admin(idp_client, idp_tenant):
    # Roles come from the claims, org units are assigned by the administrator on the page.
    tenant = idp_tenant("admin-city", claims={"email": "email", "name": "name", "roles": "roles"})
    sign_in(
        idp_client,
        "",
        "admin-city",
        "chief@example.jp",
        claims={"name": "管理 者", "roles": ["tenant_admin"]},
    )
    return tenant


def _form_token(client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, path
    return csrf_from(page.get_data(as_text=True))


def test_admin_searches_users_and_assigns_roles_and_an_org_unit(admin, idp_client, runtime, oidc_provider):
    unit = make_org_unit(runtime, admin, "north", "北区")
    other = idp_client.application.test_client()
    sign_in(other, "", "admin-city", "newbie@example.jp", claims={"name": "新人 さん", "roles": []})
    with transaction(runtime.sessions, admin.id) as session:
        newbie = session.execute(select(User).where(User.email == "newbie@example.jp")).scalar_one()

    listing = idp_client.get("/t/admin-city/admin/users?q=newbie").get_data(as_text=True)
    assert "newbie@example.jp" in listing and "chief@example.jp" not in listing

    south = make_org_unit(runtime, admin, "south", "南区")
    token = _form_token(idp_client, f"/t/admin-city/admin/users/{newbie.id}")
    # Pairs, not a cross product: consultant in 北区, provider in 南区.
    saved = idp_client.post(
        f"/t/admin-city/admin/users/{newbie.id}",
        data={
            "csrf_token": token,
            f"roles:{unit.id}": ["consultant", "bogus"],
            f"roles:{south.id}": ["provider"],
        },
    )
    assert saved.status_code == 302
    with transaction(runtime.sessions, admin.id) as session:
        rows = session.execute(
            select(Membership.roles, Membership.org_unit_id).where(Membership.user_id == newbie.id)
        ).all()
    assert sorted((u, list(r)) for r, u in rows) == sorted(
        [(unit.id, ["consultant"]), (south.id, ["provider"])]
    )
    account = other.get("/t/admin-city/account").get_data(as_text=True)
    assert "相談支援員" in account and "北区" in account
    edit = idp_client.get(f"/t/admin-city/admin/users/{newbie.id}").get_data(as_text=True)
    assert f'name="roles:{south.id}" value="provider"' in edit.replace(" checked", "")
    assert f'name="roles:{south.id}" value="consultant" aria-label="相談支援員 — 南区" >' in edit


def test_a_role_without_org_unit_is_refused_except_for_admins_and_auditors(admin, idp_client, runtime):
    other = idp_client.application.test_client()
    sign_in(other, "", "admin-city", "wide@example.jp", claims={"name": "広域 さん", "roles": []})
    with transaction(runtime.sessions, admin.id) as session:
        wide = session.execute(select(User).where(User.email == "wide@example.jp")).scalar_one()
    token = _form_token(idp_client, f"/t/admin-city/admin/users/{wide.id}")
    refused = idp_client.post(
        f"/t/admin-city/admin/users/{wide.id}", data={"csrf_token": token, "roles:tenant": ["consultant"]}
    )
    assert refused.status_code == 422
    assert "組織なしで持てる役割" in refused.get_data(as_text=True)
    saved = idp_client.post(
        f"/t/admin-city/admin/users/{wide.id}", data={"csrf_token": token, "roles:tenant": ["auditor"]}
    )
    assert saved.status_code == 302
    with transaction(runtime.sessions, admin.id) as session:
        rows = session.execute(
            select(Membership.roles, Membership.org_unit_id).where(Membership.user_id == wide.id)
        ).all()
    assert [(list(r), u) for r, u in rows] == [(["auditor"], None)]


def test_admin_cannot_lock_themselves_out(admin, idp_client, runtime):
    with transaction(runtime.sessions, admin.id) as session:
        me = session.execute(select(User).where(User.email == "chief@example.jp")).scalar_one()
    token = _form_token(idp_client, f"/t/admin-city/admin/users/{me.id}")
    assert (
        idp_client.post(
            f"/t/admin-city/admin/users/{me.id}/deactivate", data={"csrf_token": token}
        ).status_code
        == 422
    )
    refused = idp_client.post(
        f"/t/admin-city/admin/users/{me.id}", data={"csrf_token": token, "roles:tenant": ["auditor"]}
    )
    assert refused.status_code == 422
    assert idp_client.get("/t/admin-city/admin/users").status_code == 200


def test_api_tokens_are_shown_once_listed_and_revoked(admin, idp_client, runtime):
    with transaction(runtime.sessions, admin.id) as session:
        me = session.execute(select(User).where(User.email == "chief@example.jp")).scalar_one()
    token = _form_token(idp_client, "/t/admin-city/admin/tokens")
    # A token cannot reach further than its user: the chief is no auditor.
    beyond = idp_client.post(
        "/t/admin-city/admin/tokens",
        data={"csrf_token": token, "name": "監査", "user_id": str(me.id), "roles": ["auditor"]},
    )
    assert beyond.status_code == 422 and "auditor" in beyond.get_data(as_text=True)
    created = idp_client.post(
        "/t/admin-city/admin/tokens",
        data={"csrf_token": token, "name": "集計バッチ", "user_id": str(me.id), "roles": ["tenant_admin"]},
    )
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    issued = re.search(r'id="issued-token">(tsu_[^<]+)<', created.get_data(as_text=True)).group(1)
    api = idp_client.get("/t/admin-city/api/v1/tasks", headers={"Authorization": f"Bearer {issued}"})
    assert api.status_code == 200

    listing = idp_client.get("/t/admin-city/admin/tokens").get_data(as_text=True)
    assert "集計バッチ" in listing and issued not in listing  # listed by prefix, never in full again
    with transaction(runtime.sessions, admin.id) as session:
        record = session.execute(select(ApiToken)).scalar_one()
        assert record.token_hash != issued
    revoked = idp_client.post(
        f"/t/admin-city/admin/tokens/{record.id}/revoke", data={"csrf_token": csrf_from(listing)}
    )
    assert revoked.status_code == 302
    again = idp_client.get("/t/admin-city/api/v1/tasks", headers={"Authorization": f"Bearer {issued}"})
    assert again.status_code == 401


def test_identity_provider_settings_are_validated_saved_and_tested(admin, idp_client, runtime, oidc_provider):
    path = "/t/admin-city/admin/identity-provider"
    page = idp_client.get(path).get_data(as_text=True)
    assert "http://localhost/t/admin-city/auth/callback" in page
    form = {
        "csrf_token": csrf_from(page),
        "issuer": oidc_provider.issuer,
        "client_id": "tsunagu-admin-city",
        "client_secret_ref": "TSUNAGU_OIDC_ADMIN_CITY_CLIENT_SECRET",
        "scopes": "openid email profile",
        "claim_email": "email",
        "claim_name": "name",
        "claim_roles": "roles",
        "allowed_email_domains": "example.jp, admin-city.example",
    }
    tested = idp_client.post(path + "/test", data=form)
    assert tested.status_code == 200
    body = tested.get_data(as_text=True)
    assert 'data-ok="true"' in body and f"{oidc_provider.issuer}/oauth2/token" in body

    bad = idp_client.post(path + "/test", data={**form, "issuer": oidc_provider.issuer + "/"})
    assert 'data-ok="false"' in bad.get_data(as_text=True) and "issuer" in bad.get_data(as_text=True)

    invalid = idp_client.post(path, data={**form, "issuer": "http://idp.example.jp", "scopes": "email"})
    assert invalid.status_code == 422
    assert "https://" in invalid.get_data(as_text=True) and "openid" in invalid.get_data(as_text=True)

    assert idp_client.post(path, data=form).status_code == 302
    with transaction(runtime.sessions, admin.id) as session:  # the tenant's own row
        idp = session.get(Tenant, admin.id).settings["identity_provider"]
    assert idp["client_id"] == "tsunagu-admin-city"
    assert idp["allowed_email_domains"] == ["example.jp", "admin-city.example"]
    # The new client id takes effect on the next sign-in, without a restart.
    start = idp_client.application.test_client().get("/t/admin-city/auth/start")
    assert "client_id=tsunagu-admin-city" in start.headers["Location"]


def test_admin_pages_need_a_sign_in(idp_client, idp_tenant):
    idp_tenant("closed-city")
    response = idp_client.get("/t/closed-city/admin/users")
    assert response.status_code == 302 and response.headers["Location"].startswith(
        "/t/closed-city/auth/login"
    )
    assert (
        idp_client.get("/t/closed-city/admin/users", headers={"Accept": "application/json"}).status_code
        == 401
    )
