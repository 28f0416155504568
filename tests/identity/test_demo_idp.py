"""The demo's local provider: a user per role in every preset tenant, and signing in with them works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.factories import tenant_row
from tests.support.oidc import start_provider
from tsunagu.core.session import transaction
from tsunagu.identity.devidp import demo_users, provider_users
from tsunagu.identity.models import ALL_ROLES, User
from tsunagu.identity.services import user_access
from tsunagu.tenancy.models import OrgUnit
from tsunagu.tenancy.presets import load_presets
from tsunagu.tenancy.sync import sync_presets

REPO = Path(__file__).resolve().parents[2]


def test_every_preset_tenant_has_a_demo_user_for_every_role():
    presets = {p.slug: p for p in load_presets(REPO / "tenants")}
    users = demo_users()
    for slug, preset in presets.items():
        mine = [u for u in users if u.tenant == slug]
        assert {u.role for u in mine} == ALL_ROLES, slug
        domains = preset.settings["identity_provider"]["allowed_email_domains"]
        codes = {u.code for u in preset.org_units}
        for user in mine:
            assert user.email.split("@")[1] in domains
            assert user.org_unit is None or user.org_unit in codes
    yokohama = {u.email: u for u in users if u.tenant == "yokohama"}
    assert yokohama["consultant@yokohama.example"].claims["ward"] == "kohoku"
    assert yokohama["consultant-tsurumi@yokohama.example"].claims["ward"] == "tsurumi"


@pytest.fixture(scope="module")
def demo_provider():
    provider = start_provider(provider_users(demo_users()))
    yield provider
    provider.stop()


def test_the_demo_consultant_signs_in_to_yokohama_in_kohoku(runtime, demo_provider):
    from tests.support.oidc import app_with_idp_secret, sign_in

    sync_presets(runtime, REPO / "tenants")
    app = app_with_idp_secret(runtime, env="development", demo_idp_url=demo_provider.issuer)
    client = app.test_client()
    login = client.get("/t/yokohama/auth/login").get_data(as_text=True)
    assert "consultant@yokohama.example" in login and "デモ用ユーザー" in login

    landing = sign_in(client, "", "yokohama", "consultant@yokohama.example")  # the provider's own demo user
    assert landing in ("/t/yokohama/inbox", "/t/yokohama/")
    assert client.get(landing).status_code == 200
    tenant = tenant_row(runtime, "yokohama")
    with transaction(runtime.sessions, tenant.id) as session:
        user = session.execute(select(User).where(User.email == "consultant@yokohama.example")).scalar_one()
        roles, units = user_access(session, user.id)
        kohoku = session.execute(select(OrgUnit.id).where(OrgUnit.code == "kohoku")).scalar_one()
    assert roles == ["consultant"] and units == [kohoku]
    assert user.issuer == demo_provider.issuer


def test_the_demo_override_is_refused_in_production():
    from tsunagu.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="TSUNAGU_DEMO_IDP_URL"):
        Settings.from_env(
            {
                "TSUNAGU_ENV": "production",
                "TSUNAGU_SECRET_KEY": "x" * 40,
                "TSUNAGU_DATABASE_URL": "postgresql://app@db/tsunagu",
                "TSUNAGU_DEMO_IDP_URL": "http://localhost:8001",
            }
        )


def test_the_demo_command_prints_the_url_and_users():
    out = subprocess.run(
        [sys.executable, "-m", "tsunagu.identity.devidp", "users", "http://localhost:8001"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    assert "http://localhost:8001" in out
    assert "/t/yokohama/auth/login" in out and "consultant@yokohama.example" in out and "港北区" in out


def test_the_demo_sign_in_page_groups_the_users_by_tenant_with_unit_names():
    from tsunagu.identity.devidp import provider_app

    client = provider_app().test_client()
    query = "response_type=code&client_id=demo&redirect_uri=http://localhost/cb&scope=openid&nonce=n&state=s"
    page = client.get(f"/oauth2/authorize?{query}").get_data(as_text=True)
    presets = load_presets(REPO / "tenants")
    headings = [page.index(f'<h2 id="t-{p.slug}">{p.name}') for p in presets]
    assert headings == sorted(headings) and len(headings) == len(presets)  # one section per tenant
    yokohama = page[page.index('<h2 id="t-yokohama">') :]
    yokohama = yokohama[: yokohama.index("</section>")]
    assert "相談支援員・港北区" in yokohama and "相談支援員・鶴見区" in yokohama
    assert "consultant@yokohama.example" in yokohama and "iwamizawa" not in yokohama
    assert "kohoku" not in yokohama  # unit names, not codes
    assert page.count('name="sub"') == len(demo_users())  # the form posts back to the mock's endpoint


def test_demo_user_names_shown_in_the_header_never_nest_parentheses():
    import re

    nested = re.compile(r"[（(][^）)]*[（(]")
    names = [u.name for u in demo_users()]
    assert "つなぐ市 相談支援員・つなぐ市くらし相談センター（委託）" in names
    assert [n for n in names if nested.search(n)] == []
