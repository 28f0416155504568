"""A real OpenID provider for tests (oidc-provider-mock over real HTTP) and a sign-in walker.

Provider::

    provider = start_provider()                 # thread, free port; provider.issuer == "http://localhost:<port>"
    provider.add_user("sub-1", {"email": "a@x.example", "name": "…", "roles": ["consultant"]})
    ...
    provider.stop()

(``tests/identity/conftest.py`` has a session-scoped ``oidc_provider`` fixture built on this.)

Tenant configuration::

    configure_tenant_idp(runtime, tenant, provider.issuer, allowed_email_domains=["x.example"])
    app = app_with_idp_secret(runtime)          # the app, with the client secret the tenant refers to

Each tenant's client secret is the file ``<SECRETS_DIR>/<slug>/oidc_client_secret`` (``TSUNAGU_SECRETS_DIR``,
a directory of this test process), written by ``configure_tenant_idp``; its ``client_secret_ref`` is the
tenant's own name, ``TSUNAGU_OIDC_<SLUG>_CLIENT_SECRET``.

Sign-in, walking the real redirects (Flask test client *or* ``requests.Session`` against a live server)::

    sign_in(client, base_url, "yokohama", "consultant@yokohama.example", claims={...})   # -> landing URL
    start_sign_in(...) -> authorize URL; authorize_at_provider(url, sub) -> callback URL;
    finish_sign_in(client, base_url, callback_url) -> response (302 on success, an error page otherwise)
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from tsunagu.config import TENANT_SECRET_FILE, oidc_client_secret_ref
from tsunagu.core.runtime import Runtime
from tsunagu.core.session import transaction
from tsunagu.tenancy.models import Tenant

CLIENT_SECRET = "test-client-secret"
#: ``TSUNAGU_SECRETS_DIR`` of the apps built here: one directory per test process.
SECRETS_DIR = Path(tempfile.mkdtemp(prefix="tsunagu-test-secrets-"))

Client = FlaskClient | requests.Session


@dataclass
class Provider:
    """A running oidc-provider-mock. ``url`` is its issuer (the mock names itself after the Host header)."""

    url: str
    _server: Any
    _thread: threading.Thread

    @property
    def issuer(self) -> str:
        return self.url

    def add_user(self, sub: str, claims: Mapping[str, Any]) -> None:
        """Register (or replace) a user and the claims the provider puts in its ID tokens."""
        register_user(self.url, sub, claims)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def start_provider(
    users: Iterable[tuple[str, Mapping[str, Any]]] = (),
    *,
    require_nonce: bool = True,
    record: list[dict[str, str]] | None = None,
) -> Provider:
    """Start oidc-provider-mock in a thread on a free port of localhost; ``users`` are ``(sub, claims)``.

    With ``record``, every request the provider receives is appended to it as ``{"path", "authorization",
    "body"}`` — what an attacker running the provider would see.
    """
    import oidc_provider_mock

    app: Any = oidc_provider_mock.app(
        require_nonce=require_nonce,
        user_claims=[oidc_provider_mock.User(sub=sub, claims=dict(claims)) for sub, claims in users],
    )
    if record is not None:
        app = _recording(app, record)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return Provider(url=f"http://localhost:{server.server_port}", _server=server, _thread=thread)


def _recording(app: Any, record: list[dict[str, str]]) -> Any:
    import io

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        record.append(
            {
                "path": str(environ.get("PATH_INFO", "")),
                "authorization": str(environ.get("HTTP_AUTHORIZATION", "")),
                "body": body.decode("utf-8", "replace"),
            }
        )
        return app(environ, start_response)

    return wsgi


def register_user(provider_url: str, sub: str, claims: Mapping[str, Any]) -> None:
    response = requests.put(f"{provider_url.rstrip('/')}/users/{sub}", json=dict(claims), timeout=10)
    response.raise_for_status()


# --- tenants ----------------------------------------------------------------------------------------------


def idp_settings(issuer: str, slug: str, **overrides: Any) -> dict[str, Any]:
    """Tenant ``slug``'s ``identity_provider`` block pointing at ``issuer`` (the test provider)."""
    block: dict[str, Any] = {
        "issuer": issuer,
        "client_id": "tsunagu-test",
        "client_secret_ref": oidc_client_secret_ref(slug),
        "scopes": ["openid", "email", "profile"],
        "claims": {"email": "email", "name": "name", "org_unit": "org_unit", "roles": "roles"},
        "allowed_email_domains": ["example.jp"],
    }
    block.update(overrides)
    return block


def write_tenant_secret(slug: str, secret: str = CLIENT_SECRET) -> Path:
    """Put tenant ``slug``'s client secret where ``TSUNAGU_SECRETS_DIR`` lookups find it."""
    path = SECRETS_DIR / slug / TENANT_SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(secret + "\n", encoding="utf-8")
    return path


