"""``tsunagu workflows ...`` commands."""

from __future__ import annotations

from pathlib import Path

import click

from ..cases.services import LANE_ROLES
from ..engine.services import validate_paths_report


@click.group("workflows")
def workflows_group() -> None:
    """ワークフロー定義 (BPMN/DMN/フォーム) — workflow definitions."""


@workflows_group.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """Check workflow bundles (workflows/<name>/ or a workflows/ root) without deploying them."""
    problems, count = validate_paths_report(paths, LANE_ROLES)
    for problem in problems:
        click.echo(str(problem))
    if problems:
        raise SystemExit(1)
    click.echo(f"OK: {count} definitions")
