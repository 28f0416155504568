"""Identity services: sign-in provisioning (JIT), user administration, API tokens.

Views call these; they flush, never commit (the request commits once).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select

from ..core.db import utcnow
from ..core.errors import NotFound, ValidationFailed
from ..core.session import TenantSession
from ..tenancy.models import OrgUnit
from .models import ALL_ROLES, ApiToken, Membership, Role, User, parse_roles, role_for_lane
from .oidc import ProviderConfig, SignInError
from .principal import TENANT_WIDE_ROLES, Principal

__all__ = [
    "ALL_ROLES",
    "Principal",
    "Role",
    "SignInClaims",
    "check_assurance",
    "display_names",
    "get_user",
    "list_tokens",
    "memberships",
    "provision_user",
    "read_claims",
    "revoke_token",
    "role_for_lane",
    "search_users",
    "set_access",
    "set_active",
    "set_memberships",
    "user_access",
]

log = logging.getLogger("tsunagu.identity")


# --- claims ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignInClaims:
    """What an ID token (plus userinfo) says about the person, read through the tenant's claim mapping."""

    issuer: str
    subject: str
    email: str
    name: str
    roles: tuple[str, ...] | None  # None: the mapping has no roles claim, or the token carries none
    org_unit_codes: tuple[str, ...] | None
    acr: str | None
    amr: tuple[str, ...]


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.replace(",", " ").split() if v]
    if isinstance(value, list | tuple):
        return [str(v) for v in value if str(v)]
    return [str(value)]


def read_claims(config: ProviderConfig, claims: Mapping[str, Any]) -> SignInClaims:
    """Map and check the claims: e-mail present, verified if the provider says, in an allowed domain."""
    email_claim = config.claim("email") or "email"
    email = str(claims.get(email_claim) or "").strip().lower()
    if not email or "@" not in email:
        raise SignInError(
            "email_missing",
            "IDプロバイダーからメールアドレスが届きませんでした。",
            f"The identity provider sent no e-mail address (claim {email_claim!r}).",
            403,
        )
    if claims.get("email_verified") is False:
        raise SignInError(
            "email_unverified",
            "メールアドレスが確認されていません。",
            "The identity provider says this e-mail address is not verified.",
            403,
        )
    domain = email.rsplit("@", 1)[1]
    if config.allowed_email_domains and domain not in config.allowed_email_domains:
        raise SignInError(
            "email_domain_not_allowed",
            f"このメールアドレスのドメイン（{domain}）はこの自治体では利用できません。",
            f"E-mail addresses at {domain} may not sign in to this municipality.",
            403,
        )
    name_claim = config.claim("name") or "name"
    roles_claim = config.claim("roles")
    unit_claim = config.claim("org_unit")
    roles = tuple(_as_list(claims.get(roles_claim))) if roles_claim and roles_claim in claims else None
    units = tuple(_as_list(claims.get(unit_claim))) if unit_claim and unit_claim in claims else None
    return SignInClaims(
        issuer=str(claims.get("iss") or config.issuer),
        subject=str(claims["sub"]),
        email=email,
        name=str(claims.get(name_claim) or "").strip()[:200],
        roles=roles,
        org_unit_codes=units,
        acr=str(claims["acr"]) if claims.get("acr") else None,
        amr=tuple(_as_list(claims.get("amr"))),
    )


def check_assurance(config: ProviderConfig, claims: SignInClaims) -> None:
    """The tenant's ``required_acr``: the ID token's ``acr`` or one of its ``amr`` values must match."""
    required = config.required_acr
    if required and claims.acr != required and required not in claims.amr:
        raise SignInError(
            "assurance_too_low",
            "この自治体では、より強い認証（多要素認証など）でのサインインが必要です。",
            f"This municipality requires authentication context {required!r} (e.g. multi-factor).",
            403,
        )


# --- provisioning ---------------------------------------------------------------------------------------


def provision_user(session: TenantSession, claims: SignInClaims) -> User:
    """Find the user by ``(issuer, sub)`` — or link a pre-registered one by e-mail — or create one (JIT);
    then update e-mail, name and, where the mapping says so, roles and org units from the claims."""
    tenant_id = session.require_tenant_id()
    user = session.execute(
        select(User).where(User.issuer == claims.issuer, User.subject == claims.subject)
    ).scalar_one_or_none()
    if user is None:
        by_email = session.execute(select(User).where(User.email == claims.email)).scalar_one_or_none()
        if by_email is not None:
            if by_email.issuer is not None or by_email.subject is not None:
                raise SignInError(
                    "account_conflict",
                    "このメールアドレスは別のアカウントに登録されています。管理者に連絡してください。",
                    "This e-mail address belongs to another sign-in identity; contact the administrator.",
                    403,
                )
            user = (
                by_email  # registered by an administrator (or `tsunagu tokens create`) before first sign-in
            )
            user.issuer, user.subject = claims.issuer, claims.subject
        else:
            user = User(
                tenant_id=tenant_id,
                email=claims.email,
                display_name=claims.name or claims.email.split("@")[0],
                issuer=claims.issuer,
                subject=claims.subject,
            )
            session.add(user)
            session.flush()
            log.info("created user %s on first sign-in", user.id)
    if not user.active:
        raise SignInError(
            "account_deactivated",
            "このアカウントは無効化されています。管理者に連絡してください。",
            "This account has been deactivated; contact the administrator.",
            403,
        )
    if user.email != claims.email:
        clash = session.execute(
            select(User.id).where(User.email == claims.email, User.id != user.id)
        ).scalar_one_or_none()
        if clash is None:
            user.email = claims.email
    if claims.name and user.display_name != claims.name:
        user.display_name = claims.name
    _apply_claimed_access(session, user, claims)
    session.flush()
    return user


