"""Level 4, the inbox at scale: a country's worth of municipalities and a million tasks.

The generator (as the owner role, server-side ``INSERT ... SELECT generate_series(...)``, tenant-correct rows
with ``tenant_id`` leading every key) creates:

* 1,741 tenants — every municipality in Japan, with generated names (…市 for the 792 largest, …町 for the
  next 743, …村 for the 183 smallest... scaled to the count asked for) and populations drawn from a
  log-normal distribution (median ≈ 22,000, σ = 1.5) scaled to 125 million in total: a few cities of 2–3
  million, a long tail of towns and villages of a few hundred people;
* org units per tenant (wards in the large cities, one or two sections in a village), staff users in
  proportion to the population with a membership each, one deployment per tenant;
* the HumanTask projection, split across tenants in proportion to population: ten tasks per case in the
  order of the standard casework path, each with its lane's role, the case's org unit and a due date; 95 %
  completed, 1 % cancelled, 4 % ready (half claimed by a user of the unit, half waiting in the role queue,
  about a third of them overdue), plus one process instance per case.

First ``small`` tasks are loaded (10,000 by default), the tables are vacuumed and analysed, and the three
inbox queries are timed; then the table grows to ``tasks`` (1,000,000) and the same queries run again for
the same users. The queries are built by ``tsunagu.inbox.services.task_query`` exactly as the inbox builds
them (the tenant criterion the ORM adds, ``LIMIT 100``), compiled for PostgreSQL and run as the
application role after ``set_config('app.tenant_id', ...)``, so row-level security is in force:

* ``mine``    — ``task_query(consultant, "mine", "ready")``: my claimed tasks;
* ``role``    — ``task_query(consultant, "role", "ready")``: my role's unclaimed tasks in my org unit;
* ``overdue`` — ``task_query(admin, "all", "ready")`` with ``due_at < now``: the tenant's overdue tasks.

Each is timed twice: the SQL alone (execute + fetch on a psycopg connection) and the product call
(``inbox.services.list_tasks`` in a ``transaction(...)``: begin, set_config, query, ORM objects, commit).
Users are drawn in proportion to population (big cities have more staff, hence more inbox views), plus a
series for the largest city alone. ``EXPLAIN (ANALYZE, BUFFERS)`` of each query, for a user of the largest
city, is saved per size in ``explain/``.
"""

from __future__ import annotations

import hashlib
import io
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from tsunagu.core.runtime import Runtime

from . import log, ratio, summarize_ms

TOTAL_POPULATION = 125_000_000
MUNICIPALITIES = 1741  # the total is scaled when fewer (or more) tenants are generated
MEDIAN_POPULATION = 22_000
SIGMA = 1.5
SEED = 1741
#: Japan's municipalities by kind (2024): 792 cities, 743 towns, 183 villages (+ 23 Tokyo special wards).
KINDS = (("市", "shi", 792), ("町", "machi", 743), ("村", "mura", 183))
QUERIES = ("mine", "role", "overdue")

_SYLLABLES = (
    ("ka", "カ", "加"),
    ("ki", "キ", "木"),
    ("ku", "ク", "久"),
    ("sa", "サ", "佐"),
    ("shi", "シ", "志"),
    ("ta", "タ", "田"),
    ("chi", "チ", "千"),
    ("na", "ナ", "奈"),
    ("no", "ノ", "野"),
    ("ha", "ハ", "羽"),
    ("hi", "ヒ", "日"),
    ("ma", "マ", "真"),
    ("mi", "ミ", "美"),
    ("mo", "モ", "茂"),
    ("ya", "ヤ", "八"),
    ("yo", "ヨ", "代"),
    ("ra", "ラ", "良"),
    ("wa", "ワ", "和"),
    ("o", "オ", "大"),
    ("i", "イ", "伊"),
    ("u", "ウ", "宇"),
    ("e", "エ", "江"),
    ("to", "ト", "戸"),
    ("se", "セ", "瀬"),
    ("ne", "ネ", "根"),
    ("ri", "リ", "里"),
    ("su", "ス", "須"),
    ("tsu", "ツ", "津"),
)

