"""Users, memberships and API tokens over the JSON API: tenant admins only, same rules as the admin pages."""

from __future__ import annotations

from typing import get_args

from tests.factories import make_org_unit, make_tenant, make_user
from tsunagu.identity.api import RoleName
from tsunagu.identity.models import ALL_ROLES


def _h(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def test_the_role_names_of_the_api_are_the_roles():
    assert set(get_args(RoleName)) == set(ALL_ROLES)


def test_an_admin_manages_memberships_and_tokens_and_others_may_not(client, runtime):
    tenant = make_tenant(runtime, "admins")
    ward = make_org_unit(runtime, tenant, "kohoku", "港北区")
    admin = make_user(runtime, tenant, email="admin@admins.example", roles=["tenant_admin"])
    worker = make_user(runtime, tenant, email="worker@admins.example", roles=["consultant"])
    base = "/t/admins/api/v1"

    # Non-admins: 403 on every admin operation.
    for method, path in (("GET", "/users"), ("GET", "/tokens"), ("PATCH", f"/users/{admin.user.id}")):
        response = client.open(base + path, method=method, json={"active": True}, headers=_h(worker.token))
        assert response.status_code == 403, (method, path)

    users = client.get(f"{base}/users?q=worker", headers=_h(admin.token)).get_json()
    assert [u["email"] for u in users] == ["worker@admins.example"]
    read = client.get(f"{base}/users/{worker.user.id}", headers=_h(admin.token))
    moved = client.put(
        f"{base}/users/{worker.user.id}/memberships",
        json={"memberships": [{"org_unit": "kohoku", "roles": ["consultant", "provider"]}]},
        headers=_h(admin.token, **{"If-Match": read.headers["ETag"]}),
    )
    assert moved.status_code == 200, moved.get_json()
    assert [(m["org_unit"], m["roles"]) for m in moved.get_json()["memberships"]] == [
        ("kohoku", ["consultant", "provider"])
    ]
    stale = client.put(
        f"{base}/users/{worker.user.id}/memberships",
        json={"memberships": [{"org_unit": None, "roles": ["auditor"]}]},
        headers=_h(admin.token, **{"If-Match": read.headers["ETag"]}),
    )
    assert stale.status_code == 412
    unknown = client.put(
        f"{base}/users/{worker.user.id}/memberships",
        json={"memberships": [{"org_unit": "nowhere", "roles": ["consultant"]}]},
        headers=_h(admin.token),
    )
    assert unknown.status_code == 422
    assert unknown.get_json()["error"]["details"][0]["field"] == "memberships.org_unit"
    own = client.put(
        f"{base}/users/{admin.user.id}/memberships",
        json={"memberships": [{"org_unit": "kohoku", "roles": ["consultant"]}]},
        headers=_h(admin.token),
    )
    assert own.status_code == 422

    # A token for the worker: shown once, works, listed without its value, revoked.
    issued = client.post(
        f"{base}/users/{worker.user.id}/tokens",
        json={"name": "連携システム", "roles": ["consultant"]},
        headers=_h(admin.token),
    )
    assert issued.status_code == 201 and issued.headers["Cache-Control"] == "no-store"
    token = issued.get_json()["token"]
    assert client.get(f"{base}/tasks", headers=_h(token)).status_code == 200
    listed = client.get(f"{base}/tokens", headers=_h(admin.token)).get_json()
    assert token not in str(listed) and issued.get_json()["id"] in {t["id"] for t in listed}
    assert (
        client.delete(f"{base}/tokens/{issued.get_json()['id']}", headers=_h(admin.token)).status_code == 204
    )
    assert client.get(f"{base}/tasks", headers=_h(token)).status_code == 401

    # Deactivating a user ends their tokens' use too; an admin cannot deactivate themself.
    off = client.patch(f"{base}/users/{worker.user.id}", json={"active": False}, headers=_h(admin.token))
    assert off.status_code == 200 and off.get_json()["active"] is False
    assert client.get(f"{base}/tasks", headers=_h(worker.token)).status_code == 401
    assert (
        client.patch(
            f"{base}/users/{admin.user.id}", json={"active": False}, headers=_h(admin.token)
        ).status_code
        == 422
    )
    assert str(ward.id)  # the ward exists in this tenant only


def test_users_of_another_tenant_are_not_found(client, runtime):
    a = make_tenant(runtime, "admins-a")
    b = make_tenant(runtime, "admins-b")
    admin_a = make_user(runtime, a, roles=["tenant_admin"])
    other = make_user(runtime, b, roles=["consultant"])
    for method, path in (
        ("GET", f"/users/{other.user.id}"),
        ("PATCH", f"/users/{other.user.id}"),
        ("POST", f"/users/{other.user.id}/tokens"),
    ):
        body = {"active": False} if method == "PATCH" else {"name": "x", "roles": ["consultant"]}
        response = client.open(
            f"/t/admins-a/api/v1{path}", method=method, json=body, headers=_h(admin_a.token)
        )
        assert response.status_code == 404, (method, path)
