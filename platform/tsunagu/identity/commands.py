"""``tsunagu tokens ...``"""

from __future__ import annotations

import click
from sqlalchemy import select

from .models import User, parse_roles


@click.group("tokens")
def tokens_group() -> None:
    """API tokens for automation."""


@tokens_group.command("create")
@click.option("--tenant", "slug", required=True, help="tenant slug, e.g. iwamizawa")
@click.option("--user", "email", required=True, help="e-mail of the user the token acts for")
@click.option("--roles", required=True, help="comma-separated roles, e.g. consultant,auditor")
@click.option("--name", default="", help="a label to recognise the token by")
@click.option("--create-user", is_flag=True, help="create the user if it does not exist yet")
def tokens_create(slug: str, email: str, roles: str, name: str, create_user: bool) -> None:
    """Create a token and print it once. Only its hash is stored."""
    from ..config import load_settings
    from ..core.runtime import Runtime
    from ..core.session import transaction
    from ..tenancy.services import find_tenant
    from .tokens import create_token

    try:
        role_list = parse_roles(roles)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--roles") from exc
    runtime = Runtime.from_settings(load_settings())
    tenant = find_tenant(runtime, slug)
    if tenant is None:
        raise click.ClickException(f"unknown tenant {slug!r}")
    with transaction(runtime.sessions, tenant.id) as session:
        user = session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if user is None:
            if not create_user:
                raise click.ClickException(
                    f"no user {email!r} in tenant {slug!r} (pass --create-user to create one)"
                )
            user = User(tenant_id=tenant.id, email=email, display_name=email.split("@")[0])
            session.add(user)
            session.flush()
        issued = create_token(session, user, role_list, name=name)
    click.echo(issued.token)
