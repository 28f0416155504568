"""Level 8, the national monthly report at a big city's scale (issue #19).

A Yokohama-sized history is generated straight into the projection the reports read — ``report_fact`` rows,
as the advance path writes them — for the preset tenant ``yokohama`` (18 wards): ``cases`` cases (100,000)
over ``years`` years (10), spread over the wards in proportion to their population, each with its
新規相談受付 and, by fixed shares, 相談・情報提供のみ / つなぎ / a plan (就労支援対象, 就労, 増収, evaluation,
improvement, some re-planned). Rows go in with ``COPY`` as the owner role with the tenant bound (row-level
security is forced on the table). Then, as the application role with RLS in force:

* ``monthly``   — ``GET /t/yokohama/api/v1/reports/monthly?month=`` through the app (bearer token, tenant
  resolution, the query, JSON), for months drawn across the 10 years;
* ``dashboard`` — the dashboard page (``/t/yokohama/reports?month=``: 12 months of trends, funnel, ward
  comparison, 事後報告 per series, open work) rendered by the app for a signed-in administrator;
* ``export``    — the Excel file of 12 months (one sheet per month).

No workflow is deserialized by any of them (the counter is read before and after and reported).
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import date, timedelta
from typing import Any

import psycopg

from tsunagu.core.runtime import Runtime

from . import log, summarize_ms

SEED = 19
#: shares of a case's path (of all cases / of plans)
ADVICE_ONLY, REFERRED = 0.35, 0.15
WORK_SUPPORT, GOT_WORK, INCOME, EVALUATED, IMPROVED, REPLANNED = 0.6, 0.3, 0.2, 0.8, 0.5, 0.1


def _month(day: date) -> str:
    return day.strftime("%Y-%m")


def generate(owner_dsn: str, tenant_id: uuid.UUID, cases: int, years: int, end: date) -> dict[str, Any]:
    """``report_fact`` rows for ``cases`` cases over ``years`` years ending at ``end``; returns counts."""
    rng = random.Random(SEED)
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant_id),))
        units = conn.execute(
            "SELECT w.code, d.id FROM org_unit w JOIN org_unit d ON d.parent_id = w.id AND d.tenant_id = w.tenant_id "
            "WHERE w.tenant_id = %s AND w.kind = 'ward'",
            (tenant_id,),
        ).fetchall()
        settings = conn.execute("SELECT settings FROM tenant WHERE id = %s", (tenant_id,)).fetchone()
    population = ((settings[0] if settings else {}) or {}).get("reports", {}).get("population", {})
    weights = [population.get(code, 1) for code, _ in units]
    start = end - timedelta(days=365 * years)
    span = (end - start).days
    rows = 0
    t0 = time.perf_counter()
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(tenant_id),))
        with conn.cursor().copy(
            "COPY report_fact (tenant_id, id, case_id, org_unit_id, kind, cycle, month, occurred_on, source, "
            "recorded_at) FROM STDIN"
        ) as copy:

            def fact(case_id: uuid.UUID, unit: uuid.UUID, kind: str, day: date, cycle: int = 0) -> None:
                nonlocal rows
                day = min(day, end)
                copy.write_row(
                    (tenant_id, uuid.uuid4(), case_id, unit, kind, cycle, _month(day), day, "bench", day)
                )
                rows += 1

            for _ in range(cases):
                case_id = uuid.uuid4()
                unit = rng.choices(units, weights)[0][1]
                received = start + timedelta(days=rng.randrange(span))
                fact(case_id, unit, "consultation_received", received)
                path = rng.random()
                if path < ADVICE_ONLY:
                    fact(case_id, unit, "advice_only", received)
                    continue
                if path < ADVICE_ONLY + REFERRED:
                    fact(case_id, unit, "referred", received)
                    continue
                for cycle in range(2 if rng.random() < REPLANNED else 1):
                    planned = received + timedelta(days=30 + 200 * cycle + rng.randrange(30))
                    if rng.random() < WORK_SUPPORT:
                        fact(case_id, unit, "work_support_target", planned, cycle)
                    fact(case_id, unit, "plan_made", planned, cycle)
                    if rng.random() < EVALUATED:
                        evaluated = planned + timedelta(days=180)
                        fact(case_id, unit, "evaluated", evaluated, cycle + 1)
                        if rng.random() < IMPROVED:
                            fact(case_id, unit, "improved", evaluated, cycle + 1)
                        if rng.random() < GOT_WORK:
                            fact(case_id, unit, "got_work", evaluated, cycle + 1)
                        elif rng.random() < INCOME:
                            fact(case_id, unit, "income_rose", evaluated, cycle + 1)
        conn.commit()
    load_s = time.perf_counter() - t0
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE report_fact")
    return {"cases": cases, "years": years, "facts": rows, "wards": len(units), "load_s": load_s}


def _admin_principal(runtime: Runtime, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Any:
    from tsunagu.core.session import transaction
    from tsunagu.identity.principal import Principal, load_access

    with transaction(runtime.sessions, tenant_id) as session:
        access = load_access(session, user_id)
    return Principal(
        user_id=user_id,
        tenant_id=tenant_id,
        roles=access.roles,
        org_unit_ids=access.org_unit_ids,
        grants=access.grants,
        home_units=access.home_units,
        via="session",
    )


def run_reports(
    runtime: Runtime,
    owner_dsn: str,
    bench: Any,
    cases: int = 100_000,
    years: int = 10,
    samples: int = 30,
    end: date | None = None,
) -> dict[str, Any]:
    from flask import g

    from tsunagu.app import create_app
    from tsunagu.engine import spiff

    end = end or date.today()
    log(f"reports: generating {cases:,} cases over {years} years for {bench.slug}")
    generated = generate(owner_dsn, bench.tenant_id, cases, years, end)
    log(f"reports: {generated['facts']:,} facts loaded in {generated['load_s']:.1f} s")
    app = create_app(runtime=runtime)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {bench.token}"}
    rng = random.Random(SEED)
    first = end.replace(day=1)
    months = []
    for _ in range(samples):
        back = rng.randrange(years * 12)
        y, m = first.year, first.month - back
        while m <= 0:
            y, m = y - 1, m + 12
        months.append(f"{y:04d}-{m:02d}")
    principal = _admin_principal(runtime, bench.tenant_id, bench.user_id)
    before = spiff.deserialize_count()

    def timed(call: Any, sample: list[str] = months) -> list[float]:
        out = []
        for month in sample:
            t = time.perf_counter()
            call(month)
            out.append(time.perf_counter() - t)
        return out

    def monthly(month: str) -> None:
        response = client.get(f"/t/{bench.slug}/api/v1/reports/monthly?month={month}", headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        body = response.get_json()
        assert len(body["rows"]) == 18

    def dashboard(month: str) -> None:
        # the page as the app renders it for a signed-in administrator (the session lookup replaced by the
        # principal it would load: the bench has no browser to sign in with)
        with app.test_request_context(f"/t/{bench.slug}/reports?month={month}"):
            g.principal = principal
            response = app.full_dispatch_request()
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
            assert b'id="table-wards"' in response.get_data()

    def export(month: str) -> None:
        y, m = int(month[:4]), int(month[5:7])
        m -= 11
        while m <= 0:
            y, m = y - 1, m + 12
        response = client.get(
            f"/t/{bench.slug}/api/v1/reports/monthly/export.xlsx?from={y:04d}-{m:02d}&to={month}",
            headers=headers,
        )
        assert response.status_code == 200

    monthly(months[0])  # warm: the app's first request
    dashboard(months[0])
    result: dict[str, Any] = {
        "generated": generated,
        "months_sampled": len(months),
        "monthly_ms": summarize_ms(timed(monthly)),
        "dashboard_ms": summarize_ms(timed(dashboard)),
        "export_12_months_ms": summarize_ms(timed(export, months[:10])),
        "deserialized": spiff.deserialize_count() - before,
    }
    log(
        f"reports: monthly p95 {result['monthly_ms']['p95']:.0f} ms, dashboard p95 "
        f"{result['dashboard_ms']['p95']:.0f} ms, 12-month Excel p95 {result['export_12_months_ms']['p95']:.0f} ms"
    )
    return result