#: One casework case in the projection: the path the bench scenario takes, with each task's lane and role.
STEPS = (
    ("intake", "相談受付", "相談支援員", "consultant", "intake", 3),
    ("consent", "申込・同意", "相談支援員", "consultant", "consent", 7),
    ("assessment", "アセスメント", "相談支援員", "consultant", "assessment", 14),
    ("plan_draft", "プラン(案)策定", "相談支援員", "consultant", "plan", 14),
    ("convene_adhoc", "随時会議の招集", "会議事務局", "meeting_secretariat", "adhoc_convene", 3),
    ("record_meeting_result", "会議結果の記録", "会議事務局", "meeting_secretariat", "meeting_result", 2),
    ("support_decision", "支援決定", "自治体職員", "municipal_staff", "support_decision", 7),
    ("delivery_start", "支援提供の開始", "支援提供機関", "provider", "progress_record", 7),
    ("monitoring", "モニタリング", "相談支援員", "consultant", "monitoring", 7),
    ("evaluation", "評価", "相談支援員", "consultant", "evaluation", 14),
)
SURNAMES = (
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
)
GIVEN = (
    ("花子", "ハナコ"),
    ("太郎", "タロウ"),
    ("和子", "カズコ"),
    ("健一", "ケンイチ"),
    ("美咲", "ミサキ"),
    ("大輔", "ダイスケ"),
    ("陽子", "ヨウコ"),
    ("誠", "マコト"),
    ("恵子", "ケイコ"),
    ("翔", "ショウ"),
    ("由美", "ユミ"),
)
SECTIONS = ("福祉課", "生活支援課", "保健福祉課", "地域福祉課")


def md5_uuid(text: str) -> uuid.UUID:
    """The same id PostgreSQL computes with ``md5(text)::uuid``."""
    return uuid.UUID(hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest())


@dataclass
class Municipality:
    idx: int
    id: uuid.UUID
    slug: str
    name: str
    name_kana: str
    name_en: str
    prefecture_code: str
    population: int
    units: int
    wards: int
    users: int
    tasks_small: int = 0
    tasks_big: int = 0

    def user_id(self, k: int) -> uuid.UUID:
        return md5_uuid(f"{self.id}:u:{k}")

    def unit_id(self, u: int) -> uuid.UUID:
        return md5_uuid(f"{self.id}:o:{u}")


def populations(count: int, total: int = TOTAL_POPULATION, seed: int = SEED) -> list[int]:
    """``count`` populations, largest first, log-normal, summing to ``total``."""
    rng = random.Random(seed)
    raw = sorted((rng.lognormvariate(math.log(MEDIAN_POPULATION), SIGMA) for _ in range(count)), reverse=True)
    scale = total / sum(raw)
    values = [max(100, round(v * scale)) for v in raw]
    values[0] += total - sum(values)  # exact total on the largest
    return values


