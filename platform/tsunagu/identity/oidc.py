"""Per-tenant OpenID Connect clients (Authlib's Flask client), built lazily and cached per configuration.

Each tenant signs in at its own provider (``Tenant.settings["identity_provider"]``, from its preset or edited by
a tenant administrator). A client is built on first use and kept with a fingerprint of the configuration it
came from, so an administrator's change takes effect on the next sign-in without a restart.

Security properties (checked here and in ``views.py``):

* authorization code flow, PKCE ``S256``, ``state`` and ``nonce`` (Authlib generates and checks them);
* the configured issuer must equal the discovery document's ``issuer`` and the ID token's ``iss``, and the
  callback's ``iss`` parameter when the provider sends one (RFC 9207);
* the state is kept in the *tenant's* server-side session and records the tenant: a sign-in started at one
  tenant cannot be completed at another.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from authlib.integrations.flask_client import FlaskIntegration, FlaskOAuth2App

from ..config import ForeignSecretRef, Settings

#: Discovery documents are fetched again after this long (keys and endpoints rotate).
METADATA_MAX_AGE = 6 * 3600
HTTP_TIMEOUT = 10
#: Secret used when ``TSUNAGU_DEMO_IDP_URL`` points every tenant at the demo provider (which accepts any).
DEMO_CLIENT_SECRET = "tsunagu-demo-secret"  # noqa: S105 - the demo provider accepts any secret


class SignInError(Exception):
    """Sign-in failed in a way the person can be told about, in Japanese and English."""

    def __init__(self, code: str, message_ja: str, message_en: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message_en}")
        self.code = code
        self.message_ja = message_ja
        self.message_en = message_en
        self.status = status


@dataclass(frozen=True)
class ProviderConfig:
    """A tenant's (or the operators') identity provider, with the secret resolved."""

    issuer: str
    client_id: str
    client_secret: str | None
    client_secret_ref: str
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    claims: Mapping[str, str] = field(default_factory=dict)
    allowed_email_domains: tuple[str, ...] = ()
    required_acr: str | None = None

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    @property
    def fingerprint(self) -> str:
        raw = json.dumps(
            {
                "issuer": self.issuer,
                "client_id": self.client_id,
                "secret": hashlib.sha256((self.client_secret or "").encode()).hexdigest(),
                "scopes": self.scopes,
                "claims": dict(self.claims),
                "domains": self.allowed_email_domains,
                "acr": self.required_acr,
            },
            sort_keys=True,
        )
        return hashlib.sha256(raw.encode()).hexdigest()

    def claim(self, key: str) -> str | None:
        """The claim name the tenant maps ``key`` (email, name, org_unit, roles) to, if any."""
        value = self.claims.get(key)
        return value or None


def tenant_provider_config(
    settings: Settings, slug: str, tenant_settings: Mapping[str, Any]
) -> ProviderConfig:
    """The effective provider of tenant ``slug``: its settings, with the demo provider swapped in when configured.

    The client secret is the tenant's own (``Settings.tenant_client_secret``): a ``client_secret_ref`` naming
    any other variable — the database URL, the signing key, another tenant's secret — is refused here, before
    a client is built, so no request ever carries a foreign secret to the tenant's provider.

    ``TSUNAGU_DEMO_IDP_URL`` (never in production) is read here, at sign-in time, rather than written into the
    tenants at sync: the presets and the database keep the real configuration, and the demo only changes
    where this process sends people to sign in.
    """
    idp = tenant_settings.get("identity_provider")
    if not isinstance(idp, Mapping) or not idp.get("issuer") or not idp.get("client_id"):
        raise SignInError(
            "not_configured",
            "この自治体のサインイン（IDプロバイダー）が設定されていません。管理者に連絡してください。",
            "Sign-in (the identity provider) is not configured for this municipality; contact the administrator.",
            503,
        )
    ref = str(idp.get("client_secret_ref") or "")
    try:
        secret = settings.tenant_client_secret(slug, ref)
    except ForeignSecretRef as exc:
        raise SignInError(
            "secret_ref_refused",
            "IDプロバイダーの設定が不正です（クライアントシークレットの参照先がこの自治体のものではありません）。"
            "管理者に連絡してください。",
            f"The identity provider is misconfigured: client_secret_ref must be {exc.expected}, "
            f"not {ref!r}; contact the administrator.",
            503,
        ) from exc
    issuer = str(idp["issuer"])
    if settings.demo_idp_url and settings.env != "production":
        issuer = settings.demo_idp_url
        secret = secret or DEMO_CLIENT_SECRET
    claims = idp.get("claims") or {}
    return ProviderConfig(
        issuer=issuer,
        client_id=str(idp["client_id"]),
        client_secret=secret,
        client_secret_ref=ref,
        scopes=tuple(idp.get("scopes") or ("openid", "email", "profile")),
        claims={str(k): str(v) for k, v in claims.items() if v},
        allowed_email_domains=tuple(str(d).lower() for d in idp.get("allowed_email_domains") or ()),
        required_acr=str(idp["required_acr"]) if idp.get("required_acr") else None,
    )


def operator_provider_config(settings: Settings) -> ProviderConfig | None:
    if not settings.operator_sign_in_configured:
        return None
    assert settings.operator_issuer and settings.operator_client_id
    return ProviderConfig(
        issuer=settings.operator_issuer,
        client_id=settings.operator_client_id,
        client_secret=settings.operator_client_secret,
        client_secret_ref="TSUNAGU_OPERATOR_CLIENT_SECRET",  # noqa: S106 - the variable's name
        claims={"email": "email", "name": "name"},
    )


class ClientRegistry:
    """One Authlib client per tenant (``tenant_<id>``) and one for the operators, rebuilt when the
    configuration's fingerprint changes or the discovery document is older than :data:`METADATA_MAX_AGE`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, tuple[str, FlaskOAuth2App]] = {}

    def client_for(self, name: str, config: ProviderConfig) -> FlaskOAuth2App:
        if not config.client_secret:
            raise SignInError(
                "secret_missing",
                "IDプロバイダーのクライアントシークレットが設定されていません。管理者に連絡してください。",
                f"The client secret is missing: set the environment variable {config.client_secret_ref}.",
                503,
            )
        with self._lock:
            cached = self._clients.get(name)
            if cached is not None and cached[0] == config.fingerprint:
                loaded = cached[1].server_metadata.get("_loaded_at")
                if loaded is None or time.time() - float(loaded) < METADATA_MAX_AGE:
                    return cached[1]
            client = FlaskOAuth2App(
                FlaskIntegration(name),
                name=name,
                client_id=config.client_id,
                client_secret=config.client_secret,
                server_metadata_url=config.discovery_url,
                client_kwargs={
                    "scope": " ".join(config.scopes),
                    "code_challenge_method": "S256",
                    "default_timeout": HTTP_TIMEOUT,
                },
            )
            self._clients[name] = (config.fingerprint, client)
            return client

    def forget(self, name: str) -> None:
        with self._lock:
            self._clients.pop(name, None)

    def metadata(self, client: FlaskOAuth2App, config: ProviderConfig) -> dict[str, Any]:
        """The provider's discovery document, after checking that it speaks for the configured issuer."""
        try:
            metadata: dict[str, Any] = client.load_server_metadata()
        except (requests.RequestException, ValueError) as exc:
            raise SignInError(
                "provider_unreachable",
                "IDプロバイダーに接続できません。しばらくしてからもう一度お試しください。",
                f"The identity provider cannot be reached ({type(exc).__name__}); try again later.",
                502,
            ) from exc
        check_discovery(metadata, config.issuer)
        return metadata