def _apply_claimed_access(session: TenantSession, user: User, claims: SignInClaims) -> None:
    if claims.roles is None and claims.org_unit_codes is None:
        return  # nothing mapped: a tenant administrator assigns roles and org units
    current_roles, current_units = user_access(session, user.id)
    roles = current_roles
    if claims.roles is not None:
        known = [r for r in claims.roles if r in ALL_ROLES]
        unknown = sorted(set(claims.roles) - set(known))
        if unknown:
            log.warning("ignoring unknown role(s) %s in the claims of user %s", unknown, user.id)
        roles = sorted(set(known))
    units = current_units
    if claims.org_unit_codes is not None:
        found = dict(
            session.execute(
                select(OrgUnit.code, OrgUnit.id).where(OrgUnit.code.in_(claims.org_unit_codes))
            ).all()
        )
        missing = sorted(set(claims.org_unit_codes) - set(found))
        if missing:
            log.warning("ignoring unknown org unit code(s) %s in the claims of user %s", missing, user.id)
        units = sorted(found.values())
    set_access(session, user, roles, units)


def user_access(session: TenantSession, user_id: uuid.UUID) -> tuple[list[str], list[uuid.UUID]]:
    """``(roles, org unit ids)`` as recorded in the user's memberships."""
    rows = session.execute(
        select(Membership.roles, Membership.org_unit_id).where(Membership.user_id == user_id)
    ).all()
    roles = sorted({r for member_roles, _ in rows for r in (member_roles or [])})
    units = sorted({u for _, u in rows if u is not None})
    return roles, units


def set_access(
    session: TenantSession, user: User, roles: Iterable[str], org_unit_ids: Iterable[uuid.UUID]
) -> None:
    """Replace the user's memberships from sign-in claims: the claimed roles in each claimed org unit.

    An identity provider's claims name roles and units separately, so each claimed unit gets the claimed
    roles. Claimed roles without any unit are recorded as they came, but only the tenant-wide roles
    (administrator, auditor) grant anything without a unit (``principal.access_from_rows``): a consultant
    whose provider omits the ward claim sees no case, not every ward's.
    """
    role_list = parse_roles(list(roles))
    units = sorted(set(org_unit_ids))
    if units:
        known = set(session.execute(select(OrgUnit.id).where(OrgUnit.id.in_(units))).scalars())
        if known != set(units):
            raise ValidationFailed("unknown org unit", details={"org_units": ["組織が見つかりません"]})
    elif set(role_list) - TENANT_WIDE_ROLES:
        log.warning(
            "user %s holds %s without an org unit: no case access until a unit is assigned",
            user.id,
            sorted(set(role_list) - TENANT_WIDE_ROLES),
        )
    session.execute(delete(Membership).where(Membership.user_id == user.id))
    targets: list[uuid.UUID | None] = list(units) or [None]
    for unit in targets:
        session.add(Membership(tenant_id=user.tenant_id, user_id=user.id, org_unit_id=unit, roles=role_list))
    session.flush()


def memberships(session: TenantSession, user_id: uuid.UUID) -> dict[uuid.UUID | None, list[str]]:
    """``{org unit id (None: tenant-wide): roles}`` of the user's memberships."""
    rows = session.execute(
        select(Membership.org_unit_id, Membership.roles).where(Membership.user_id == user_id)
    ).all()
    return {unit: sorted(roles or []) for unit, roles in rows}