def allocate(weights: list[int], total: int) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (largest remainder)."""
    whole = sum(weights) or 1
    exact = [w * total / whole for w in weights]
    base = [math.floor(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: exact[i] - base[i], reverse=True)
    for i in order[: total - sum(base)]:
        base[i] += 1
    return base


def municipalities(
    count: int, tasks_small: int, tasks_big: int, taken: set[str], seed: int = SEED
) -> list[Municipality]:
    rng = random.Random(seed + 1)
    pops = populations(count, total=round(TOTAL_POPULATION * count / MUNICIPALITIES), seed=seed)
    scale = count / sum(n for _, _, n in KINDS)
    bounds: list[tuple[int, str, str]] = []
    upto = 0
    for kanji, romaji, n in KINDS:
        upto += max(1, round(n * scale))
        bounds.append((upto, kanji, romaji))
    small = allocate(pops, tasks_small)
    big = allocate(pops, tasks_big)
    result = []
    seen = set(taken)
    for idx, pop in enumerate(pops):
        kanji, romaji = next(((k, r) for limit, k, r in bounds if idx < limit), (KINDS[-1][0], KINDS[-1][1]))
        while True:
            parts = rng.sample(_SYLLABLES, rng.choice((2, 2, 3)))
            stem = "".join(p[0] for p in parts)
            slug = f"{stem}-{romaji}"
            if slug not in seen:
                break
        seen.add(slug)
        units = 1 + (1 if pop >= 50_000 else 0) + min(24, pop // 150_000)
        wards = units - 1 if pop >= 500_000 else 0
        users = max(2 * units, 3 + pop // 15_000)
        result.append(
            Municipality(
                idx=idx,
                id=uuid.uuid4(),
                slug=slug,
                name="".join(p[2] for p in parts) + kanji,
                name_kana="".join(p[1] for p in parts)
                + {"shi": "シ", "machi": "マチ", "mura": "ムラ"}[romaji],
                name_en=stem.title(),
                prefecture_code=f"{idx % 47 + 1:02d}",
                population=pop,
                units=units,
                wards=wards,
                users=users,
                tasks_small=min(small[idx], big[idx]),
                tasks_big=big[idx],
            )
        )
    return result


# --- loading ----------------------------------------------------------------------------------------------

_STEPS_SQL = ", ".join(
    f"({n}, '{e}', '{t}', '{lane}', '{role}', '{form}', {days})"
    for n, (e, t, lane, role, form, days) in enumerate(STEPS)
)
_SURNAME_SQL = "ARRAY[" + ", ".join(f"'{s}'" for s, _ in SURNAMES) + "]"
_SURNAME_KANA_SQL = "ARRAY[" + ", ".join(f"'{k}'" for _, k in SURNAMES) + "]"
_GIVEN_SQL = "ARRAY[" + ", ".join(f"'{s}'" for s, _ in GIVEN) + "]"
_GIVEN_KANA_SQL = "ARRAY[" + ", ".join(f"'{k}'" for _, k in GIVEN) + "]"

_PROCESS_SQL = """
INSERT INTO process_instance (tenant_id, id, deployment_id, process_id, meeting_process, case_id, status,
                              serialized, version, created_at, updated_at, completed_at)
SELECT g.tenant_id, md5(g.tenant_id::text || ':p:' || c)::uuid, md5(g.tenant_id::text || ':d')::uuid,
       'casework', 'meeting_hybrid', md5(g.tenant_id::text || ':c:' || c)::uuid,
       CASE WHEN c % 10 = 0 THEN 'running' ELSE 'completed' END, '', 1, now(), now(),
       CASE WHEN c % 10 = 0 THEN NULL ELSE now() END
FROM bench_gen g
CROSS JOIN LATERAL generate_series((g.lo + 9) / 10, (g.hi + 9) / 10 - 1) AS c
WHERE g.hi > g.lo
"""

_TASK_SQL = f"""
WITH steps(step, element, title, lane, role, form_key, due_days) AS (VALUES {_STEPS_SQL})
INSERT INTO human_task (tenant_id, id, process_instance_id, case_id, org_unit_id, element, title, lane, role,
                        candidate_roles, assignee_id, form_key, state, priority, due_at, person_name,
                        person_kana, draft, created_at, updated_at, completed_at, completed_by)
SELECT x.tenant_id,
       gen_random_uuid(),
       md5(x.tenant_id::text || ':p:' || x.c)::uuid,
       md5(x.tenant_id::text || ':c:' || x.c)::uuid,
       md5(x.tenant_id::text || ':o:' || x.unit)::uuid,
       s.element, s.title, s.lane, s.role,
       json_build_array(s.role),
       CASE WHEN x.state = 'completed' OR (x.state = 'ready' AND x.r_claim < 0.5)
            THEN md5(x.tenant_id::text || ':u:' || x.worker)::uuid END,
       s.form_key, x.state, 0,
       CASE WHEN x.r_due < 0.85 THEN x.created_at + s.due_days * interval '1 day' END,
       ({_SURNAME_SQL})[1 + x.c % {len(SURNAMES)}] || ' ' || ({_GIVEN_SQL})[1 + (x.c / 7) % {len(GIVEN)}],
       ({_SURNAME_KANA_SQL})[1 + x.c % {len(SURNAMES)}] || ' ' || ({_GIVEN_KANA_SQL})[1 + (x.c / 7) % {len(GIVEN)}],
       NULL,
       x.created_at, x.created_at,
       CASE WHEN x.state <> 'ready' THEN x.created_at + x.r_age * s.due_days * interval '1 day' END,
       CASE WHEN x.state = 'completed' THEN md5(x.tenant_id::text || ':u:' || x.worker)::uuid END
