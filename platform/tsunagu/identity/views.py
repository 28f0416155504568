"""Sign-in and sign-out at ``/t/<slug>/auth/...`` (OpenID Connect), and the account page.

``/auth/login``    the sign-in page (Japanese with English); in the demo it lists the demo users
``/auth/start``    starts the authorization code flow: PKCE S256, state and nonce, redirect to the provider
``/auth/callback`` the redirect URI registered at the provider: checks, token exchange, ID token, session
``/auth/logout``   POST: ends the server-side session, then the provider's session (end_session_endpoint)
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client import OAuthError
from flask import flash, g, redirect, render_template, request, session, url_for
from joserfc.errors import JoseError as JoseRfcError
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response

from ..tenancy.models import Tenant
from ..web.blueprints import tenant_bp
from ..web.paths import safe_tenant_path
from ..web.requests import db, runtime
from . import events, services
from .auth import current_principal, login_required
from .csrf import SESSION_KEY as CSRF_KEY
from .oidc import ProviderConfig, SignInError, tenant_client_name, tenant_provider_config
from .sessions import end_current_session, session_expired, start_user_session
from .state import identity_state, now

log = logging.getLogger("tsunagu.identity")

#: Keys of the signed-in session (besides the CSRF token).
USER_KEY = "uid"
ID_TOKEN_KEY = "id_token"  # noqa: S105 - a session key, not a secret


def safe_next(raw: str | None, slug: str) -> str | None:
    """Only a path inside this tenant (``web.paths``: no other site or tenant, no CR/LF, no dot segments),
    and not the sign-in pages themselves."""
    target = safe_tenant_path(raw, slug)
    if target is None or urlsplit(target).path.startswith(f"/t/{slug}/auth/"):
        return None
    return target


def landing_url() -> str:
    """After sign-in: the inbox, or the tenant's home until the inbox page exists."""
    try:
        return url_for("tenant.inbox.index")
    except BuildError:
        pass
    try:
        return url_for("inbox.index")
    except BuildError:
        return url_for("tenant.home")


def _tenant() -> Tenant:
    tenant = db().get(Tenant, g.tenant.id)
    assert tenant is not None
    return tenant


def _config() -> ProviderConfig:
    return tenant_provider_config(runtime().settings, g.tenant.slug, _tenant().settings or {})


def sign_in_error(error: SignInError) -> tuple[str, int]:
    log.warning("sign-in failed at tenant %s: %s", g.tenant.slug, error)
    events.emit(
        events.SecurityEvent(
            "auth.sign_in_failed",
            label="anonymous",
            details={"code": error.code, "status": error.status, "address": request.remote_addr or ""},
        )
    )
    return render_template(
        "identity/sign_in_error.html", error=error, tenant=_tenant(), retry_url=url_for("tenant.auth_login")
    ), error.status


def _rate_limited() -> SignInError | None:
    limit = runtime().settings.signin_rate_limit_per_minute
    key = f"t:{g.tenant.id}:signin:{request.remote_addr or 'unknown'}"
    if identity_state().limiter.hit(key, limit):
        return None
    return SignInError(
        "rate_limited",
        "サインインの試行が多すぎます。1分ほど待ってからもう一度お試しください。",
        "Too many sign-in attempts from this address; wait a minute and try again.",
        429,
    )


@tenant_bp.get("/auth/login")
def auth_login() -> Any:
    slug = g.tenant.slug
    target = safe_next(request.args.get("next"), slug)
    if current_principal() is not None:
        return redirect(target or landing_url())
    settings = runtime().settings
    demo_users: list[Any] = []
    if settings.demo_idp_url and settings.env != "production":
        from .devidp import demo_users_for

        demo_users = demo_users_for(slug, settings.tenants_dir)
    return render_template(
        "identity/login.html",
        tenant=_tenant(),
        start_url=url_for("tenant.auth_start", next=target) if target else url_for("tenant.auth_start"),
        expired=session_expired() or request.args.get("expired") == "1",
        demo_users=demo_users,
        demo_idp_url=settings.demo_idp_url,
    )


