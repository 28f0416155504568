"""``tsunagu tenants ...``: validate and apply the tenant presets in ``tenants/*.toml``."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click

from .presets import PresetError

_DIRECTORY = click.Path(path_type=Path, file_okay=False)


@click.group("tenants")
def tenants_group() -> None:
    """Tenant presets (tenants/*.toml)."""


@tenants_group.command("sync")
@click.argument("directory", required=False, type=_DIRECTORY)
@click.option("--dry-run", is_flag=True, help="show what would change, then roll back")
def tenants_sync(directory: Path | None, dry_run: bool) -> None:
    """Validate every preset in DIRECTORY (default: TSUNAGU_TENANTS_DIR) and apply them all at once.

    Runs as the owner role (TSUNAGU_MIGRATION_DATABASE_URL). Any invalid file: nothing is applied.
    """
    from sqlalchemy.exc import DBAPIError

    from ..config import load_settings
    from ..core.runtime import Runtime
    from .sync import sync_presets

    settings = load_settings()
    runtime = Runtime.from_settings(settings)
    try:
        report = sync_presets(runtime, directory or settings.tenants_dir, dry_run=dry_run)
    except PresetError as exc:
        _fail(exc)
    except DBAPIError as exc:
        raise click.ClickException(
            f"database error, nothing was applied: {str(exc.orig).strip() or type(exc.orig).__name__}"
        ) from exc
    finally:
        runtime.dispose()
    for line in report.lines():
        click.echo(line)


@tenants_group.command("validate")
@click.argument("directory", required=False, type=_DIRECTORY)
def tenants_validate(directory: Path | None) -> None:
    """Check every preset in DIRECTORY without touching the database."""
    from ..config import load_settings
    from .presets import load_presets

    try:
        presets = load_presets(directory or load_settings().tenants_dir)
    except PresetError as exc:
        _fail(exc)
    for preset in presets:
        click.echo(f"{preset.slug}: ok ({len(preset.org_units)} org units)")


def _fail(exc: PresetError) -> NoReturn:
    for issue in exc.issues:
        click.echo(str(issue), err=True)
    click.echo(f"{len(exc.issues)} problem(s) found; nothing was applied.", err=True)
    raise click.exceptions.Exit(1)
