"""``python -m bench`` (``make bench``): every level in order on a throw-away database, then the report.

Order: the engine floor (no database); a fresh database ``tsunagu_bench_<random>`` migrated and loaded with
the tenant presets; the service level and its profile; gunicorn and the HTTP levels, then the web worker's
memory; the Celery worker fed through the outbox; last the inbox generator and queries (last, so the other
levels run on a small database). The database is dropped at the end, whatever happened.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import traceback
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from tsunagu.config import REPO_ROOT

from . import log

DEFAULT_OUTPUT = REPO_ROOT / "bench" / "results"
ALL_SECTIONS = ("floor", "service", "age", "defsize", "http", "memory", "reports", "inbox")


@dataclass
class BenchOptions:
    tasks: int = 1_000_000
    tenants: int = 1741
    cases: int = 40
    small_tasks: int | None = None
    clients: tuple[int, ...] = (1, 4, 8)
    http_seconds: float = 10.0
    inbox_samples: int = 300
    celery_pings: int = 300
    age_cases: int = 3
    age_repeat: int = 15
    defsize_cases: int = 10
    #: the monthly report at Yokohama's size (issue #19): cases over years, generated as report facts
    report_cases: int = 100_000
    report_years: int = 10
    quick: bool = False
    output: Path = DEFAULT_OUTPUT
    pg_admin_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/0"
    workflows_dir: Path = REPO_ROOT / "workflows"
    tenants_dir: Path = REPO_ROOT / "tenants"
    sections: tuple[str, ...] = ALL_SECTIONS

    @property
    def small(self) -> int:
        if self.small_tasks is not None:
            return min(self.small_tasks, self.tasks)
        return max(self.tasks // 100, min(self.tasks // 2, 1000))


def quick_options(**overrides: Any) -> BenchOptions:
    """Tiny sizes for the smoke test: a few seconds per level."""
    values: dict[str, Any] = {
        "tasks": 2000,
        "tenants": 20,
        "cases": 3,
        "clients": (1, 2),
        "http_seconds": 1.5,
        "inbox_samples": 20,
        "celery_pings": 20,
        "age_cases": 1,
        "age_repeat": 3,
        "defsize_cases": 1,
        "report_cases": 2000,
        "quick": True,
    }
    values.update(overrides)
    return BenchOptions(**values)


def run_bench(options: BenchOptions) -> dict[str, Any]:
    """Run the selected levels and write the report; returns the results written."""
    from tsunagu.core.migrate import upgrade
    from tsunagu.core.runtime import Runtime
    from tsunagu.tenancy.sync import sync_presets

    from . import age as age_level
    from . import defsize as defsize_level
    from . import floor as floor_level
    from . import http as http_level
    from . import inbox as inbox_level
    from . import memory as memory_level
    from . import report
    from . import service as service_level

    started = time.perf_counter()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()},
        "errors": [],
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }
    results["options"]["small_tasks"] = options.small
    sections = set(options.sections)
    output = options.output
    output.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tsunagu-bench-"))
    postgres_version = ""

    if {"floor", "service", "http"} & sections:
        log(f"floor: {options.cases} casework cases in memory")
        results["floor"] = floor_level.run_floor(options.workflows_dir, options.cases)

    database = service_level.create_database(options.pg_admin_url)
    runtime = None
    log(f"database {database.name} created")
    try:
        postgres_version = service_level.server_version(database)
        queue = f"tsunagu-bench-{uuid.uuid4().hex[:10]}"
        settings = service_level.bench_settings(database, options.redis_url, queue)
        upgrade(settings)
        runtime = Runtime.from_settings(settings)
        sync_presets(runtime, options.tenants_dir)
        bench = service_level.prepare_tenant(runtime, clients=max(options.clients))

        if {"service", "http"} & sections:
            log(f"service: {options.cases} cases through the services on PostgreSQL")
            results["service"] = service_level.run_service(
                runtime, bench, options.workflows_dir, options.cases, results["floor"]
            )
            results["profile"] = service_level.profile_service(
                runtime,
                bench,
                options.workflows_dir,
                min(options.cases, 5),
                output / "profile_service.txt",
            )

        if "age" in sections:
            log(
                f"case age: 36 monitoring rounds and 2 re-plans, {options.age_cases} case(s) through the services"
            )
            results["age"] = age_level.run_age(
                runtime, bench, options.workflows_dir, options.age_cases, repeat=options.age_repeat
            )

        if "defsize" in sections:
            log(f"definition size: {options.defsize_cases} case(s) on the library and on a 10x definition")
            results["defsize"] = defsize_level.run_defsize(
                runtime, options.workflows_dir, work, options.defsize_cases
            )

        if "http" in sections:
            log(f"http: gunicorn with 2 workers, clients {', '.join(map(str, options.clients))}")
            with http_level.GunicornServer(settings, work / "logs", workers=2) as server:
                results["http"] = http_level.run_http(
                    server,
                    runtime,
                    bench,
                    database.owner_dsn,
                    options.workflows_dir,
                    list(options.clients),
                    options.http_seconds,
                    results["service"],
                    results["floor"],
                )
                results.setdefault("memory", {})["web"] = memory_level.web_memory(
                    server.start_status, server.pid
                )
                log(
                    "memory: gunicorn worker peak RSS "
                    f"{results['memory']['web']['worker_peak_rss_mib']:.0f} MiB"
                )

        if "memory" in sections:
            results.setdefault("memory", {})["celery"] = memory_level.run_celery(
                runtime, database.owner_dsn, bench.tenant_id, options.celery_pings, work / "logs"
            )

        if "reports" in sections:
            from . import reports as reports_level

            results["reports"] = reports_level.run_reports(
                runtime, database.owner_dsn, bench, options.report_cases, options.report_years
            )

        if "inbox" in sections:
            log(
                f"inbox: generating {options.tenants} tenants and {options.tasks:,} tasks "
                f"(small-data run at {options.small:,})"
            )
            results["inbox"] = inbox_level.run_inbox(
                runtime,
                database.app_dsn,
                database.owner_dsn,
                options.tenants,
                options.tasks,
                options.small,
                options.inbox_samples,
                output / "explain",
            )
    except Exception as exc:
        results["errors"].append(f"{type(exc).__name__}: {exc}")
        log(f"bench failed: {exc}\n{traceback.format_exc()}")
        logs = work / "logs"
        if logs.exists():
            kept = output / "logs"
            shutil.copytree(logs, kept, dirs_exist_ok=True)
            log(f"process logs kept in {kept}")
        raise
    finally:
        if runtime is not None:
            runtime.dispose()
        service_level.drop_database(database)
        log(f"database {database.name} dropped")
        results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        results["wall_seconds"] = time.perf_counter() - started
        results["machine"] = report.machine_info(postgres_version)
        if not results["errors"]:
            paths = report.write(results, output)
            log(f"results: {paths['md']} and {paths['json']} ({results['wall_seconds']:.0f} s in all)")
        shutil.rmtree(work, ignore_errors=True)
    return results


def _clients(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        levels = tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter("a comma-separated list of client counts, e.g. 1,4,8") from None
    if not levels or min(levels) < 1 or max(levels) > 64:
        raise click.BadParameter("client counts must be between 1 and 64")
    return levels


@click.command("bench")
@click.option("--tasks", type=click.IntRange(100, 20_000_000), help="Inbox tasks to generate [1000000].")
@click.option("--tenants", type=click.IntRange(1, 10_000), help="Municipalities to generate [1741].")
@click.option("--cases", type=click.IntRange(1, 1000), help="Cases at the floor and service levels [40].")
@click.option("--small-tasks", type=click.IntRange(10, 10_000_000), help="Size of the small-data inbox run.")
@click.option("--clients", callback=_clients, help="HTTP client levels, comma-separated [1,4,8].")
@click.option("--http-seconds", type=click.FloatRange(0.5, 300), help="Time limit per HTTP level [10].")
@click.option("--quick", is_flag=True, help="Tiny sizes (smoke test): 3 cases, 20 tenants, 2,000 tasks.")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="Directory for latest.json/latest.md, timestamped copies, the profile and explain/.",
)
@click.option(
    "--sections",
    default=",".join(ALL_SECTIONS),
    show_default=True,
    help="Levels to run (floor,service,age,defsize,http,memory,reports,inbox).",
)
@click.option(
    "--pg-admin-url",
    default=lambda: os.environ.get(
        "TSUNAGU_BENCH_PG_ADMIN_URL",
        os.environ.get("TSUNAGU_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    ),
    help="A PostgreSQL superuser that may create roles and the throw-away database.",
)
@click.option(
    "--redis-url",
    default=lambda: os.environ.get("TSUNAGU_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
    help="Redis for the Celery level (a unique queue is used and deleted).",
)
def bench_command(
    tasks: int | None,
    tenants: int | None,
    cases: int | None,
    small_tasks: int | None,
    clients: tuple[int, ...] | None,
    http_seconds: float | None,
    quick: bool,
    output: Path,
    sections: str,
    pg_admin_url: str,
    redis_url: str,
) -> None:
    """Benchmark the engine floor, the services, the HTTP API, memory and the inbox at national scale.

    Needs PostgreSQL (a superuser, as for `make test`) and Redis. Creates and drops its own database.
    """
    chosen = tuple(s.strip() for s in sections.split(",") if s.strip())
    unknown = sorted(set(chosen) - set(ALL_SECTIONS))
    if unknown:
        raise click.BadParameter(f"unknown section(s): {', '.join(unknown)}", param_hint="--sections")
    options = quick_options() if quick else BenchOptions()
    overrides = {
        "tasks": tasks,
        "tenants": tenants,
        "cases": cases,
        "small_tasks": small_tasks,
        "clients": clients,
        "http_seconds": http_seconds,
    }
    for key, value in overrides.items():
        if value is not None:
            setattr(options, key, value)
    options.output = output
    options.pg_admin_url = pg_admin_url
    options.redis_url = redis_url
    options.sections = chosen
    try:
        results = run_bench(options)
    except Exception as exc:
        raise click.ClickException(f"the bench failed: {type(exc).__name__}: {exc}") from exc
    click.echo((Path(output) / "latest.md").read_text(encoding="utf-8") if not results["errors"] else "")