def set_memberships(
    session: TenantSession, user: User, wanted: Mapping[uuid.UUID | None, Iterable[str]]
) -> dict[uuid.UUID | None, list[str]]:
    """Replace the user's memberships with exactly ``{org unit: roles}`` — pairs, never a cross product.

    The key ``None`` is a tenant-wide membership, which may hold only the tenant-wide roles (tenant
    administrator, auditor): everyone else works in an org unit (fail closed). A unit with no role is
    dropped. Raises :class:`ValidationFailed` (422) naming the unit and the role.
    """
    cleaned: dict[uuid.UUID | None, list[str]] = {}
    errors: dict[str, list[str]] = {}
    for unit, roles in wanted.items():
        try:
            role_list = parse_roles(list(roles))
        except ValueError as exc:
            errors.setdefault("roles", []).append(str(exc))
            continue
        if not role_list:
            continue
        if unit is None and set(role_list) - TENANT_WIDE_ROLES:
            errors.setdefault("tenant_wide", []).append(
                "組織なしで持てる役割はテナント管理者と監査担当だけです / without an org unit only "
                "tenant_admin and auditor may be held: "
                + ", ".join(sorted(set(role_list) - TENANT_WIDE_ROLES))
            )
            continue
        cleaned[unit] = role_list
    units = [u for u in cleaned if u is not None]
    if units:
        known = set(session.execute(select(OrgUnit.id).where(OrgUnit.id.in_(units))).scalars())
        if missing := sorted(str(u) for u in set(units) - known):
            errors.setdefault("org_units", []).append(
                "組織が見つかりません / unknown org unit: " + ", ".join(missing)
            )
    if errors:
        raise ValidationFailed("invalid memberships", details=errors)
    session.execute(delete(Membership).where(Membership.user_id == user.id))
    for unit, role_list in cleaned.items():
        session.add(Membership(tenant_id=user.tenant_id, user_id=user.id, org_unit_id=unit, roles=role_list))
    session.flush()
    return cleaned


# --- administration -------------------------------------------------------------------------------------

_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


def invitation_errors(
    session: TenantSession, email: str, display_name: str, allowed_domains: Iterable[str] = ()
) -> dict[str, list[str]]:
    """What is wrong with inviting ``email`` (keyed by form field; empty when nothing is)."""
    email = email.strip().lower()
    errors: dict[str, list[str]] = {}
    domains = [d.lower() for d in allowed_domains]
    if not _EMAIL.match(email):
        errors["email"] = ["メールアドレスの形式が正しくありません / not a valid e-mail address"]
    elif domains and email.rsplit("@", 1)[1] not in domains:
        errors["email"] = [
            "この自治体で許可されたドメインではありません / not one of the tenant's allowed domains: "
            + ", ".join(domains)
        ]
    elif session.execute(select(User.id).where(User.email == email)).scalar_one_or_none() is not None:
        errors["email"] = ["このメールアドレスは登録済みです / this e-mail address is already registered"]
    if len(display_name) > 200:
        errors["display_name"] = ["氏名は200文字までです / at most 200 characters"]
    return errors


def preregister_user(
    session: TenantSession,
    email: str,
    display_name: str,
    wanted: Mapping[uuid.UUID | None, Iterable[str]],
    *,
    allowed_domains: Iterable[str] = (),
) -> User:
    """Register a user before their first sign-in, with their memberships (org unit × roles).

    The first OIDC sign-in with this e-mail address links the provider's ``(issuer, sub)`` to this row
    (:func:`provision_user`). Raises :class:`ValidationFailed` keyed by form field: an invalid address, one
    outside the tenant's allowed domains, one already registered, no role at all, or invalid memberships.
    """
    errors = invitation_errors(session, email, display_name, allowed_domains)
    if not any(list(roles) for roles in wanted.values()):
        errors["roles"] = ["役割を1つ以上選んでください / choose at least one role"]
    if errors:
        raise ValidationFailed("invalid invitation", details=errors)
    email = email.strip().lower()
    user = User(
        tenant_id=session.require_tenant_id(),
        email=email,
        display_name=display_name.strip() or email.split("@")[0],
        issuer=None,
        subject=None,
    )
    session.add(user)
    session.flush()
    set_memberships(session, user, wanted)
    return user


def search_users(session: TenantSession, query: str = "", limit: int = 200) -> list[User]:
    stmt = select(User).order_by(User.active.desc(), User.email).limit(limit)
    query = query.strip()
    if query:
        pattern = f"%{query.lower()}%"
        stmt = stmt.where(
            or_(func.lower(User.email).like(pattern), func.lower(User.display_name).like(pattern))
        )
    return list(session.execute(stmt).scalars())


def get_user(session: TenantSession, user_id: uuid.UUID) -> User:
    user = session.get(User, (session.require_tenant_id(), user_id))
    if user is None:
        raise NotFound("ユーザーが見つかりません / user not found")
    return user


def set_active(session: TenantSession, user: User, active: bool) -> None:
    """Deactivate (or reactivate) a user. The caller ends the user's sessions after the commit."""
    user.active = active
    user.updated_at = utcnow()
    session.flush()


def list_tokens(session: TenantSession) -> list[tuple[ApiToken, User]]:
    rows = session.execute(
        select(ApiToken, User)
        .join(User, (User.tenant_id == ApiToken.tenant_id) & (User.id == ApiToken.user_id))
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc())
    ).all()
    return [(token, user) for token, user in rows]


def revoke_token(session: TenantSession, token_id: uuid.UUID) -> ApiToken:
    token = session.get(ApiToken, (session.require_tenant_id(), token_id))
    if token is None:
        raise NotFound("トークンが見つかりません / token not found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token


def display_names(session: TenantSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """``{user id: display name (or e-mail)}`` of the session's tenant, for timelines and task pages."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(select(User).where(User.id.in_(wanted))).scalars()
    return {u.id: (u.display_name or u.email) for u in rows}
