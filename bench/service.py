"""Level 2, the service level: the floor's cases through Tsunagu's services on PostgreSQL (no HTTP).

Each command is one ``transaction(...)`` as the application role, with row-level security in force:
``cases.services.start_case`` to open the case, ``cases.services.complete_task`` for every user task (form
validation, load → apply → save with optimistic locking, the HumanTask/Timer projection, the case history and
the outbox), and ``engine.timers.fire_due_timers`` with a controlled ``now`` for the timers, as beat runs it.
Finding the next ready task (a lookup a client would already know) is not timed.

This module also owns the throw-away database every level of the bench runs on: the two roles
(``tsunagu_bench_owner`` owns and migrates, ``tsunagu_bench_app`` owns nothing and cannot bypass RLS), a
database ``tsunagu_bench_<random>``, migrated with ``core.migrate.upgrade`` and loaded with the tenant
presets, dropped at the end.
"""

from __future__ import annotations

import base64
import cProfile
import dataclasses
import io
import pstats
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import event, select

from tsunagu.config import Settings
from tsunagu.core.runtime import Runtime

from . import BenchError, log, ratio, summarize_ms
from .floor import EXPECTED_END, PERSON, TIMER_STEPS_DAYS, pick_next, submission

OWNER_ROLE = "tsunagu_bench_owner"
APP_ROLE = "tsunagu_bench_app"
BENCH_TENANT = "yokohama"  # hybrid meetings, 18 wards: the preset the scenario's ad hoc route belongs to


# --- the throw-away database ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchDatabase:
    admin_url: str
    name: str
    owner_url: str  # postgresql+psycopg:// as the owner role
    app_url: str  # postgresql+psycopg:// as the application role

    @property
    def owner_dsn(self) -> str:
        return self.owner_url.replace("postgresql+psycopg://", "postgresql://")

    @property
    def app_dsn(self) -> str:
        return self.app_url.replace("postgresql+psycopg://", "postgresql://")


def _role_url(admin_url: str, role: str, dbname: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(admin_url)
    host = info.get("host", "127.0.0.1")
    port = info.get("port", "5432")
    return f"postgresql+psycopg://{role}@{host}:{port}/{dbname}"


def create_database(admin_url: str) -> BenchDatabase:
    """Create (once) the two bench roles and a fresh database owned by the owner role."""
    name = f"tsunagu_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for role, attrs in (
            (OWNER_ROLE, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE BYPASSRLS"),
            (APP_ROLE, "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"),
        ):
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                continue
            try:
                conn.execute(sql.SQL("CREATE ROLE {} " + attrs).format(sql.Identifier(role)))
            except psycopg.errors.DuplicateObject:  # a concurrent bench created it first
                pass
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(OWNER_ROLE))
        )
    db_admin = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
    with psycopg.connect(db_admin, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(OWNER_ROLE)))
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(name), sql.Identifier(APP_ROLE)
            )
        )
    return BenchDatabase(
        admin_url=admin_url,
        name=name,
        owner_url=_role_url(admin_url, OWNER_ROLE, name),
        app_url=_role_url(admin_url, APP_ROLE, name),
    )


def drop_database(database: BenchDatabase) -> None:
    with psycopg.connect(database.admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database.name)))


def server_version(database: BenchDatabase) -> str:
    with psycopg.connect(database.owner_dsn) as conn:
        row = conn.execute("SELECT version()").fetchone()
    return str(row[0]) if row else ""


def bench_settings(database: BenchDatabase, redis_url: str | None, queue: str) -> Settings:
    env = {
        "TSUNAGU_ENV": "production",
        "TSUNAGU_DATABASE_URL": database.app_url,
        "TSUNAGU_MIGRATION_DATABASE_URL": database.owner_url,
        "TSUNAGU_SECRET_KEY": secrets.token_urlsafe(48),
        "TSUNAGU_AUDIT_HMAC_KEY": secrets.token_urlsafe(48),
        "TSUNAGU_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "TSUNAGU_BASE_DOMAIN": "bench.localhost",
        "TSUNAGU_CELERY_QUEUE": queue,
        "TSUNAGU_LOG_LEVEL": "WARNING",
    }
    if redis_url:
        env["TSUNAGU_REDIS_URL"] = redis_url
    settings = Settings.from_env(env)
    return settings