def tenant_client_name(tenant_id: uuid.UUID) -> str:
    return f"tenant_{tenant_id.hex}"


def check_discovery(metadata: Mapping[str, Any], issuer: str) -> None:
    if metadata.get("issuer") != issuer:
        raise SignInError(
            "issuer_mismatch",
            "IDプロバイダーの発行者（issuer）が設定と一致しません。管理者に連絡してください。",
            f"The provider's discovery document names issuer {metadata.get('issuer')!r}, "
            f"but {issuer!r} is configured.",
            502,
        )
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not metadata.get(key):
            raise SignInError(
                "discovery_incomplete",
                "IDプロバイダーの設定情報が不完全です。管理者に連絡してください。",
                f"The provider's discovery document has no {key}.",
                502,
            )


@dataclass(frozen=True)
class ConnectionReport:
    """What "test connection" found (admin page)."""

    ok: bool
    discovery_url: str
    issuer: str | None = None
    problems: tuple[str, ...] = ()
    endpoints: Mapping[str, str] = field(default_factory=dict)
    scopes_supported: tuple[str, ...] = ()
    pkce_s256: bool | None = None
    iss_parameter: bool = False


def check_connection(config: ProviderConfig) -> ConnectionReport:
    """Fetch the discovery document and say what is wrong with it, without signing anyone in."""
    url = config.discovery_url
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT, allow_redirects=False)
        response.raise_for_status()
        metadata = response.json()
        if not isinstance(metadata, dict):
            raise ValueError("not a JSON object")
    except (requests.RequestException, ValueError) as exc:
        return ConnectionReport(
            ok=False, discovery_url=url, problems=(f"取得できません / cannot fetch: {exc}",)
        )
    problems: list[str] = []
    if metadata.get("issuer") != config.issuer:
        problems.append(
            f"issuer が一致しません / issuer mismatch: discovery {metadata.get('issuer')!r}, "
            f"configured {config.issuer!r}"
        )
    endpoints = {
        k: str(metadata[k])
        for k in (
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "userinfo_endpoint",
            "end_session_endpoint",
        )
        if metadata.get(k)
    }
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if key not in endpoints:
            problems.append(f"{key} がありません / missing {key}")
    methods = metadata.get("code_challenge_methods_supported")
    pkce = None if methods is None else "S256" in methods
    if pkce is False:
        problems.append("PKCE S256 に対応していません / PKCE S256 not supported")
    supported = tuple(metadata.get("scopes_supported") or ())
    missing_scopes = [s for s in config.scopes if supported and s not in supported]
    if missing_scopes:
        problems.append("未対応のスコープ / unsupported scopes: " + ", ".join(missing_scopes))
    return ConnectionReport(
        ok=not problems,
        discovery_url=url,
        issuer=metadata.get("issuer"),
        problems=tuple(problems),
        endpoints=endpoints,
        scopes_supported=supported,
        pkce_s256=pkce,
        iss_parameter=bool(metadata.get("authorization_response_iss_parameter_supported")),
    )
