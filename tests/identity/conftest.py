"""Fixtures for sign-in tests: a real OpenID provider, tenants pointing at it, a movable clock.

``oidc_provider`` (session): oidc-provider-mock on a free port. ``idp_tenant``: factory
``idp_tenant(slug, **identity_provider_overrides) -> Tenant``. ``idp_app`` / ``idp_client``: the app with the
test client secret. ``clock``: ``clock.advance(minutes=31)`` moves the app's "now" for session timeouts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import make_tenant
from tests.support.oidc import Provider, app_with_idp_secret, configure_tenant_idp, start_provider
from tsunagu.core.db import utcnow
from tsunagu.core.runtime import Runtime
from tsunagu.identity.state import set_clock
from tsunagu.tenancy.models import Tenant


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[Provider]:
    provider = start_provider()
    yield provider
    provider.stop()


@pytest.fixture
def idp_app(runtime: Runtime) -> Flask:
    return app_with_idp_secret(runtime)


@pytest.fixture
def idp_client(idp_app: Flask) -> FlaskClient:
    return idp_app.test_client()


@pytest.fixture
def idp_tenant(runtime: Runtime, oidc_provider: Provider) -> Callable[..., Tenant]:
    def make(slug: str, **overrides: object) -> Tenant:
        tenant = make_tenant(runtime, slug)
        issuer = str(overrides.pop("issuer", oidc_provider.issuer))
        configure_tenant_idp(runtime, tenant, issuer, **overrides)
        return tenant

    return make


class Clock:
    """A clock that stands still until told to move."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(idp_app: Flask) -> Clock:
    c = Clock()
    set_clock(idp_app, c)
    return c
