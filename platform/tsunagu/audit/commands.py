"""``tsunagu audit verify --tenant SLUG``: walk a tenant's chain as the owner role; exit 1 naming the first bad entry."""

from __future__ import annotations

import click


@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit trail."""


@audit_group.command("verify")
@click.option("--tenant", "slug", required=True, help="the tenant's slug")
def audit_verify(slug: str) -> None:
    """Check every entry of the tenant's chain (owner role, TSUNAGU_MIGRATION_DATABASE_URL)."""
    from ..config import load_settings
    from ..core.runtime import Runtime
    from ..tenancy.services import find_tenant
    from .services import verify_as_owner

    runtime = Runtime.from_settings(load_settings())
    try:
        tenant = find_tenant(runtime, slug)
        if tenant is None:
            raise click.ClickException(f"no tenant {slug!r}")
        result = verify_as_owner(runtime, tenant.id)
    finally:
        runtime.dispose()
    if result.problem is not None:
        click.echo(
            f"audit chain of {slug} is BROKEN after {result.checked} good entries: {result.problem.message}"
        )
        raise SystemExit(1)
    click.echo(f"audit chain of {slug} verifies: {result.checked} entries")
