"""Isolation at the application level: another tenant's objects are simply not there."""

from __future__ import annotations

from sqlalchemy import select

from tests.factories import make_org_unit, make_tenant, make_user
from tsunagu.core.session import transaction
from tsunagu.tenancy.models import OrgUnit


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_of_tenant_a_cannot_read_or_change_tenant_b_objects(client, runtime):
    a = make_tenant(runtime, "alpha")
    b = make_tenant(runtime, "beta")
    a_unit = make_org_unit(runtime, a, "a-ward", "あ区")
    b_unit = make_org_unit(runtime, b, "b-ward", "べ区")
    admin_a = make_user(runtime, a, roles=["tenant_admin"], tenant_wide=True)

    # Own objects are visible ...
    own = client.get(f"/t/alpha/api/v1/org-units/{a_unit.id}", headers=_auth(admin_a.token))
    assert own.status_code == 200
    assert own.get_json()["name"] == "あ区"

    # ... tenant B's, asked for by id through tenant A, are not found, and nothing changes.
    read = client.get(f"/t/alpha/api/v1/org-units/{b_unit.id}", headers=_auth(admin_a.token))
    assert read.status_code == 404
    assert read.get_json()["error"]["code"] == "not_found"
    write = client.patch(
        f"/t/alpha/api/v1/org-units/{b_unit.id}", json={"name": "乗っ取り"}, headers=_auth(admin_a.token)
    )
    assert write.status_code == 404
    listing = client.get("/t/alpha/api/v1/org-units", headers=_auth(admin_a.token)).get_json()
    assert [u["code"] for u in listing] == ["a-ward"]

    # The token is not valid at tenant B's own URL either.
    cross = client.patch(
        f"/t/beta/api/v1/org-units/{b_unit.id}", json={"name": "乗っ取り"}, headers=_auth(admin_a.token)
    )
    assert cross.status_code == 401

    with transaction(runtime.sessions, b.id) as session:
        assert session.execute(select(OrgUnit.name)).scalars().all() == ["べ区"]


def test_unknown_and_suspended_tenants_answer_404_as_html_or_json(client, runtime):
    make_tenant(runtime, "sleepy", status="suspended")
    for slug in ("nowhere", "sleepy"):
        html = client.get(f"/t/{slug}/", headers={"Accept": "text/html"})
        assert html.status_code == 404
        assert html.mimetype == "text/html"
        assert "見つかりません" in html.get_data(as_text=True)
        js = client.get(f"/t/{slug}/", headers={"Accept": "application/json"})
        assert js.status_code == 404
        assert js.get_json()["error"]["code"] == "not_found"


def test_tenant_resolves_from_the_host_name(client, runtime):
    make_tenant(runtime, "alpha", name="アルファ市")
    by_host = client.get("/", headers={"Host": "alpha.tsunagu.test"})
    assert by_host.status_code == 200
    assert "アルファ市" in by_host.get_data(as_text=True)
    unknown = client.get("/", headers={"Host": "ghost.tsunagu.test", "Accept": "application/json"})
    assert unknown.status_code == 404
    mismatch = client.get("/t/beta/", headers={"Host": "alpha.tsunagu.test"})
    assert mismatch.status_code == 404


def test_api_requires_a_valid_token_and_the_right_role(client, runtime):
    a = make_tenant(runtime, "alpha")
    unit = make_org_unit(runtime, a, "a-ward")
    consultant = make_user(runtime, a, roles=["consultant"])
    assert client.get("/t/alpha/api/v1/org-units").status_code == 401
    assert client.get("/t/alpha/api/v1/org-units", headers=_auth("tsu_forged")).status_code == 401
    assert client.get("/t/alpha/api/v1/org-units", headers=_auth(consultant.token)).status_code == 200
    denied = client.patch(
        f"/t/alpha/api/v1/org-units/{unit.id}", json={"name": "x"}, headers=_auth(consultant.token)
    )
    assert denied.status_code == 403