@tenant_bp.get("/auth/start")
def auth_start() -> Any:
    limited = _rate_limited()
    if limited:
        return sign_in_error(limited)
    try:
        config = _config()
        state = identity_state()
        client = state.clients.client_for(tenant_client_name(g.tenant.id), config)
        state.clients.metadata(client, config)
        target = safe_next(request.args.get("next"), g.tenant.slug)
        redirect_uri = url_for("tenant.auth_callback", _external=True)
        extra: dict[str, Any] = {}
        if config.required_acr:
            extra["acr_values"] = config.required_acr
        rv = client.create_authorization_url(redirect_uri, **extra)
    except SignInError as exc:
        return sign_in_error(exc)
    # Authlib keeps state → {nonce, code_verifier, redirect_uri} in this tenant's server-side session; the
    # tenant, issuer and destination go with it and are checked again at the callback.
    client.save_authorize_data(
        redirect_uri=redirect_uri,
        tenant_id=str(g.tenant.id),
        issuer=config.issuer,
        next=target,
        **rv,
    )
    return redirect(rv["url"])


@tenant_bp.get("/auth/callback")
def auth_callback() -> Any:
    limited = _rate_limited()
    if limited:
        return sign_in_error(limited)
    try:
        return _complete_sign_in()
    except SignInError as exc:
        return sign_in_error(exc)


def _complete_sign_in() -> Response:
    config = _config()
    state = identity_state()
    client = state.clients.client_for(tenant_client_name(g.tenant.id), config)
    metadata = state.clients.metadata(client, config)

    state_param = request.args.get("state") or ""
    pending = client.framework.get_state_data(session, state_param) if state_param else None
    if not pending:
        raise SignInError(
            "invalid_state",
            "サインインの要求が見つからないか、期限が切れています（別のタブや自治体で開始された可能性があります）。"
            "もう一度サインインしてください。",
            "The sign-in request is unknown or has expired (it may have been started in another tab or at "
            "another municipality). Please sign in again.",
        )
    if pending.get("tenant_id") != str(g.tenant.id) or pending.get("issuer") != config.issuer:
        client.framework.clear_state_data(session, state_param)
        raise SignInError(
            "tenant_mismatch",
            "このサインインは別の自治体または別のIDプロバイダー向けに開始されました。",
            "This sign-in was started for another municipality or identity provider.",
        )
    # RFC 9207: a provider that identifies itself in the response must be the one we sent the person to.
    iss = request.args.get("iss")
    if (iss is not None and iss != config.issuer) or (
        iss is None and metadata.get("authorization_response_iss_parameter_supported")
    ):
        client.framework.clear_state_data(session, state_param)
        raise SignInError(
            "issuer_mismatch",
            "認可応答の発行者（iss）が一致しません。",
            f"The authorization response names issuer {iss!r}, not {config.issuer!r}.",
        )
    if request.args.get("error"):
        client.framework.clear_state_data(session, state_param)
        raise SignInError(
            "provider_error",
            "IDプロバイダーでサインインが取り消されたか、失敗しました。",
            f"The identity provider answered: {request.args.get('error')} "
            f"{request.args.get('error_description') or ''}".strip(),
            403 if request.args.get("error") == "access_denied" else 400,
        )
    try:
        # Clears the state (one use), exchanges the code with the PKCE verifier, validates the ID token:
        # signature (provider's JWKS), iss = the configured issuer, aud, exp/iat, and nonce.
        token = client.authorize_access_token(
            claims_options={"iss": {"essential": True, "values": [config.issuer]}}
        )
    except (OAuthError, AuthlibBaseError, JoseRfcError) as exc:
        raise SignInError(
            "token_rejected",
            "IDプロバイダーからの応答を検証できませんでした（コードの再利用、nonce や issuer の不一致など）。"
            "もう一度サインインしてください。",
            f"The provider's response could not be verified ({type(exc).__name__}: {exc}).",
        ) from exc
    except Exception as exc:  # network errors from the token endpoint
        raise SignInError(
            "token_exchange_failed",
            "IDプロバイダーとの通信に失敗しました。もう一度お試しください。",
            f"The token request failed ({type(exc).__name__}).",
            502,
        ) from exc
    claims = token.get("userinfo")
    if not claims or not token.get("id_token"):
        raise SignInError(
            "id_token_missing",
            "IDプロバイダーから ID トークンが届きませんでした。",
            "The provider sent no ID token.",
        )
    merged = dict(claims)
    if metadata.get("userinfo_endpoint") and not _has_mapped_claims(config, merged):
        merged = _with_userinfo(client, token, merged)
    read = services.read_claims(config, merged)
    services.check_assurance(config, read)
    user = services.provision_user(db(), read)
    if user.language is None:  # until the user chooses (account page), the browser's preference
        user.language = request.accept_languages.best_match(USER_LANGUAGES)
    start_user_session(
        user.id,
        {
            USER_KEY: str(user.id),
            ID_TOKEN_KEY: token["id_token"],
            "signed_in_at": now().isoformat(),
            "iss": read.issuer,
        },
    )
    log.info("user %s signed in to tenant %s", user.id, g.tenant.slug)
    events.emit(events.SecurityEvent("auth.sign_in", user.id, user.email, {"issuer": read.issuer}))
    return redirect(pending.get("next") or landing_url())