def without_broker(runtime: Runtime) -> Runtime:
    """The same runtime with no Redis: nothing in the service level publishes (beat relays the outbox)."""
    return dataclasses.replace(runtime, settings=dataclasses.replace(runtime.settings, redis_url=None))


# --- the bench tenant -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchTenant:
    tenant_id: uuid.UUID
    slug: str
    user_id: uuid.UUID
    token: str
    org_unit_codes: tuple[str, ...]
    #: one (user id, token) per HTTP client: concurrent staff each use their own credentials
    client_tokens: tuple[str, ...] = ()


def prepare_tenant(runtime: Runtime, slug: str = BENCH_TENANT, clients: int = 8) -> BenchTenant:
    """Tenant administrators with API tokens in the preset tenant ``slug``: one for the service level and
    one per HTTP client."""
    from tsunagu.core.session import transaction
    from tsunagu.identity.models import Membership, Role, User
    from tsunagu.identity.tokens import create_token
    from tsunagu.tenancy.models import OrgUnit
    from tsunagu.tenancy.services import find_tenant

    tenant = find_tenant(runtime, slug)
    if tenant is None:
        raise BenchError(f"the preset tenant {slug!r} is missing after the sync")
    tenant_id = tenant.id
    users: list[tuple[uuid.UUID, str]] = []
    with transaction(runtime.sessions, tenant_id) as session:
        codes = tuple(
            session.execute(
                select(OrgUnit.code)
                .where(OrgUnit.kind == "ward", OrgUnit.active.is_(True))
                .order_by(OrgUnit.code)
            ).scalars()
        ) or tuple(session.execute(select(OrgUnit.code).order_by(OrgUnit.code)).scalars())
        for n in range(1 + max(1, clients)):
            user = User(
                tenant_id=tenant_id,
                email=f"bench-{n}-{uuid.uuid4().hex[:8]}@example.jp",
                display_name=f"bench {n}",
            )
            session.add(user)
            session.flush()
            session.add(
                Membership(tenant_id=tenant_id, user_id=user.id, org_unit_id=None, roles=[Role.TENANT_ADMIN])
            )
            issued = create_token(session, user, [Role.TENANT_ADMIN], name=f"bench {n}")
            users.append((user.id, issued.token))
    return BenchTenant(
        tenant_id, slug, users[0][0], users[0][1], codes, client_tokens=tuple(t for _, t in users[1:])
    )


def start_cases(runtime: Runtime, bench: BenchTenant, count: int, workflows_dir: Path) -> list[uuid.UUID]:
    """Open ``count`` cases (untimed preparation for the HTTP level); returns their ids."""
    ids = []
    for n in range(count):
        ids.append(_start(runtime, bench, workflows_dir, n))
    return ids


def _start(runtime: Runtime, bench: BenchTenant, workflows_dir: Path, n: int) -> uuid.UUID:
    from tsunagu.cases import services as cases
    from tsunagu.core.session import transaction
    from tsunagu.tenancy.models import Tenant

    with transaction(runtime.sessions, bench.tenant_id) as session:
        tenant = session.get(Tenant, bench.tenant_id)
        assert tenant is not None
        person = cases.PersonInput(name=PERSON["name"], name_kana=PERSON["name_kana"], birth_date=None)
        code = bench.org_unit_codes[n % len(bench.org_unit_codes)] if bench.org_unit_codes else None
        case = cases.start_case(
            session, tenant, workflows_dir, person, org_unit_code=code, actor_id=bench.user_id
        )
        return case.id