FROM (
    SELECT y.*,
           y.unit + y.n_units * floor(y.r_user * ((y.n_users - y.unit + y.n_units - 1) / y.n_units))::int AS worker,
           CASE WHEN y.r_state < 0.04 THEN 'ready' WHEN y.r_state < 0.05 THEN 'cancelled' ELSE 'completed' END
               AS state,
           CASE WHEN y.r_state < 0.04 THEN now() - y.r_age * interval '20 days'
                ELSE now() - interval '20 days' - y.r_age * interval '3 years' END AS created_at
    FROM (
        SELECT g.tenant_id, g.n_units, g.n_users, n, n / 10 AS c, (n / 10) % g.n_units AS unit,
               random() AS r_state, random() AS r_claim, random() AS r_due, random() AS r_age, random() AS r_user
        FROM bench_gen g
        CROSS JOIN LATERAL generate_series(g.lo, g.hi - 1) AS n
        WHERE g.hi > g.lo
    ) y
) x
JOIN steps s ON s.step = x.n % 10
"""


def _copy_rows(
    conn: psycopg.Connection[Any], table: str, columns: list[str], rows: list[tuple[Any, ...]]
) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def load_registry(conn: psycopg.Connection[Any], towns: list[Municipality]) -> None:
    """Tenants (COPY), then org units, users, memberships and a deployment per tenant (generate_series)."""
    now = datetime.now(UTC)
    _copy_rows(
        conn,
        "tenant",
        [
            "id",
            "slug",
            "name",
            "name_kana",
            "name_en",
            "prefecture_code",
            "population",
            "status",
            "settings",
            "created_at",
            "updated_at",
        ],
        [
            (
                t.id,
                t.slug,
                t.name,
                t.name_kana,
                t.name_en,
                t.prefecture_code,
                t.population,
                "active",
                "{}",
                now,
                now,
            )
            for t in towns
        ],
    )
    conn.execute(
        "CREATE TEMP TABLE bench_gen (idx int, tenant_id uuid, slug text, n_units int, n_wards int, "
        "n_users int, lo int, hi int, small int, big int)"
    )
    _copy_rows(
        conn,
        "bench_gen",
        ["idx", "tenant_id", "slug", "n_units", "n_wards", "n_users", "lo", "hi", "small", "big"],
        [(t.idx, t.id, t.slug, t.units, t.wards, t.users, 0, 0, t.tasks_small, t.tasks_big) for t in towns],
    )
    conn.execute(
        """
        INSERT INTO org_unit (tenant_id, id, parent_id, code, name, name_kana, kind, active, created_at, updated_at)
        SELECT g.tenant_id, md5(g.tenant_id::text || ':o:' || u)::uuid, NULL, 'u' || lpad(u::text, 2, '0'),
               CASE WHEN u < g.n_wards THEN '第' || (u + 1) || '区 生活支援課'
                    ELSE (%(sections)s::text[])[1 + u %% cardinality(%(sections)s::text[])] END,
               '', CASE WHEN u < g.n_wards THEN 'ward' ELSE 'department' END, true, now(), now()
        FROM bench_gen g CROSS JOIN LATERAL generate_series(0, g.n_units - 1) AS u
        """,
        {"sections": list(SECTIONS)},
    )
    conn.execute(
        """
        INSERT INTO user_account (tenant_id, id, email, display_name, issuer, subject, active, created_at, updated_at)
        SELECT g.tenant_id, md5(g.tenant_id::text || ':u:' || k)::uuid,
               'staff' || k || '@' || g.slug || '.example.jp', '職員' || k, NULL, NULL, true, now(), now()
        FROM bench_gen g CROSS JOIN LATERAL generate_series(0, g.n_users - 1) AS k
        """
    )
    conn.execute(
        """
        INSERT INTO membership (tenant_id, id, user_id, org_unit_id, roles, created_at)
        SELECT g.tenant_id, gen_random_uuid(), md5(g.tenant_id::text || ':u:' || k)::uuid,
               md5(g.tenant_id::text || ':o:' || (k % g.n_units))::uuid,
               (CASE WHEN k = 0 THEN '["tenant_admin", "consultant"]'
                     WHEN (k / g.n_units) % 10 < 6 THEN '["consultant"]'
                     WHEN (k / g.n_units) % 10 < 8 THEN '["municipal_staff"]'
                     WHEN (k / g.n_units) % 10 = 8 THEN '["meeting_secretariat"]'
                     ELSE '["provider"]' END)::json,
               now()
        FROM bench_gen g CROSS JOIN LATERAL generate_series(0, g.n_users - 1) AS k
        """
    )
    conn.execute(
        """
        INSERT INTO deployment (tenant_id, id, version, source, files, process_ids, note, created_by, created_at)
        SELECT g.tenant_id, md5(g.tenant_id::text || ':d')::uuid, 1, 'library', '{}'::json, '["casework"]'::json,
               'bench', NULL, now()
        FROM bench_gen g
        """
    )


def load_tasks(conn: psycopg.Connection[Any], phase: str) -> int:
    """Insert each tenant's tasks ``[lo, hi)`` of ``phase`` (``small``: 0..small, ``big``: small..big)."""
    if phase == "small":
        conn.execute("UPDATE bench_gen SET lo = 0, hi = small")
    else:
        conn.execute("UPDATE bench_gen SET lo = small, hi = big")
    conn.execute(_PROCESS_SQL)
    cur = conn.execute(_TASK_SQL)
    return cur.rowcount