def _has_mapped_claims(config: ProviderConfig, claims: dict[str, Any]) -> bool:
    wanted = [config.claim(k) for k in ("email", "name", "roles", "org_unit")]
    return all(name in claims for name in wanted if name)


def _with_userinfo(client: Any, token: dict[str, Any], claims: dict[str, Any]) -> dict[str, Any]:
    try:
        info = client.userinfo(token=token)
    except Exception:  # userinfo is a supplement; the ID token alone may suffice
        log.warning("userinfo request failed", exc_info=True)
        return claims
    if str(info.get("sub")) != str(claims.get("sub")):
        return claims  # OpenID Connect Core 5.3.2: a different subject must not be used
    return {**dict(info), **claims}


@tenant_bp.post("/auth/logout")
def auth_logout() -> Any:
    id_token = session.get(ID_TOKEN_KEY)
    principal = current_principal()
    if principal is not None:
        events.emit(events.principal_event("auth.sign_out", principal))
    end_current_session()
    signed_out = url_for("tenant.auth_signed_out", _external=True)
    try:
        config = _config()
        state = identity_state()
        client = state.clients.client_for(tenant_client_name(g.tenant.id), config)
        metadata = state.clients.metadata(client, config)
    except SignInError:
        return redirect(signed_out)
    if not metadata.get("end_session_endpoint"):
        return redirect(signed_out)
    result = client.create_logout_url(
        post_logout_redirect_uri=signed_out, id_token_hint=id_token, client_id=config.client_id
    )
    return redirect(result["url"])


@tenant_bp.get("/auth/signed-out")
def auth_signed_out() -> Any:
    return render_template(
        "identity/signed_out.html", tenant=_tenant(), login_url=url_for("tenant.auth_login")
    )


USER_LANGUAGES = ("ja", "en")


@tenant_bp.post("/account/language")
@login_required
def account_language() -> Any:
    """The user's language for e-mail (and, through the cookie, for pages)."""
    from ..core.errors import ValidationFailed
    from .models import User

    principal = current_principal()
    assert principal is not None
    chosen = request.form.get("language", "")
    if chosen not in USER_LANGUAGES:
        raise ValidationFailed(
            "言語は ja か en です / language must be ja or en", details={"language": ["ja, en"]}
        )
    user = db().get(User, (principal.tenant_id, principal.user_id))
    assert user is not None
    user.language = chosen
    flash("言語を保存しました / saved your language", "success")
    response = redirect(url_for("tenant.account"))
    response.set_cookie(
        "lang", chosen, max_age=365 * 24 * 3600, samesite="Lax", httponly=True, secure=request.is_secure
    )
    return response


@tenant_bp.get("/account")
@login_required
def account() -> Any:
    from ..tenancy.models import OrgUnit

    principal = current_principal()
    assert principal is not None
    roles, unit_ids = services.user_access(db(), principal.user_id)
    units = []
    if unit_ids:
        from sqlalchemy import select

        units = list(
            db().execute(select(OrgUnit).where(OrgUnit.id.in_(unit_ids)).order_by(OrgUnit.code)).scalars()
        )
    from .models import User

    user = db().get(User, (principal.tenant_id, principal.user_id))
    return render_template(
        "identity/account.html",
        language=user.language if user else None,
        tenant=_tenant(),
        principal=principal,
        roles=roles,
        units=units,
        signed_in_at=session.get("signed_in_at"),
        csrf_key=CSRF_KEY,
    )
