"""The demo tenant (つなぐ市: a 地域包括支援センター and the tax department as partners, a 支援会議 series), its
partner users and a consultant of the receiving unit, each with an API token."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.engine_api.driver import Api
from tests.factories import make_user, tenant_row
from tsunagu.core.session import transaction
from tsunagu.tenancy.models import OrgUnit, Tenant

REPO = Path(__file__).resolve().parents[2]

REFERRAL: dict[str, Any] = {
    "person": {"name": "山田 花子", "name_kana": "ヤマダ ハナコ", "birth_date": "1980-04-01"},
    "topics": ["income", "debt"],
    "main_topic": "debt",
    "urgency": "high",
    "reason": "家賃を3か月滞納しており、生活費も不足している",
    "actions_taken": "介護保険の申請を案内した",
    "consent": {"status": "obtained", "given_on": "2026-12-01", "categories": ["general"], "feedback": True},
    "contact_name": "包括 太郎",
}


@dataclass
class Demo:
    tenant: Tenant
    houkatsu: Api  # 地域包括支援センター (partner houkatsu-chuo)
    zeimu: Api  # 税務課 (partner zeimu, a department)
    consultant: Api  # soudan-center, the receiving unit of houkatsu-chuo
    houkatsu_id: Any
    consultant_id: Any


def unit(runtime, tenant: Tenant, code: str) -> OrgUnit:
    with transaction(runtime.sessions, tenant.id) as session:
        return session.execute(select(OrgUnit).where(OrgUnit.code == code)).scalar_one()


@pytest.fixture
def demo(runtime, client) -> Demo:
    from tsunagu.tenancy.sync import sync_presets

    sync_presets(runtime, REPO / "tenants")
    tenant = tenant_row(runtime, "demo")
    center = unit(runtime, tenant, "soudan-center")
    city = unit(runtime, tenant, "seikatsu-shien")
    houkatsu = make_user(
        runtime, tenant, email="houkatsu@demo.example", roles=["external_participant"], org_unit=center
    )
    zeimu = make_user(
        runtime, tenant, email="zeimu@demo.example", roles=["external_participant"], org_unit=city
    )
    consultant = make_user(runtime, tenant, email="c@demo.example", roles=["consultant"], org_unit=center)
    return Demo(
        tenant=tenant,
        houkatsu=Api(client, "demo", houkatsu.token),
        zeimu=Api(client, "demo", zeimu.token),
        consultant=Api(client, "demo", consultant.token),
        houkatsu_id=houkatsu.user.id,
        consultant_id=consultant.user.id,
    )