def vacuum_analyze(owner_dsn: str) -> None:
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        for table in ("human_task", "process_instance", "org_unit", "user_account", "membership", "tenant"):
            conn.execute(f"VACUUM (ANALYZE) {table}")


# --- querying ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    tenant_id: uuid.UUID
    consultant: Any  # identity.principal.Principal
    admin: Any  # identity.principal.Principal


def viewers(
    towns: list[Municipality], count: int, rng: random.Random, only: Municipality | None = None
) -> list[Viewer]:
    """Consultants (with their org unit) and the tenant administrator of tenants drawn by population."""
    from tsunagu.identity.principal import Principal

    picked = (
        [only] * count
        if only is not None
        else rng.choices(towns, weights=[t.population for t in towns], k=count)
    )
    result = []
    for town in picked:
        consultants = [k for k in range(town.users) if (k // town.units) % 10 < 6]
        k = rng.choice(consultants)
        consultant = Principal(
            user_id=town.user_id(k),
            tenant_id=town.id,
            roles=frozenset({"consultant"}),
            org_unit_ids=frozenset({town.unit_id(k % town.units)}),
        )
        admin = Principal(
            user_id=town.user_id(0),
            tenant_id=town.id,
            roles=frozenset({"tenant_admin"}),
            org_unit_ids=frozenset(),
        )
        result.append(Viewer(town.id, consultant, admin))
    return result


def statement(query: str, viewer: Viewer, now: datetime) -> Any:
    """The inbox's statement: ``task_query`` plus the tenant criterion the ORM adds and the page limit."""
    from tsunagu.cases.models import HumanTask
    from tsunagu.inbox.services import task_query

    if query == "mine":
        stmt = task_query(viewer.consultant, "mine", "ready")
    elif query == "role":
        stmt = task_query(viewer.consultant, "role", "ready")
    else:
        stmt = task_query(viewer.admin, "all", "ready").where(HumanTask.due_at < now)
    return stmt.where(HumanTask.tenant_id == viewer.tenant_id).limit(100).offset(0)


def compiled(stmt: Any) -> tuple[str, dict[str, Any]]:
    from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg

    result = stmt.compile(dialect=pg_psycopg.dialect(), compile_kwargs={"render_postcompile": True})
    return str(result), dict(result.params)


def time_sql(app_dsn: str, query: str, sample: list[Viewer], now: datetime) -> tuple[list[float], list[int]]:
    """The compiled statement on a psycopg connection as the application role, RLS tenant set first."""
    times: list[float] = []
    rows: list[int] = []
    with psycopg.connect(app_dsn) as conn:
        for viewer in sample:
            sql, params = compiled(statement(query, viewer, now))
            with conn.transaction():
                conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(viewer.tenant_id),))
                t0 = time.perf_counter()
                found = conn.execute(sql, params).fetchall()  # type: ignore[call-overload]
                times.append(time.perf_counter() - t0)
                rows.append(len(found))
    return times, rows


