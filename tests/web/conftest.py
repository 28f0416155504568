"""Fixtures for the web UI tests: the Yokohama preset, staff users, and signed-in clients and browsers.

Everyone signs in for real through the local OpenID provider (``tests/support/oidc.py``): ``act_as`` walks the
redirects with a Flask test client, ``sign_in`` presses the provider's button in Chromium (``tests/support/
live.py`` serves the app). ``Browser`` keeps the CSRF token the pages hand out for its form posts.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.factories import make_user, tenant_row
from tsunagu.core.session import transaction
from tsunagu.tenancy.models import OrgUnit, Tenant

REPO = Path(__file__).resolve().parents[2]
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
DOMAIN = "example.jp"


@pytest.fixture
def yokohama(runtime) -> Tenant:
    from tsunagu.tenancy.sync import sync_presets

    sync_presets(runtime, REPO / "tenants")
    return tenant_row(runtime, "yokohama")


def org_unit(runtime, tenant: Tenant, code: str) -> OrgUnit:
    with transaction(runtime.sessions, tenant.id) as session:
        return session.execute(select(OrgUnit).where(OrgUnit.code == code)).scalar_one()


@dataclass
class Browser:
    """A test client acting as one user: ``get``/``post`` with the CSRF token of the last page."""

    client: FlaskClient
    slug: str
    user_id: uuid.UUID
    roles: frozenset[str]
    token: str = ""

    def url(self, path: str) -> str:
        return f"/t/{self.slug}{path}"

    def get(self, path: str, **kw: Any) -> Any:
        response = self.client.get(self.url(path), **kw)
        match = _CSRF.search(response.get_data(as_text=True))
        if match:
            self.token = match.group(1)
        return response

    def post(self, path: str, data: Any = None, **kw: Any) -> Any:
        if not self.token:
            self.get("/inbox")
        body = data if data is not None else {}
        if isinstance(body, dict):
            body = {**body, "csrf_token": self.token}
        else:
            from werkzeug.datastructures import MultiDict

            body = MultiDict([*body, ("csrf_token", self.token)])
        return self.client.post(self.url(path), data=body, headers={"X-CSRF-Token": self.token}, **kw)


@pytest.fixture(scope="session")
def web_provider():
    """The local OpenID provider every web test signs in through (oidc-provider-mock over real HTTP)."""
    from tests.support.oidc import start_provider

    provider = start_provider()
    yield provider
    provider.stop()


@pytest.fixture
def app(runtime):
    """The app with the test provider's client secret (overrides the plain ``app`` fixture)."""
    from tests.support.oidc import app_with_idp_secret

    return app_with_idp_secret(runtime)


@pytest.fixture
def use_provider(runtime, web_provider):
    """``use_provider(tenant)``: point the tenant's sign-in at the test provider (once per tenant)."""
    from tests.support.oidc import configure_tenant_idp

    done: set[uuid.UUID] = set()

    def configure(tenant: Tenant) -> None:
        if tenant.id not in done:
            configure_tenant_idp(runtime, tenant, web_provider.issuer, allowed_email_domains=[DOMAIN])
            done.add(tenant.id)

    return configure


@pytest.fixture
def act_as(app, runtime, use_provider):
    """``act_as(tenant, roles=[...])`` → a :class:`Browser` (test client) signed in through the provider as a
    new user with those roles."""
    from tests.support.oidc import sign_in

    def make(
        tenant: Tenant, roles: list[str], name: str = "テスト 太郎", unit: OrgUnit | None = None
    ) -> Browser:
        use_provider(tenant)
        staff = make_staff(runtime, tenant, f"{uuid.uuid4().hex[:10]}@{DOMAIN}", name, roles, unit)
        client = app.test_client()
        sign_in(client, "", tenant.slug, staff.email, claims={"name": name, "roles": roles})
        return Browser(client, tenant.slug, staff.user_id, frozenset(roles))

    return make


# ---- browser fixtures -------------------------------------------------------------------------------------
@dataclass
class Staff:
    user_id: uuid.UUID
    email: str
    name: str
    roles: list[str]


def make_staff(
    runtime, tenant: Tenant, email: str, name: str, roles: list[str], unit: OrgUnit | None = None
) -> Staff:
    from tsunagu.identity.models import User

    # Without a unit: the roles in every unit (these tests are not about the org-unit boundary).
    made = make_user(runtime, tenant, email=email, roles=roles, org_unit=unit, all_units=unit is None)
    with transaction(runtime.sessions, tenant.id) as session:
        row = session.get(User, (tenant.id, made.user.id))
        assert row is not None
        row.display_name = name
    return Staff(user_id=made.user.id, email=email, name=name, roles=roles)


@pytest.fixture(scope="session")
def axe_audit():
    """axe-core results of every page the browser tests reach (tests/web/axe_audit.py); totals at the end."""
    from tests.web.axe_audit import AxeAudit

    audit = AxeAudit()
    yield audit
    if audit.results:
        audit.write_summary()


@pytest.fixture(scope="session")
def chromium(axe_audit):
    from playwright.sync_api import sync_playwright

    from tests.web.axe_audit import AuditedBrowser
    from tests.web.browser_support import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield AuditedBrowser(browser, axe_audit)
        browser.close()


@pytest.fixture(autouse=True)
def _accessible_pages(request):
    """Every browser test fails on a serious or critical axe-core violation on any page it reached."""
    if "chromium" not in request.fixturenames:
        yield
        return
    audit = request.getfixturevalue("axe_audit")
    browser = request.getfixturevalue("chromium")
    audit.test = request.node.nodeid
    yield
    browser.drain_all()
    # A browser test whose pages axe never saw would pass vacuously: the audit itself must have run.
    assert audit.checked(request.node.nodeid) > 0, "axe-core checked no page of this browser test"
    found = audit.blocking(request.node.nodeid)
    assert not found, "axe-core: serious/critical accessibility violations:\n" + "\n".join(found)


@pytest.fixture
def live_server(app):
    from tests.support.live import live_server as serve

    with serve(app) as base_url:  # http://localhost:<port>, like the provider
        yield base_url


@pytest.fixture
def sign_in(chromium, live_server, use_provider, web_provider):
    """``sign_in(staff, tenant)`` → a Playwright page (own browser context) signed in as ``staff`` through
    the provider's authorization page, landing on the inbox."""
    from tests.web.browser_support import DESKTOP

    contexts = []
    console: list[str] = []

    def open_page(staff: Staff, tenant: Tenant, *, javascript: bool = True, viewport: dict | None = None):
        use_provider(tenant)
        web_provider.add_user(staff.email, {"email": staff.email, "name": staff.name, "roles": staff.roles})
        context = chromium.new_context(
            viewport=viewport or DESKTOP, java_script_enabled=javascript, locale="ja-JP"
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        inbox = f"{live_server}/t/{tenant.slug}/inbox"
        page.goto(inbox)  # not signed in: the sign-in page, then the provider
        page.goto(f"{live_server}/t/{tenant.slug}/auth/start?next=/t/{tenant.slug}/inbox")
        page.locator('input[name="sub"]').fill(staff.email)
        page.get_by_role("button", name="Authorize").click()
        page.wait_for_url(inbox)
        return page

    yield open_page
    for context in contexts:
        context.close()
    blocked = [m for m in console if "Content Security Policy" in m or "Refused to" in m]
    assert not blocked, f"the browser blocked something: {blocked}"
