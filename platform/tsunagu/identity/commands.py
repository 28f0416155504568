"""``tsunagu tokens ...`` and ``tsunagu memberships ...``"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy import select

from .models import User, parse_roles


@contextmanager
def _tenant_session(slug: str) -> Iterator[Any]:
    from ..config import load_settings
    from ..core.runtime import Runtime
    from ..core.session import transaction
    from ..tenancy.services import find_tenant

    runtime = Runtime.from_settings(load_settings())
    tenant = find_tenant(runtime, slug)
    if tenant is None:
        raise click.ClickException(f"unknown tenant {slug!r}")
    with transaction(runtime.sessions, tenant.id) as session:
        yield session


def _units_by_code(session: Any) -> dict[str, uuid.UUID]:
    from ..tenancy.models import OrgUnit

    return dict(session.execute(select(OrgUnit.code, OrgUnit.id)).all())


def _parse(raw: str, hint: str) -> list[str]:
    try:
        return parse_roles(raw)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from exc


@click.group("tokens")
def tokens_group() -> None:
    """API tokens for automation."""


@tokens_group.command("create")
@click.option("--tenant", "slug", required=True, help="tenant slug, e.g. iwamizawa")
@click.option("--user", "email", required=True, help="e-mail of the user the token acts for")
@click.option("--roles", required=True, help="comma-separated roles, e.g. consultant,auditor")
@click.option("--name", default="", help="a label to recognise the token by")
@click.option("--create-user", is_flag=True, help="create the user if it does not exist yet")
@click.option(
    "--org-unit",
    "unit_code",
    default=None,
    help="with --create-user: the org unit (code) the new user holds --roles in; required unless the "
    "roles are only tenant_admin/auditor",
)
def tokens_create(
    slug: str, email: str, roles: str, name: str, create_user: bool, unit_code: str | None
) -> None:
    """Create a token and print it once. Only its hash is stored.

    A token carries only roles its user holds (``token roles ⊆ the user's memberships``); its org units are
    always the user's own.
    """
    from ..core.errors import ValidationFailed
    from . import services
    from .tokens import TokenRolesExceedMemberships, create_token

    role_list = _parse(roles, "--roles")
    with _tenant_session(slug) as session:
        user = session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if user is None:
            if not create_user:
                raise click.ClickException(
                    f"no user {email!r} in tenant {slug!r} (pass --create-user to create one)"
                )
            unit: uuid.UUID | None = None
            if unit_code is not None:
                units = _units_by_code(session)
                if unit_code not in units:
                    raise click.BadParameter(f"unknown org unit {unit_code!r}", param_hint="--org-unit")
                unit = units[unit_code]
            user = User(tenant_id=session.require_tenant_id(), email=email, display_name=email.split("@")[0])
            session.add(user)
            session.flush()
            try:
                services.set_memberships(session, user, {unit: role_list})
            except ValidationFailed as exc:
                raise click.ClickException(
                    "; ".join(m for msgs in exc.details.values() for m in msgs) + " (pass --org-unit CODE)"
                ) from exc
        elif unit_code is not None:
            raise click.BadParameter(
                "only with --create-user; change memberships with `tsunagu memberships set`",
                param_hint="--org-unit",
            )
        try:
            issued = create_token(session, user, role_list, name=name)
        except TokenRolesExceedMemberships as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(issued.token)


@click.group("memberships")
def memberships_group() -> None:
    """Who works in which org unit as which role (pairs of org unit and roles)."""


@memberships_group.command("list")
@click.option("--tenant", "slug", required=True)
@click.option("--user", "email", default=None, help="only this user's memberships")
def memberships_list(slug: str, email: str | None) -> None:
    """Print ``e-mail  org unit (or *)  roles`` per membership."""
    from .models import Membership

    with _tenant_session(slug) as session:
        codes = {v: k for k, v in _units_by_code(session).items()}
        stmt = (
            select(User.email, Membership.org_unit_id, Membership.roles)
            .join(Membership, (Membership.tenant_id == User.tenant_id) & (Membership.user_id == User.id))
            .order_by(User.email)
        )
        if email:
            stmt = stmt.where(User.email == email)
        for mail, unit, roles in session.execute(stmt).all():
            click.echo(f"{mail}\t{codes.get(unit, '*') if unit else '*'}\t{','.join(roles or [])}")


@memberships_group.command("set")
@click.option("--tenant", "slug", required=True)
@click.option("--user", "email", required=True)
@click.option(
    "--org-unit", "unit_code", default=None, help="org unit code; omit for tenant-wide (admin/auditor)"
)
@click.option("--roles", required=True, help="comma-separated roles in that unit; empty string removes it")
def memberships_set(slug: str, email: str, unit_code: str | None, roles: str) -> None:
    """Set the user's roles in one org unit, keeping their other memberships."""
    from ..core.errors import ValidationFailed
    from . import services

    role_list = _parse(roles, "--roles") if roles.strip() else []
    with _tenant_session(slug) as session:
        user = session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if user is None:
            raise click.ClickException(f"no user {email!r} in tenant {slug!r}")
        unit: uuid.UUID | None = None
        if unit_code is not None:
            units = _units_by_code(session)
            if unit_code not in units:
                raise click.BadParameter(f"unknown org unit {unit_code!r}", param_hint="--org-unit")
            unit = units[unit_code]
        wanted = dict(services.memberships(session, user.id))
        wanted[unit] = role_list
        try:
            services.set_memberships(session, user, wanted)
        except ValidationFailed as exc:
            raise click.ClickException("; ".join(m for msgs in exc.details.values() for m in msgs)) from exc
    click.echo(f"{email}\t{unit_code or '*'}\t{','.join(role_list) or '(removed)'}")
