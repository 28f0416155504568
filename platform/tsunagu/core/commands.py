"""``tsunagu outbox ...``: the outbox's state for operators, its dead letters, and retrying them.

Runs as the application role, like the worker: dead letters are found across tenants through the narrow
``tsunagu_outbox_dead_letters`` function (IDs only) and each is then read under its own tenant. Needs neither
Celery nor Redis (so it lives with the outbox, and ``tsunagu`` does not import Celery to offer it).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import click

from ..config import ConfigError, Settings
from .runtime import Runtime


@contextmanager
def _runtime() -> Iterator[Runtime]:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    runtime = Runtime.from_settings(settings)
    try:
        yield runtime
    finally:
        runtime.dispose()


@click.group("outbox")
def outbox_group() -> None:
    """Background work waiting in the outbox, and its dead letters."""


@outbox_group.command("status")
def outbox_status() -> None:
    """Messages not yet processed, those overdue, and dead letters (across tenants)."""
    from .outbox_admin import outbox_health

    with _runtime() as runtime:
        health = outbox_health(runtime)
    click.echo(f"unprocessed: {health.unprocessed}")
    click.echo(f"overdue: {health.overdue}")
    click.echo(f"dead letters: {health.dead_letters}")


@outbox_group.command("dead-letters")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
def outbox_dead_letters(limit: int, as_json: bool) -> None:
    """List messages given up after the maximum attempts, oldest first, with their last error."""
    from .outbox_admin import list_dead_letters

    with _runtime() as runtime:
        letters = list_dead_letters(runtime, limit)
    for letter in letters:
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "tenant_id": str(letter.tenant_id),
                        "id": str(letter.id),
                        "topic": letter.topic,
                        "attempts": letter.attempts,
                        "created_at": letter.created_at.isoformat(),
                        "dead_at": letter.dead_at.isoformat(),
                        "last_error": letter.last_error,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            click.echo(
                f"{letter.id}  tenant {letter.tenant_id}  {letter.topic}  {letter.attempts} attempts  "
                f"dead since {letter.dead_at.isoformat(timespec='seconds')}\n    {letter.last_error or ''}"
            )
    if not as_json:
        click.echo(f"{len(letters)} dead letter(s)")


@outbox_group.command("retry")
@click.argument("message_ids", nargs=-1)
@click.option("--all", "retry_all", is_flag=True, help="every dead letter")
def outbox_retry(message_ids: tuple[str, ...], retry_all: bool) -> None:
    """Make dead letters MESSAGE_IDS (or --all) due again now, with a fresh count of attempts."""
    from .outbox import MAX_RELAY_BATCH
    from .outbox_admin import dead_letter_ids, retry_dead_letter

    if not message_ids and not retry_all:
        raise click.UsageError("give the ids of the dead letters to retry, or --all")
    try:
        wanted = {uuid.UUID(raw) for raw in message_ids}
    except ValueError as exc:
        raise click.UsageError(f"not a message id: {exc}") from exc
    retried = 0
    with _runtime() as runtime:
        found: set[uuid.UUID] = set()
        while True:
            batch = [
                (tenant_id, message_id)
                for tenant_id, message_id in dead_letter_ids(runtime, MAX_RELAY_BATCH)
                if (retry_all or message_id in wanted) and message_id not in found
            ]
            if not batch:
                break
            for tenant_id, message_id in batch:
                found.add(message_id)
                if retry_dead_letter(runtime, tenant_id, message_id):
                    retried += 1
                    click.echo(f"retrying {message_id} (tenant {tenant_id})")
            if not retry_all:
                break
    missing = wanted - found
    for message_id in sorted(missing, key=str):
        click.echo(f"not a dead letter: {message_id}", err=True)
    click.echo(f"{retried} message(s) due again")
    if missing:
        raise SystemExit(1)