def ready_tasks(runtime: Runtime, tenant_id: uuid.UUID, case_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """``(task id, element)`` of the case's ready user tasks (not timed: a client already knows them)."""
    from tsunagu.cases.models import HumanTask
    from tsunagu.core.session import transaction

    with transaction(runtime.sessions, tenant_id) as session:
        rows = session.execute(
            select(HumanTask.id, HumanTask.element).where(
                HumanTask.case_id == case_id, HumanTask.state == "ready"
            )
        ).all()
    return [(r[0], r[1]) for r in rows]


def _nothing() -> None:
    return None


@dataclass
class ServiceCase:
    start: float = 0.0
    tasks: list[tuple[str, float]] = dataclasses.field(default_factory=list)
    timers: list[float] = dataclasses.field(default_factory=list)
    timers_fired: int = 0
    statements: int = 0  # SQL statements sent by the timed task completions

    @property
    def total(self) -> float:
        return self.start + sum(t for _, t in self.tasks) + sum(self.timers)


class StatementCounter:
    """Counts the SQL statements an engine sends while ``active`` is set."""

    def __init__(self, runtime: Runtime) -> None:
        self.count = 0
        self.active = False
        self.engine = runtime.engine
        event.listen(self.engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, *_: Any) -> None:
        if self.active:
            self.count += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on_execute)


def run_case(
    runtime: Runtime,
    bench: BenchTenant,
    workflows_dir: Path,
    n: int,
    counter: StatementCounter | None = None,
    profiler: cProfile.Profile | None = None,
) -> ServiceCase:
    """Drive one case from intake to closure through the services, timing each transaction.

    With ``profiler``, only the timed service calls are profiled (not the bench's own lookups).
    """
    from tsunagu.cases import services as cases
    from tsunagu.cases.services import complete_task, fire_due_timers
    from tsunagu.core.db import utcnow
    from tsunagu.core.session import transaction
    from tsunagu.identity.models import Role
    from tsunagu.identity.principal import Principal

    actor = Principal(
        user_id=bench.user_id,
        tenant_id=bench.tenant_id,
        roles=frozenset({Role.TENANT_ADMIN}),
        org_unit_ids=frozenset(),
    )
    result = ServiceCase()
    profiling = profiler.enable if profiler else _nothing
    not_profiling = profiler.disable if profiler else _nothing
    profiling()
    t0 = time.perf_counter()
    case_id = _start(runtime, bench, workflows_dir, n)
    result.start = time.perf_counter() - t0
    not_profiling()
    offsets = list(TIMER_STEPS_DAYS)
    for _ in range(100):
        ready = ready_tasks(runtime, bench.tenant_id, case_id)
        element = pick_next([e for _, e in ready])
        if element is not None:
            task_id = next(i for i, e in ready if e == element)
            data = submission(element)
            if counter is not None:
                counter.active = True
            profiling()
            t0 = time.perf_counter()
            with transaction(runtime.sessions, bench.tenant_id) as session:
                complete_task(session, actor, task_id, data)
            result.tasks.append((element, time.perf_counter() - t0))
            not_profiling()
            if counter is not None:
                counter.active = False
            continue
        if not offsets:
            break
        now = utcnow() + timedelta(days=offsets.pop(0))
        profiling()
        t0 = time.perf_counter()
        result.timers_fired += fire_due_timers(runtime, now=now)
        result.timers.append(time.perf_counter() - t0)
        not_profiling()
    with transaction(runtime.sessions, bench.tenant_id) as session:
        case = cases.get_case(session, case_id)
        status, outcome = case.status, case.outcome
    if status != "closed" or outcome != EXPECTED_END:
        raise BenchError(f"service case {case_id} ended {status}/{outcome!r}, expected closed/{EXPECTED_END}")
    return result


