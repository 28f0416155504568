"""Tenant administration pages (``/t/<slug>/admin/...``): users, API tokens, the identity provider.

Only tenant administrators (``identity.permissions``: ``admin.*``); every form carries the CSRF token.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, redirect, render_template, request, url_for
from jsonschema import Draft202012Validator
from sqlalchemy import select

from ..config import ForeignSecretRef, oidc_client_secret_ref
from ..core.errors import NotFound, ValidationFailed
from ..tenancy.models import OrgUnit, Tenant
from ..tenancy.presets import PRESET_SCHEMA
from ..web.blueprints import tenant_bp
from ..web.requests import db, parse_id, runtime
from . import events, services
from .auth import current_principal, unauthenticated_response
from .models import ALL_ROLES, ROLE_LABELS_JA, Role, User
from .oidc import ProviderConfig, check_connection, tenant_client_name, tenant_provider_config
from .permissions import authorize
from .principal import TENANT_WIDE_ROLES
from .sessions import end_user_sessions
from .state import identity_state
from .tokens import TokenRolesExceedMemberships, create_token

F = TypeVar("F", bound=Callable[..., Any])
ROLE_ORDER = [r.value for r in Role]
_IDP_SCHEMA = Draft202012Validator(PRESET_SCHEMA["properties"]["identity_provider"])


def _changed(change: str, **details: Any) -> None:
    """Report an administrator's change (the audit trail records it with the request's transaction)."""
    clean = {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in details.items()}
    events.emit(events.principal_event("admin.change", g.principal, change=change, **clean))


def admin_page(action: str) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal is None:
                return unauthenticated_response()
            authorize(principal, action)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def _tenant() -> Tenant:
    tenant = db().get(Tenant, g.tenant.id)
    assert tenant is not None
    return tenant


def _org_units() -> list[OrgUnit]:
    return list(db().execute(select(OrgUnit).order_by(OrgUnit.code)).scalars())


def _common() -> dict[str, Any]:
    return {"tenant": _tenant(), "role_order": ROLE_ORDER, "role_labels": ROLE_LABELS_JA}


# --- users ----------------------------------------------------------------------------------------------


@tenant_bp.get("/admin/")
@admin_page("admin.users")
def admin_index() -> Any:
    return redirect(url_for("tenant.admin_users"))


@tenant_bp.get("/admin/users")
@admin_page("admin.users")
def admin_users() -> Any:
    session = db()
    query = request.args.get("q", "")[:200]
    users = services.search_users(session, query)
    units = {u.id: u for u in _org_units()}
    access = {u.id: services.memberships(session, u.id) for u in users}
    return render_template(
        "identity/admin/users.html", users=users, access=access, units=units, q=query, **_common()
    )


# --- invitations: pre-registered users, linked at their first sign-in by e-mail ------------------------


def _render_invite(
    form: dict[str, Any] | None = None, errors: dict[str, list[str]] | None = None, status: int = 200
) -> Any:
    return render_template(
        "identity/admin/invite.html",
        form=form or {"roles": [], "units": []},
        errors=errors or {},
        org_units=[u for u in _org_units() if u.active],
        tenant_wide_roles=[r for r in ROLE_ORDER if r in TENANT_WIDE_ROLES],
        **_common(),
    ), status


@tenant_bp.get("/admin/users/invite")
@admin_page("admin.users")
def admin_invite() -> Any:
    return _render_invite()


def invitation_memberships(roles: list[str], units: list[str]) -> dict[uuid.UUID | None, list[str]]:
    """Roles × chosen org units; the tenant-wide roles (administrator, auditor) also without a unit.

    Raises :class:`ValidationFailed` when a role that works in an org unit is chosen without one."""
    unit_ids: list[uuid.UUID] = []
    for raw in units:
        try:
            unit_ids.append(uuid.UUID(raw))
        except ValueError:
            raise ValidationFailed(
                "invalid org unit", details={"units": ["組織が正しくありません / invalid org unit"]}
            ) from None
    wide = [r for r in roles if r in TENANT_WIDE_ROLES]
    in_unit = [r for r in roles if r not in TENANT_WIDE_ROLES]
    if in_unit and not unit_ids:
        raise ValidationFailed(
            "org unit missing",
            details={
                "units": ["この役割には組織が必要です / these roles need an org unit: " + ", ".join(in_unit)]
            },
        )
    wanted: dict[uuid.UUID | None, list[str]] = {unit: list(in_unit) for unit in unit_ids}
    if wide:
        wanted[None] = wide
    return wanted


@tenant_bp.post("/admin/users/invite")
@admin_page("admin.users")
def admin_invite_save() -> Any:
    email = request.form.get("email", "").strip()[:320]
    display_name = request.form.get("display_name", "")[:300]
    roles = [r for r in request.form.getlist("roles") if r in ALL_ROLES]
    units = request.form.getlist("units")[:200]
    form: dict[str, Any] = {"email": email, "display_name": display_name, "roles": roles, "units": units}
    domains = ((_tenant().settings or {}).get("identity_provider") or {}).get("allowed_email_domains") or ()
    # Every mistake at once: the address and the roles/units are checked independently.
    errors = services.invitation_errors(db(), email, display_name, domains)
    wanted: dict[uuid.UUID | None, list[str]] = {}
    try:
        wanted = invitation_memberships(roles, units)
    except ValidationFailed as exc:
        errors.update({k: list(v) for k, v in exc.details.items()})
    if not roles:
        errors["roles"] = ["役割を1つ以上選んでください / choose at least one role"]
    try:
        if errors:
            raise ValidationFailed("invalid invitation", details=errors)
        user = services.preregister_user(db(), email, display_name, wanted, allowed_domains=domains)
    except ValidationFailed as exc:
        return _render_invite(form, {k: list(v) for k, v in exc.details.items()}, 422)
    # The notifications module sends the invitation e-mail on this event (no import of it here).
    _changed("invite", user=user.id, email=user.email, roles=sorted(roles))
    return redirect(url_for("tenant.admin_user", user_id=user.id, invited=1))


@tenant_bp.get("/admin/users/<user_id>")
@admin_page("admin.users")
def admin_user(user_id: str) -> Any:
    return _render_user(services.get_user(db(), parse_id(user_id)))


def _render_user(
    user: User,
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
    wanted: dict[uuid.UUID | None, list[str]] | None = None,
) -> Any:
    current = wanted if wanted is not None else services.memberships(db(), user.id)
    config_claims = ((_tenant().settings or {}).get("identity_provider") or {}).get("claims") or {}
    return render_template(
        "identity/admin/user_edit.html",
        user=user,
        memberships={("tenant" if k is None else str(k)): set(v) for k, v in current.items()},
        org_units=_org_units(),
        tenant_wide_roles=[r for r in ROLE_ORDER if r in TENANT_WIDE_ROLES],
        claims_manage_roles=bool(config_claims.get("roles")),
        claims_manage_units=bool(config_claims.get("org_unit")),
        errors=errors or {},
        is_self=user.id == g.principal.user_id,
        **_common(),
    ), status


def memberships_from_form() -> dict[uuid.UUID | None, list[str]]:
    """The grid of the user page: one ``roles:<org unit id>`` (or ``roles:tenant``) checkbox list per row."""
    wanted: dict[uuid.UUID | None, list[str]] = {}
    for key in request.form:
        if not key.startswith("roles:"):
            continue
        raw = key.removeprefix("roles:")
        try:
            unit: uuid.UUID | None = None if raw == "tenant" else uuid.UUID(raw)
        except ValueError:
            raise ValidationFailed(
                "invalid org unit", details={"org_units": ["組織が正しくありません / invalid org unit"]}
            ) from None
        wanted[unit] = [r for r in request.form.getlist(key) if r in ALL_ROLES]
    return wanted


@tenant_bp.post("/admin/users/<user_id>")
@admin_page("admin.users")
def admin_user_save(user_id: str) -> Any:
    session = db()
    user = services.get_user(session, parse_id(user_id))
    try:
        wanted = memberships_from_form()
    except ValidationFailed as exc:
        return _render_user(user, {k: list(v) for k, v in exc.details.items()}, 422)
    if user.id == g.principal.user_id and not any(Role.TENANT_ADMIN.value in r for r in wanted.values()):
        return _render_user(
            user,
            {"roles": ["自分の管理者権限は外せません / you cannot remove your own admin role"]},
            422,
            wanted,
        )
    try:
        services.set_memberships(session, user, wanted)
    except ValidationFailed as exc:
        return _render_user(user, {k: list(v) for k, v in exc.details.items()}, 422, wanted)
    _changed("memberships", user=user.id, memberships={str(k or ""): sorted(v) for k, v in wanted.items()})
    return redirect(url_for("tenant.admin_user", user_id=user.id, saved=1))


@tenant_bp.post("/admin/users/<user_id>/deactivate")
@admin_page("admin.users")
def admin_user_deactivate(user_id: str) -> Any:
    session = db()
    user = services.get_user(session, parse_id(user_id))
    if user.id == g.principal.user_id:
        return _render_user(
            user, {"active": ["自分自身は無効化できません / you cannot deactivate yourself"]}, 422
        )
    services.set_active(session, user, False)
    _changed("deactivate", user=user.id)
    session.commit()  # deactivated first, then every session ends: no window where a session outlives it
    end_user_sessions(g.tenant.id, user.id)
    return redirect(url_for("tenant.admin_user", user_id=user.id))


@tenant_bp.post("/admin/users/<user_id>/activate")
@admin_page("admin.users")
def admin_user_activate(user_id: str) -> Any:
    user = services.get_user(db(), parse_id(user_id))
    services.set_active(db(), user, True)
    _changed("activate", user=user.id)
    return redirect(url_for("tenant.admin_user", user_id=user.id))


# --- API tokens -----------------------------------------------------------------------------------------


def _render_tokens(
    issued: str | None = None, errors: dict[str, list[str]] | None = None, status: int = 200
) -> Any:
    session = db()
    users = list(session.execute(select(User).where(User.active.is_(True)).order_by(User.email)).scalars())
    return render_template(
        "identity/admin/tokens.html",
        tokens=services.list_tokens(session),
        users=users,
        issued=issued,
        errors=errors or {},
        **_common(),
    ), status


@tenant_bp.get("/admin/tokens")
@admin_page("admin.tokens")
def admin_tokens() -> Any:
    return _render_tokens()


@tenant_bp.post("/admin/tokens")
@admin_page("admin.tokens")
def admin_token_create() -> Any:
    session = db()
    errors: dict[str, list[str]] = {}
    name = request.form.get("name", "").strip()[:200]
    roles = [r for r in request.form.getlist("roles") if r in ALL_ROLES]
    user: User | None = None
    try:
        user = services.get_user(session, uuid.UUID(request.form.get("user_id", "")))
    except (ValueError, NotFound):
        errors["user_id"] = ["ユーザーを選んでください / choose a user"]
    if not roles:
        errors["roles"] = ["役割を1つ以上選んでください / choose at least one role"]
    if not name:
        errors["name"] = ["名前を入力してください / enter a name"]
    if user is not None and not user.active:
        errors["user_id"] = ["無効化されたユーザーです / the user is deactivated"]
    if errors or user is None:
        return _render_tokens(errors=errors, status=422)
    try:
        issued = create_token(session, user, roles, name=name)
    except TokenRolesExceedMemberships as exc:
        return _render_tokens(errors={"roles": [str(exc)]}, status=422)
    _changed("token_create", user=user.id, roles=sorted(roles), name=name)
    # Shown once, on this response only; only its hash is stored. Never cache the page.
    body, status = _render_tokens(issued=issued.token, status=201)
    return body, status, {"Cache-Control": "no-store"}


@tenant_bp.post("/admin/tokens/<token_id>/revoke")
@admin_page("admin.tokens")
def admin_token_revoke(token_id: str) -> Any:
    services.revoke_token(db(), parse_id(token_id))
    _changed("token_revoke", token=token_id)
    return redirect(url_for("tenant.admin_tokens"))


# --- identity provider ----------------------------------------------------------------------------------

_SPLIT = re.compile(r"[\s,]+")


def _idp_from_form() -> dict[str, Any]:
    form = request.form
    claims = {k: form.get(f"claim_{k}", "").strip() for k in ("email", "name", "org_unit", "roles")}
    idp: dict[str, Any] = {
        "issuer": form.get("issuer", "").strip(),
        "client_id": form.get("client_id", "").strip(),
        "client_secret_ref": form.get("client_secret_ref", "").strip(),
        "scopes": [s for s in _SPLIT.split(form.get("scopes", "")) if s],
        "claims": {k: v for k, v in claims.items() if v},
        "allowed_email_domains": [
            d.lower() for d in _SPLIT.split(form.get("allowed_email_domains", "")) if d
        ],
    }
    if form.get("required_acr", "").strip():
        idp["required_acr"] = form.get("required_acr", "").strip()
    return idp


def validate_idp(slug: str, idp: dict[str, Any]) -> dict[str, list[str]]:
    """The preset schema's rules for ``[identity_provider]``, as form errors keyed by field; the secret
    reference must be the tenant's own variable (``TSUNAGU_OIDC_<SLUG>_CLIENT_SECRET``)."""
    from urllib.parse import urlsplit

    errors: dict[str, list[str]] = {}
    for error in _IDP_SCHEMA.iter_errors(idp):
        key = str(error.path[0]) if error.path else "form"
        if error.validator == "required":
            key = str(error.message.split("'")[1])
        errors.setdefault(key, []).append(error.message)
    ref = str(idp.get("client_secret_ref") or "")
    if ref != oidc_client_secret_ref(slug):
        errors["client_secret_ref"] = [secret_ref_message(slug, ref)]
    issuer = urlsplit(str(idp.get("issuer", "")))
    if "issuer" not in errors:
        local = issuer.hostname in ("localhost", "127.0.0.1", "::1")
        if not issuer.netloc or issuer.scheme not in ("https", "http") or issuer.query or issuer.fragment:
            errors["issuer"] = ["URL を入力してください / expected https://host/..."]
        elif issuer.scheme == "http" and not local:
            errors["issuer"] = ["https:// が必要です（http:// は localhost のみ） / https:// required"]
    if "openid" not in idp.get("scopes", []):
        errors.setdefault("scopes", []).append("openid が必要です / must include 'openid'")
    return errors