def time_product(runtime: Runtime, query: str, sample: list[Viewer], now: datetime) -> list[float]:
    """``inbox.services.list_tasks`` (or the overdue list) in a tenant-bound transaction, end to end."""
    from tsunagu.core.session import transaction
    from tsunagu.inbox.services import list_tasks

    times = []
    for viewer in sample:
        t0 = time.perf_counter()
        with transaction(runtime.sessions, viewer.tenant_id) as session:
            if query == "overdue":
                stmt = statement(query, viewer, now)
                session.execute(stmt).scalars().all()
            else:
                list_tasks(session, viewer.consultant, "mine" if query == "mine" else "role", "ready", 100, 0)
        times.append(time.perf_counter() - t0)
    return times


def explain(app_dsn: str, query: str, viewer: Viewer, now: datetime) -> str:
    sql, params = compiled(statement(query, viewer, now))
    with psycopg.connect(app_dsn) as conn, conn.transaction():
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(viewer.tenant_id),))
        plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()  # type: ignore[call-overload]
    body = "\n".join(str(r[0]) for r in plan)
    return f"-- {query}\n-- tenant {viewer.tenant_id}\n{sql}\n-- params: {params}\n\n{body}\n"


def _table_stats(owner_dsn: str, tenant_ids: list[uuid.UUID]) -> dict[str, Any]:
    """Rows of the generated tenants (the preset tenants hold the other levels' cases) and the table size."""
    with psycopg.connect(owner_dsn) as conn:
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE state = 'ready') FROM human_task WHERE tenant_id = ANY(%s)",
            (tenant_ids,),
        ).fetchone()
        size = conn.execute(
            "SELECT count(*), pg_total_relation_size('human_task'), pg_relation_size('human_task'), "
            "pg_indexes_size('human_task') FROM human_task"
        ).fetchone()
        indexes = conn.execute(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'human_task'::regclass ORDER BY c.relname"
        ).fetchall()
    assert row is not None and size is not None
    return {
        "human_tasks": int(row[0]),
        "ready": int(row[1]),
        "table_rows": int(size[0]),
        "total_mib": size[1] / 1048576,
        "heap_mib": size[2] / 1048576,
        "indexes_mib": size[3] / 1048576,
        "index_mib": {str(name): int(bytes_) / 1048576 for name, bytes_ in indexes},
        "tenants": len(tenant_ids),
    }


def measure(
    runtime: Runtime,
    app_dsn: str,
    owner_dsn: str,
    label: str,
    weighted: list[Viewer],
    largest: list[Viewer],
    explain_dir: Path,
    tenant_ids: list[uuid.UUID],
) -> dict[str, Any]:
    now = datetime.now(UTC)
    result: dict[str, Any] = {"table": _table_stats(owner_dsn, tenant_ids), "queries": {}}
    for query in QUERIES:
        time_sql(app_dsn, query, weighted[:10], now)  # warm the connection and the caches
        time_product(runtime, query, weighted[:10], now)
        sql_times, rows = time_sql(app_dsn, query, weighted, now)
        big_times, big_rows = time_sql(app_dsn, query, largest, now)
        product = time_product(runtime, query, weighted, now)
        result["queries"][query] = {
            "sql_ms": summarize_ms(sql_times),
            "largest_tenant_sql_ms": summarize_ms(big_times),
            "product_ms": summarize_ms(product),
            "rows_mean": sum(rows) / len(rows) if rows else 0,
            "largest_tenant_rows_mean": sum(big_rows) / len(big_rows) if big_rows else 0,
        }
        text = explain(app_dsn, query, largest[0], now)
        explain_dir.mkdir(parents=True, exist_ok=True)
        (explain_dir / f"{query}_{label}.txt").write_text(text, encoding="utf-8")
        result["queries"][query]["plan_nodes"] = _plan_summary(text)
    return result


def _plan_summary(text: str) -> list[str]:
    """The scan nodes of a plan, e.g. ``Index Scan using ix_human_task_assignee on human_task``."""
    nodes = []
    for line in text.splitlines():
        stripped = line.strip().lstrip("-> ").strip()
        if " Scan " in f" {stripped}" and " on " in stripped:
            nodes.append(stripped.split("  (")[0])
    return nodes


