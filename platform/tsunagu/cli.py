"""The ``tsunagu`` command.

Each capability contributes its own click group (``tenants``, ``workflows``, ...); this module only wires them.
"""

from __future__ import annotations

import os
import sys

import click

from . import models as _models  # noqa: F401 - every mapper configured before a command runs
from .config import load_settings

__all__ = ["load_settings", "main"]


@click.group()
def main() -> None:
    """Tsunagu (つなぐ) — 生活困窮者自立支援の相談支援業務を BPMN で。"""
    from .app import wire_form_checks

    wire_form_checks()


@main.group()
def db() -> None:
    """Database schema (runs as the owner role)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations with TSUNAGU_MIGRATION_DATABASE_URL."""
    from .core.migrate import upgrade

    settings = load_settings()
    upgrade(settings, revision)
    click.echo(f"database upgraded to {revision}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION."""
    from .core.migrate import downgrade

    downgrade(load_settings(), revision)
    click.echo(f"database downgraded to {revision}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--threads", default=4, show_default=True, type=int, help="request threads per worker")
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Run the web process with gunicorn (production).

    Threaded workers (gthread): a request stuck on a slow database holds one thread, not the worker, so
    /healthz and /readyz are still answered and the worker is not killed by gunicorn's timeout.
    """
    load_settings()  # fail early, with the message, before gunicorn forks
    argv = gunicorn_argv(host, port, workers, threads)
    os.execvp(argv[0], argv)  # noqa: S606 - replaces this process with gunicorn on purpose


def gunicorn_argv(host: str, port: int, workers: int = 2, threads: int = 4) -> list[str]:
    """The command line of the production web process (``tsunagu serve``; the benchmark starts the same)."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--access-logfile",
        "-",
        "tsunagu.app:create_app()",
    ]


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def dev(host: str, port: int) -> None:
    """The demo: web server plus in-process background work (timers, outbox) on one machine."""
    from .devserver import run_dev

    run_dev(load_settings(), host, port)


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker on TSUNAGU_CELERY_QUEUE (needs TSUNAGU_REDIS_URL); extra arguments go to Celery."""
    settings = load_settings()
    if not settings.uses_broker:
        raise click.ClickException(
            "TSUNAGU_REDIS_URL is not set: the worker needs Redis "
            "(without Redis, `tsunagu dev` runs background work in-process)"
        )
    os.execvp(  # noqa: S606 - replaces this process with the Celery worker on purpose
        sys.executable,
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tsunagu.jobs",
            "worker",
            "-Q",
            settings.celery_queue,
            "--loglevel",
            settings.log_level,
            # Workers coordinate through the database (row locks), never with each other: no start-up
            # handshake (mingle, about a second at every start) and no gossip traffic, as in the chart.
            "--without-mingle",
            "--without-gossip",
            *celery_args,
        ],
    )


@main.command()
def beat() -> None:
    """Run the periodic loop: relay the outbox, fire due BPMN timers (every TSUNAGU_BEAT_INTERVAL_SECONDS)."""
    import logging

    from .jobs.beat import run_beat

    settings = load_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run_beat(settings)


def _register() -> None:
    from .admin.commands import workflows_group
    from .audit.commands import audit_group
    from .core.commands import outbox_group
    from .identity.commands import memberships_group, tokens_group
    from .privacy.commands import keys_group, privacy_group, tenants_offboard, tenants_open_archive
    from .tenancy.commands import tenants_group

    main.add_command(tokens_group)
    main.add_command(memberships_group)
    main.add_command(tenants_group)
    main.add_command(workflows_group)
    main.add_command(outbox_group)
    main.add_command(audit_group)
    main.add_command(keys_group)
    main.add_command(privacy_group)
    tenants_group.add_command(tenants_offboard)  # issue #16: export, then crypto-shred
    tenants_group.add_command(tenants_open_archive)


_register()