def secret_ref_message(slug: str, ref: str) -> str:
    expected = oidc_client_secret_ref(slug)
    return (
        f"この自治体のシークレットは {expected} という名前の環境変数（または TSUNAGU_SECRETS_DIR/{slug}/"
        f"oidc_client_secret）にだけ置けます / this tenant's client secret can only be referenced as "
        f"{expected}, not {ref!r}"
    )


def _secret_present(slug: str, ref: str) -> bool:
    try:
        return runtime().settings.tenant_client_secret(slug, ref) is not None
    except ForeignSecretRef:
        return False


def _render_idp(
    idp: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
    report: Any = None,
    status: int = 200,
    saved: bool = False,
) -> Any:
    slug = g.tenant.slug
    expected = oidc_client_secret_ref(slug)
    return render_template(
        "identity/admin/identity_provider.html",
        idp={"client_secret_ref": expected, **idp},
        errors=errors or {},
        report=report,
        saved=saved,
        expected_secret_ref=expected,
        secret_present=_secret_present(slug, str(idp.get("client_secret_ref") or expected)),
        callback_url=url_for("tenant.auth_callback", _external=True),
        demo_override=runtime().settings.demo_idp_url,
        **_common(),
    ), status


@tenant_bp.get("/admin/identity-provider")
@admin_page("admin.identity_provider")
def admin_identity_provider() -> Any:
    idp = dict((_tenant().settings or {}).get("identity_provider") or {})
    return _render_idp(idp, saved=bool(request.args.get("saved")))


@tenant_bp.post("/admin/identity-provider")
@admin_page("admin.identity_provider")
def admin_identity_provider_save() -> Any:
    idp = _idp_from_form()
    errors = validate_idp(g.tenant.slug, idp)
    if errors:
        return _render_idp(idp, errors, status=422)
    tenant = _tenant()
    tenant.settings = {**(tenant.settings or {}), "identity_provider": idp}
    db().flush()
    identity_state().clients.forget(tenant_client_name(tenant.id))
    _changed("identity_provider", issuer=str(idp.get("issuer", ""))[:300])
    return redirect(url_for("tenant.admin_identity_provider", saved=1))


@tenant_bp.post("/admin/identity-provider/test")
@admin_page("admin.identity_provider")
def admin_identity_provider_test() -> Any:
    idp = _idp_from_form()
    errors = validate_idp(g.tenant.slug, idp)
    if errors:
        return _render_idp(idp, errors, status=422)
    config: ProviderConfig = tenant_provider_config(
        runtime().settings, g.tenant.slug, {"identity_provider": idp}
    )
    return _render_idp(idp, report=check_connection(config))
