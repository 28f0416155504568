"""Fixtures: the three preset tenants, a case started through the one intake path, raw rows read as the owner."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import select

from tests.factories import tenant_row
from tsunagu.cases.models import Case, ProgressRecord
from tsunagu.cases.services import PersonInput, start_case
from tsunagu.core.session import transaction
from tsunagu.tenancy.models import Tenant

REPO = Path(__file__).resolve().parents[2]

NAME = "秘密 花子"
KANA = "ヒミツ ハナコ"
BIRTH = date(1979, 4, 17)
NOTE = "家賃を三か月滞納しており、長男の通院費も払えていない"


@pytest.fixture
def presets(runtime) -> dict[str, Tenant]:
    from tsunagu.tenancy.sync import sync_presets

    sync_presets(runtime, REPO / "tenants")
    return {slug: tenant_row(runtime, slug) for slug in ("yokohama", "kunitachi", "iwamizawa")}


def open_case(
    runtime, tenant: Tenant, unit: str, *, name: str = NAME, kana: str = KANA, birth: date | None = BIRTH
) -> Case:
    """A case started as intake does, with one progress record holding free text."""
    with transaction(runtime.sessions, tenant.id) as session:
        row = session.get(Tenant, tenant.id)
        case = start_case(
            session, row, runtime.settings.workflows_dir, PersonInput(name, kana, birth), org_unit_code=unit
        )
        session.add(
            ProgressRecord(
                tenant_id=tenant.id,
                case_id=case.id,
                record_date=date(2026, 11, 30),
                method="phone",
                staff_name="記録 者",
                content=NOTE,
            )
        )
        return case


def unit_of(runtime, tenant: Tenant) -> str:
    from tsunagu.tenancy.models import OrgUnit

    with transaction(runtime.sessions, tenant.id) as session:
        return session.execute(select(OrgUnit.code).order_by(OrgUnit.code).limit(1)).scalar_one()


def owner_dump(runtime, tenant: Tenant) -> str:
    """Every text of every row of the tenant's case, person, task, history and instance tables, as the owner
    role sees them in PostgreSQL (no RLS in the way, no sealing in the way)."""
    url = runtime.settings.migration_database_url.replace("postgresql+psycopg://", "postgresql://")
    chunks: list[str] = []
    with psycopg.connect(url) as conn:
        for table in (
            "person",
            "support_case",
            "case_event",
            "progress_record",
            "human_task",
            "process_instance",
            "person_index",
        ):
            rows = conn.execute(
                f"SELECT row_to_json(t)::text FROM {table} t WHERE tenant_id = %s",
                (tenant.id,),
            ).fetchall()
            chunks.extend(r[0] for r in rows)
    return "\n".join(chunks)