def configure_tenant_idp(runtime: Runtime, tenant: Tenant, issuer: str, **overrides: Any) -> dict[str, Any]:
    """Point ``tenant`` at ``issuer`` (writes ``Tenant.settings["identity_provider"]``, as the tenant itself)
    and give it the test client secret."""
    block = idp_settings(issuer, tenant.slug, **overrides)
    write_tenant_secret(tenant.slug)
    with transaction(runtime.sessions, tenant.id) as session:
        row = session.get(Tenant, tenant.id)
        assert row is not None
        row.settings = {**(row.settings or {}), "identity_provider": block}
    tenant.settings = {**(tenant.settings or {}), "identity_provider": block}
    return block


def settings_with_idp_secret(runtime: Runtime, **overrides: Any) -> Any:
    """The runtime's settings reading tenants' client secrets from :data:`SECRETS_DIR`, plus ``overrides``."""
    return dataclasses.replace(runtime.settings, **{"secrets_dir": SECRETS_DIR, **overrides})


def app_with_idp_secret(runtime: Runtime, **settings_overrides: Any) -> Flask:
    """The Flask app on ``runtime``'s database, with the test client secret configured."""
    from tsunagu.app import create_app

    rt = dataclasses.replace(runtime, settings=settings_with_idp_secret(runtime, **settings_overrides))
    app = create_app(rt.settings, rt)
    app.config["TESTING"] = True
    return app


# --- walking the redirects ------------------------------------------------------------------------------


def _get(client: Client, base_url: str, url: str, **kwargs: Any) -> Any:
    """GET without following redirects; ``url`` may be absolute (its path is used for the test client)."""
    if isinstance(client, requests.Session):
        target = url if url.startswith("http") else base_url.rstrip("/") + url
        return client.get(target, allow_redirects=False, timeout=30, **kwargs)
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return client.get(path, **kwargs)


def _post(client: Client, base_url: str, url: str, data: Mapping[str, str]) -> Any:
    if isinstance(client, requests.Session):
        target = url if url.startswith("http") else base_url.rstrip("/") + url
        return client.post(target, data=dict(data), allow_redirects=False, timeout=30)
    return client.post(url, data=dict(data))


def status_of(response: Any) -> int:
    return int(getattr(response, "status_code", 0))


def location_of(response: Any) -> str:
    return str(response.headers.get("Location", ""))


def text_of(response: Any) -> str:
    if isinstance(response, requests.Response):
        return response.text
    return str(response.get_data(as_text=True))


def start_sign_in(client: Client, base_url: str, slug: str, next_path: str | None = None) -> str:
    """GET ``/t/<slug>/auth/start``; returns the provider's authorization URL it redirects to."""
    url = f"/t/{slug}/auth/start" + (f"?next={requests.utils.quote(next_path, safe='')}" if next_path else "")
    response = _get(client, base_url, url)
    assert status_of(response) == 302, f"sign-in did not redirect to the provider: {status_of(response)}"
    return location_of(response)


def authorize_at_provider(authorize_url: str, sub: str) -> str:
    """Press the provider's "authorize" button as ``sub``; returns the callback URL it redirects to."""
    response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=30)
    assert response.status_code == 302, f"the provider refused: {response.status_code} {response.text[:300]}"
    return str(response.headers["Location"])


def finish_sign_in(client: Client, base_url: str, callback_url: str) -> Any:
    """GET the callback URL (in the tenant's own browser session); returns the response."""
    return _get(client, base_url, callback_url)


def provider_origin(authorize_url: str) -> str:
    parts = urlsplit(authorize_url)
    return f"{parts.scheme}://{parts.netloc}"


def sign_in(
    client: Client,
    base_url: str,
    slug: str,
    email: str,
    *,
    sub: str | None = None,
    claims: Mapping[str, Any] | None = None,
    next_path: str | None = None,
) -> str:
    """Sign in at tenant ``slug`` as ``email`` through the real provider; returns where the app sends the user.

    ``claims`` (optional) are registered at the provider for the user first (``email`` is added); without
    them the provider's existing user ``sub`` (default: ``email``) is used as is.
    """
    subject = sub or email
    authorize_url = start_sign_in(client, base_url, slug, next_path)
    if claims is not None:
        register_user(provider_origin(authorize_url), subject, {"email": email, **claims})
    callback_url = authorize_at_provider(authorize_url, subject)
    response = finish_sign_in(client, base_url, callback_url)
    assert status_of(response) == 302, f"sign-in failed ({status_of(response)}): {text_of(response)[:500]}"
    return location_of(response)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = _CSRF.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1)


def sign_out(client: Client, base_url: str, slug: str) -> Any:
    """POST the sign-out form of the account page (with its CSRF token); returns the response."""
    page = _get(client, base_url, f"/t/{slug}/account")
    assert status_of(page) == 200, f"not signed in at {slug}: {status_of(page)}"
    return _post(client, base_url, f"/t/{slug}/auth/logout", {"csrf_token": csrf_from(text_of(page))})
