from tests.factories import make_tenant


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_index_lists_active_tenants_only(client, runtime):
    make_tenant(runtime, "alpha", name="アルファ市")
    make_tenant(runtime, "beta", name="ベータ町", status="suspended")
    page = client.get("/").get_data(as_text=True)
    assert "アルファ市" in page
    assert "ベータ町" not in page
