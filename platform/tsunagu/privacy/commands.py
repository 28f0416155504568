"""Commands: ``tsunagu keys ...`` (rotation, re-wrap, re-encryption), ``tsunagu tenants offboard`` /
``open-archive``, and ``tsunagu privacy ...`` (a person's export, retention)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import click


def _runtime() -> Any:
    from ..config import load_settings
    from ..core.runtime import Runtime

    return Runtime.from_settings(load_settings())


def _tenants(runtime: Any, slug: str | None) -> list[Any]:
    from ..tenancy.services import find_tenant, list_tenants

    if slug is None:
        return list(list_tenants(runtime))
    tenant = find_tenant(runtime, slug)
    if tenant is None:
        raise click.ClickException(f"no tenant {slug!r}")
    return [tenant]


@click.group("keys")
def keys_group() -> None:
    """Per-tenant encryption keys: rotate, re-wrap with a new master key, re-encrypt in the background."""


@keys_group.command("rotate")
@click.option("--tenant", "slug", required=True, help="the tenant's slug")
def keys_rotate(slug: str) -> None:
    """Make a new data key version current (then run ``keys reencrypt``)."""
    from ..core.session import transaction
    from ..keys import services as keys

    runtime = _runtime()
    try:
        (tenant,) = _tenants(runtime, slug)
        with transaction(runtime.sessions, tenant.id) as session:
            version = keys.rotate(session, tenant.id)
    finally:
        runtime.dispose()
    click.echo(f"{slug}: data key version {version} is current; run `tsunagu keys reencrypt --tenant {slug}`")


@keys_group.command("rewrap")
@click.option("--tenant", "slug", default=None, help="one tenant (default: every tenant)")
def keys_rewrap(slug: str | None) -> None:
    """Re-wrap tenant keys with the current master key (TSUNAGU_MASTER_KEY or the PKCS#11 key label)."""
    from ..core.session import transaction
    from ..keys import services as keys

    runtime = _runtime()
    try:
        for tenant in _tenants(runtime, slug):
            with transaction(runtime.sessions, tenant.id) as session:
                count = keys.rewrap(session, tenant.id)
            click.echo(f"{tenant.slug}: {count} keys re-wrapped")
    finally:
        runtime.dispose()


@keys_group.command("reencrypt")
@click.option("--tenant", "slug", default=None, help="one tenant (default: every tenant)")
@click.option("--batch", default=500, show_default=True, help="values per transaction")
def keys_reencrypt(slug: str | None, batch: int) -> None:
    """Re-seal values under an older key version (or stored in clear before the migration)."""
    from .services import reencrypt_tenant

    runtime = _runtime()
    try:
        for tenant in _tenants(runtime, slug):
            count = reencrypt_tenant(runtime, tenant.id, batch)
            click.echo(f"{tenant.slug}: {count} values re-sealed, blind index rebuilt")
    finally:
        runtime.dispose()


@click.command("offboard")
@click.argument("slug")
@click.option(
    "--recipient-key",
    "recipient",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="the municipality's RSA public key (PEM, ≥ 3072 bits)",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="archive file")
@click.option("--yes", is_flag=True, help="do not ask: the tenant's keys are destroyed for good")
def tenants_offboard(slug: str, recipient: Path, out: Path, yes: bool) -> None:
    """Export the tenant's case file encrypted to the municipality's key, then destroy the tenant's keys."""
    from ..core.db import make_engine
    from ..core.session import make_sessionmaker
    from ..tenancy.services import set_tenant_status
    from .archive import load_recipient
    from .offboard import offboard

    pem = recipient.read_bytes()
    try:
        load_recipient(pem)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if not yes:
        click.confirm(
            f"Export {slug} to {out} and DESTROY its keys (its data becomes unreadable)?", abort=True
        )
    runtime = _runtime()
    try:
        (tenant,) = _tenants(runtime, slug)
        result = offboard(runtime, tenant.id, slug, pem, out)
        owner = make_engine(runtime.settings.migration_database_url)
        try:
            set_tenant_status(make_sessionmaker(owner), slug, "suspended")
        finally:
            owner.dispose()
    finally:
        runtime.dispose()
    rows = ", ".join(f"{k} {v}" for k, v in result.rows.items())
    click.echo(f"{slug}: archive {out} ({rows}); {result.keys_destroyed} keys destroyed; tenant suspended")


@click.command("open-archive")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--private-key", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="the ZIP to write"
)
@click.option("--password-env", default=None, help="environment variable holding the private key's password")
def tenants_open_archive(archive: Path, private_key: Path, out: Path, password_env: str | None) -> None:
    """Decrypt an offboarding archive with the municipality's private key (for the municipality's IT)."""
    from .archive import ArchiveKeyError, open_archive

    password = os.environ.get(password_env, "").encode() if password_env else None
    try:
        out.write_bytes(open_archive(archive.read_bytes(), private_key.read_bytes(), password or None))
    except ArchiveKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{out} written")


@click.group("privacy")
def privacy_group() -> None:
    """The person's rights: export, retention."""


@privacy_group.command("export-person")
@click.option("--tenant", "slug", required=True)
@click.option("--person", "person_id", required=True, type=click.UUID)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def privacy_export_person(slug: str, person_id: uuid.UUID, out: Path) -> None:
    """Everything held about one person (JSON + CSV ZIP, with the disclosure log); audited."""
    from ..core.session import transaction
    from .services import person_export_zip

    runtime = _runtime()
    try:
        (tenant,) = _tenants(runtime, slug)
        with transaction(runtime.sessions, tenant.id) as session:
            out.write_bytes(person_export_zip(session, person_id, "operator:cli"))
    finally:
        runtime.dispose()
    click.echo(f"{out} written")


@privacy_group.command("retention")
def privacy_retention() -> None:
    """Anonymise closed cases past each tenant's retention period (what beat runs nightly)."""
    from .services import run_retention

    runtime = _runtime()
    try:
        for slug, count in run_retention(runtime).items():
            click.echo(f"{slug}: {count} cases anonymised")
    finally:
        runtime.dispose()
