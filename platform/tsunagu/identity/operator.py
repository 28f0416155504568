"""Platform operators (``/operator/``): their own OpenID provider and allowlist; tenants and health only.

Operators list and create tenants and look at the platform's health. No route here reads or writes case data
(cases, persons, tasks, process instances): the registry is read and a tenant created only through the narrow
functions of ``tenancy.services`` (public columns only), and, when a tenant is created with a first
administrator, that tenant's ``user_account`` / ``membership`` are written with the new tenant bound.

Suspending and reactivating a tenant are **not** web actions: the web process connects as the application
role, which has no privilege on ``tenant.status`` (migration 0006), so a compromised or buggy request cannot
suspend a tenant either. They go through the owner path — ``tsunagu tenants suspend|activate SLUG`` or the
tenant's preset and ``tsunagu tenants sync`` — which the page shows next to each tenant.

Configured by ``TSUNAGU_OPERATOR_ISSUER``, ``TSUNAGU_OPERATOR_CLIENT_ID``, ``TSUNAGU_OPERATOR_CLIENT_SECRET``
and ``TSUNAGU_OPERATOR_EMAILS``; without them ``/operator/`` answers 404.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from sqlalchemy.exc import IntegrityError

from ..core.db import utcnow
from ..core.session import transaction
from ..tenancy.presets import SLUG_RE
from ..tenancy.services import TenantListing, find_tenant, list_tenants, register_tenant
from ..web.requests import runtime
from .models import Membership, Role, User
from .oidc import ProviderConfig, SignInError, operator_provider_config
from .sessions import end_current_session, start_user_session
from .state import identity_state

log = logging.getLogger("tsunagu.operator")
operator_bp = Blueprint("operator", __name__, url_prefix="/operator", template_folder="templates")
F = TypeVar("F", bound=Callable[..., Any])
CLIENT_NAME = "operator"
OPERATOR_KEY = "operator_email"
_KANA = re.compile(r"^[ァ-ヶー・　 ]+$")
_PREFECTURE = re.compile(r"^(0[1-9]|[1-3][0-9]|4[0-7])$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _config() -> ProviderConfig:
    config = operator_provider_config(runtime().settings)
    if config is None:
        abort(404)
    return config


def current_operator() -> str | None:
    email = session.get(OPERATOR_KEY)
    if not isinstance(email, str) or email not in runtime().settings.operator_emails:
        return None
    return email


def operator_required(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _config()
        if current_operator() is None:
            return redirect(url_for("operator.login"))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _error(error: SignInError) -> tuple[str, int]:
    log.warning("operator sign-in failed: %s", error)
    return render_template(
        "identity/sign_in_error.html", error=error, tenant=None, retry_url=url_for("operator.login")
    ), error.status


@operator_bp.get("/login")
def login() -> Any:
    _config()
    if current_operator() is not None:
        return redirect(url_for("operator.index"))
    return render_template("identity/operator/login.html")


@operator_bp.get("/auth/start")
def auth_start() -> Any:
    config = _config()
    state = identity_state()
    if not state.limiter.hit(
        f"operator:signin:{request.remote_addr or 'unknown'}", runtime().settings.signin_rate_limit_per_minute
    ):
        return _error(SignInError("rate_limited", "試行が多すぎます。", "Too many sign-in attempts.", 429))
    try:
        client = state.clients.client_for(CLIENT_NAME, config)
        state.clients.metadata(client, config)
    except SignInError as exc:
        return _error(exc)
    redirect_uri = url_for("operator.auth_callback", _external=True)
    rv = client.create_authorization_url(redirect_uri)
    client.save_authorize_data(redirect_uri=redirect_uri, issuer=config.issuer, realm="operator", **rv)
    return redirect(rv["url"])


@operator_bp.get("/auth/callback")
def auth_callback() -> Any:
    config = _config()
    state = identity_state()
    if not state.limiter.hit(
        f"operator:signin:{request.remote_addr or 'unknown'}", runtime().settings.signin_rate_limit_per_minute
    ):
        return _error(SignInError("rate_limited", "試行が多すぎます。", "Too many sign-in attempts.", 429))
    try:
        client = state.clients.client_for(CLIENT_NAME, config)
        metadata = state.clients.metadata(client, config)
        state_param = request.args.get("state") or ""
        pending = client.framework.get_state_data(session, state_param) if state_param else None
        if not pending or pending.get("realm") != "operator" or pending.get("issuer") != config.issuer:
            raise SignInError(
                "invalid_state",
                "サインインの要求が見つかりません。",
                "The sign-in request is unknown or has expired.",
            )
        iss = request.args.get("iss")
        if (iss is not None and iss != config.issuer) or (
            iss is None and metadata.get("authorization_response_iss_parameter_supported")
        ):
            raise SignInError(
                "issuer_mismatch", "発行者（iss）が一致しません。", "The issuer does not match."
            )
        try:
            token = client.authorize_access_token(
                claims_options={"iss": {"essential": True, "values": [config.issuer]}}
            )
        except Exception as exc:
            raise SignInError(
                "token_rejected",
                "応答を検証できませんでした。",
                f"The response could not be verified ({exc}).",
            ) from exc
        claims = token.get("userinfo") or {}
        email = str(claims.get("email") or "").strip().lower()
        if (
            not email
            or email not in runtime().settings.operator_emails
            or claims.get("email_verified") is False
        ):
            raise SignInError(
                "not_an_operator",
                "このアカウントはプラットフォーム運用者として登録されていません。",
                "This account is not on the platform operators' list.",
                403,
            )
    except SignInError as exc:
        return _error(exc)
    start_user_session(None, {OPERATOR_KEY: email, "signed_in_at": utcnow().isoformat()})
    log.info("operator %s signed in", email)
    return redirect(url_for("operator.index"))


@operator_bp.post("/auth/logout")
def logout() -> Any:
    end_current_session()
    return redirect(url_for("operator.login"))


def _tenants() -> list[TenantListing]:
    return list_tenants(runtime())


def _outbox() -> Any:
    from ..core.outbox_admin import outbox_health

    return outbox_health(runtime())


@operator_bp.get("/")
@operator_required
def index() -> Any:
    return render_template(
        "identity/operator/index.html",
        tenants=_tenants(),
        outbox=_outbox(),
        operator=current_operator(),
        errors={},
        form={},
    )


@operator_bp.get("/health")
@operator_required
def health() -> Any:
    from ..web.views import readyz

    return readyz()


def _validate_new_tenant(form: dict[str, str]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not SLUG_RE.match(form["slug"]):
        errors["slug"] = ["英小文字・数字・ハイフン 2〜63 文字 / 2–63 of a-z, 0-9, '-'"]
    if not form["name"] or len(form["name"]) > 200:
        errors["name"] = ["1〜200 文字 / 1–200 characters"]
    if not _KANA.match(form["name_kana"]):
        errors["name_kana"] = ["全角カタカナ / katakana"]
    if not _PREFECTURE.match(form["prefecture_code"]):
        errors["prefecture_code"] = ["01〜47 / JIS X 0401 code"]
    if not form["population"].isdigit():
        errors["population"] = ["0 以上の整数 / a whole number"]
    if form["admin_email"] and not _EMAIL.match(form["admin_email"]):
        errors["admin_email"] = ["メールアドレス / an e-mail address"]
    return errors


@operator_bp.post("/tenants")
@operator_required
def create_tenant() -> Any:
    fields = ("slug", "name", "name_kana", "name_en", "prefecture_code", "population", "admin_email")
    form = {k: request.form.get(k, "").strip() for k in fields}
    form["admin_email"] = form["admin_email"].lower()
    errors = _validate_new_tenant(form)
    rt = runtime()
    if not errors and find_tenant(rt, form["slug"]) is not None:
        errors["slug"] = ["既に使われています / already taken"]
    tenant_id = None
    if not errors:
        try:
            tenant_id = register_tenant(
                rt,
                slug=form["slug"],
                name=form["name"],
                name_kana=form["name_kana"],
                name_en=form["name_en"],
                prefecture_code=form["prefecture_code"],
                population=int(form["population"]),
            )
        except IntegrityError:  # registered by someone else between the check and the insert
            errors["slug"] = ["既に使われています / already taken"]
    if errors or tenant_id is None:
        return render_template(
            "identity/operator/index.html",
            tenants=_tenants(),
            outbox=_outbox(),
            operator=current_operator(),
            errors=errors,
            form=form,
        ), 422
    if form["admin_email"]:
        # The first administrator: linked to their identity at first sign-in (by e-mail), then manages the rest.
        with transaction(rt.sessions, tenant_id) as db:
            user = User(
                tenant_id=tenant_id, email=form["admin_email"], display_name=form["admin_email"].split("@")[0]
            )
            db.add(user)
            db.flush()
            db.add(
                Membership(
                    tenant_id=tenant_id, user_id=user.id, org_unit_id=None, roles=[Role.TENANT_ADMIN.value]
                )
            )
    log.info("operator %s created tenant %s", current_operator(), form["slug"])
    return redirect(url_for("operator.index"))