def run_service(
    runtime: Runtime,
    bench: BenchTenant,
    workflows_dir: Path,
    cases: int,
    floor: dict[str, Any],
    warmup: int = 2,
    progress: Callable[[str], None] = log,
) -> dict[str, Any]:
    runtime = without_broker(runtime)
    for n in range(warmup):
        run_case(runtime, bench, workflows_dir, -1 - n)
    counter = StatementCounter(runtime)
    try:
        done = [run_case(runtime, bench, workflows_dir, n, counter) for n in range(max(1, cases))]
    finally:
        counter.close()
    task_times = [t for c in done for _, t in c.tasks]
    per_task = summarize_ms(task_times)
    per_case = summarize_ms([c.total for c in done])
    ratios = {
        "per_task_mean": ratio(per_task["mean"], floor["per_task_ms"]["mean"]),
        "per_task_p50": ratio(per_task["p50"], floor["per_task_ms"]["p50"]),
        "per_case_mean": ratio(per_case["mean"], floor["per_case_ms"]["mean"]),
    }
    summary: dict[str, Any] = {
        "cases": len(done),
        "task_completions": len(task_times),
        "per_task_ms": per_task,
        "per_case_ms": per_case,
        "start_ms": summarize_ms([c.start for c in done]),
        "timer_poll_ms": summarize_ms([t for c in done for t in c.timers]),
        "per_element_ms": {
            element: summarize_ms([t for c in done for e, t in c.tasks if e == element])["mean"]
            for element in floor.get("path", [])
        },
        "statements_per_completion": counter.count / len(task_times) if task_times else 0.0,
        "timers_fired": sum(c.timers_fired for c in done),
        "ratio_start_to_floor": ratio(
            summarize_ms([c.start for c in done])["mean"], floor["start_ms"]["mean"]
        ),
        "ratio_timer_to_floor": ratio(
            sum(t for c in done for t in c.timers) * 1000.0 / max(1, sum(c.timers_fired for c in done)),
            floor["timer_ms"]["mean"],
        ),
        "ratio_to_floor": ratios,
    }
    progress(
        f"service: {per_task['mean']:.2f} ms per task completion "
        f"({ratios['per_task_mean']:.2f}x floor), {per_case['mean']:.1f} ms per case"
    )
    return summary


# --- profile ----------------------------------------------------------------------------------------------

#: Where the time goes, by the file a function lives in (first match wins).
PROFILE_BUCKETS = (
    ("SpiffWorkflow serializer (dumps/loads)", ("SpiffWorkflow/bpmn/serializer", "SpiffWorkflow/serializer")),
    ("SpiffWorkflow engine", ("SpiffWorkflow/",)),
    ("JSON encode/decode", ("/json/",)),
    ("SQLAlchemy ORM/Core", ("sqlalchemy/",)),
    ("psycopg + PostgreSQL round trips", ("psycopg/", "psycopg_binary", "psycopg_pool")),
    ("form validation", ("tsunagu/forms/",)),
    ("Tsunagu engine (runner, projection, expressions)", ("tsunagu/engine/",)),
    ("Tsunagu other", ("tsunagu/",)),
    ("Python stdlib (uuid, datetime, copy, ...)", ("/lib/python3",)),
)


def _bucket(filename: str) -> str:
    path = filename.replace("\\", "/")
    for label, needles in PROFILE_BUCKETS:
        if any(n in path for n in needles):
            return label
    if path.startswith("~") or path.startswith("<"):
        return "builtins (C functions)"
    return "other"


def profile_service(
    runtime: Runtime, bench: BenchTenant, workflows_dir: Path, cases: int, output: Path
) -> dict[str, Any]:
    """cProfile over ``cases`` more service-level cases; writes the pstats text to ``output``."""
    runtime = without_broker(runtime)
    profiler = cProfile.Profile()
    done = [
        run_case(runtime, bench, workflows_dir, 10_000 + n, profiler=profiler) for n in range(max(1, cases))
    ]
    wall = sum(c.total for c in done)
    stats = pstats.Stats(profiler)
    total = float(getattr(stats, "total_tt", 0.0)) or 1e-9
    buckets: dict[str, float] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        label = _bucket(filename)
        buckets[label] = buckets.get(label, 0.0) + tottime
    shares = {k: v / total for k, v in sorted(buckets.items(), key=lambda kv: -kv[1])}
    text = io.StringIO()
    text.write(
        f"cProfile of the timed service calls of {cases} casework cases (make bench): start_case, "
        f"complete_task, fire_due_timers; {wall:.2f} s of calls\n"
    )
    text.write("Self time by where the code lives:\n")
    for label, share in shares.items():
        text.write(f"  {share * 100:5.1f} %  {label}\n")
    text.write("\n=== top 45 by cumulative time ===\n")
    pstats.Stats(profiler, stream=text).strip_dirs().sort_stats("cumulative").print_stats(45)
    text.write("\n=== top 35 by self time ===\n")
    pstats.Stats(profiler, stream=text).strip_dirs().sort_stats("tottime").print_stats(35)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text.getvalue(), encoding="utf-8")
    return {"cases": cases, "wall_s": wall, "file": output.name, "self_time_share": shares}