def size_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def run_inbox(
    runtime: Runtime,
    app_dsn: str,
    owner_dsn: str,
    tenants: int,
    tasks: int,
    small: int,
    samples: int,
    explain_dir: Path,
    progress: Callable[[str], None] = log,
) -> dict[str, Any]:
    small = min(small, tasks)
    with psycopg.connect(owner_dsn) as conn:
        taken = {str(r[0]) for r in conn.execute("SELECT slug FROM tenant").fetchall()}
    towns = municipalities(tenants, small, tasks, taken)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET synchronous_commit = off")
        load_registry(conn, towns)
        conn.commit()
        timings["registry_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        loaded_small = load_tasks(conn, "small")
        conn.commit()
        timings["small_tasks_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        vacuum_analyze(owner_dsn)
        timings["small_vacuum_analyze_s"] = time.perf_counter() - t2
        progress(
            f"inbox: {len(towns)} tenants, {sum(t.users for t in towns)} users, {loaded_small} tasks loaded "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        rng = random.Random(SEED + 2)
        weighted = viewers(towns, samples, rng)
        largest = viewers(towns, max(10, samples // 3), rng, only=towns[0])
        small_label = size_label(small)
        ids = [t.id for t in towns]
        at_small = measure(runtime, app_dsn, owner_dsn, small_label, weighted, largest, explain_dir, ids)
        t3 = time.perf_counter()
        loaded_big = load_tasks(conn, "big")
        conn.commit()
        timings["big_tasks_s"] = time.perf_counter() - t3
    t4 = time.perf_counter()
    vacuum_analyze(owner_dsn)
    timings["big_vacuum_analyze_s"] = time.perf_counter() - t4
    progress(
        f"inbox: grew to {loaded_small + loaded_big} tasks: insert {timings['big_tasks_s']:.1f} s, "
        f"vacuum/analyze {timings['big_vacuum_analyze_s']:.1f} s"
    )
    big_label = size_label(tasks)
    at_big = measure(runtime, app_dsn, owner_dsn, big_label, weighted, largest, explain_dir, ids)
    growth = {}
    for query in QUERIES:
        a, b = at_small["queries"][query], at_big["queries"][query]
        growth[query] = {
            "sql_p50": ratio(b["sql_ms"]["p50"], a["sql_ms"]["p50"]),
            "sql_p95": ratio(b["sql_ms"]["p95"], a["sql_ms"]["p95"]),
            "largest_tenant_sql_p95": ratio(
                b["largest_tenant_sql_ms"]["p95"], a["largest_tenant_sql_ms"]["p95"]
            ),
            "product_p95": ratio(b["product_ms"]["p95"], a["product_ms"]["p95"]),
        }
        progress(
            f"inbox {query}: SQL p95 {a['sql_ms']['p95']:.2f} ms at {small_label} → "
            f"{b['sql_ms']['p95']:.2f} ms at {big_label} ({growth[query]['sql_p95']:.2f}x); "
            f"list_tasks p95 {b['product_ms']['p95']:.2f} ms"
        )
    pops = [t.population for t in towns]
    return {
        "tenants": len(towns),
        "population_total": sum(pops),
        "population_largest": max(pops),
        "population_median": sorted(pops)[len(pops) // 2],
        "population_smallest": min(pops),
        "largest_tenant": {"slug": towns[0].slug, "name": towns[0].name, "tasks": towns[0].tasks_big},
        "users": sum(t.users for t in towns),
        "org_units": sum(t.units for t in towns),
        "small_tasks": small,
        "tasks": tasks,
        "labels": [small_label, big_label],
        "samples": {"weighted": len(weighted), "largest_tenant": len(largest)},
        "load_seconds": timings,
        "insert_rows_per_s": loaded_big / timings["big_tasks_s"] if timings["big_tasks_s"] > 0 else 0.0,
        "at_small": at_small,
        "at_big": at_big,
        "growth": growth,
    }


def describe(towns: list[Municipality]) -> str:
    """A short text listing (for debugging the generator)."""
    out = io.StringIO()
    for t in towns[:10]:
        out.write(
            f"{t.slug:24} {t.name:8} {t.population:>9,} units={t.units} users={t.users} tasks={t.tasks_big}\n"
        )
    return out.getvalue()
