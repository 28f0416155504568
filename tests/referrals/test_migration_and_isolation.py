"""Migration 0023_referrals upgrades and downgrades on PostgreSQL (row-level security forced on each table) and
SQLite; and one tenant's partners, referrals and flags never reach another tenant (two-tenant leak test)."""

from __future__ import annotations

import copy

import psycopg
import sqlalchemy as sa

from tests.conftest import make_settings
from tests.engine_api.driver import Api
from tests.factories import make_user, owner_sessions, tenant_row
from tests.referrals.conftest import REFERRAL, REPO
from tests.support import pg
from tsunagu.core.migrate import downgrade, upgrade
from tsunagu.core.session import transaction
from tsunagu.referrals.models import PartnerOrganisation, Referral
from tsunagu.tenancy.models import Tenant

TABLES = {
    "partner_org",
    "partner_member",
    "referral",
    "referral_attachment",
    "cooperation_request",
    "department_flag",
}


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_the_migration_upgrades_and_downgrades_on_postgresql_with_forced_rls():
    database = pg.create_database()
    try:
        settings = make_settings(database_url=database.app_url, migration_database_url=database.owner_url)
        upgrade(settings)
        url = database.owner_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url) as conn:
            rows = conn.execute(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = ANY(%s)",
                (list(TABLES),),
            ).fetchall()
            policies = {
                r[0]
                for r in conn.execute(
                    "SELECT tablename FROM pg_policies WHERE tablename = ANY(%s)", (list(TABLES),)
                )
            }
        assert {r[0] for r in rows} == TABLES
        assert all(r[1] and r[2] for r in rows), rows
        assert policies == TABLES
        downgrade(settings, "0017")
        assert not (_tables(database.owner_url) & TABLES)
        upgrade(settings)
        assert TABLES <= _tables(database.owner_url)
    finally:
        pg.drop_database(database.name)


def test_the_migration_upgrades_and_downgrades_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'referrals.db'}"
    settings = make_settings(database_url=url, migration_database_url=url)
    upgrade(settings)
    assert TABLES <= _tables(url)
    downgrade(settings, "0017")
    assert not (_tables(url) & TABLES)
    upgrade(settings)
    assert TABLES <= _tables(url)


def test_one_tenants_partners_and_referrals_never_reach_another_tenant(runtime, client):
    from tsunagu.tenancy.sync import sync_presets

    sync_presets(runtime, REPO / "tenants")
    demo = tenant_row(runtime, "demo")
    yokohama = tenant_row(runtime, "yokohama")
    # Yokohama gets a partner of the same key, and a member with the same local part
    with transaction(owner_sessions(runtime), None, system=True) as session:
        row = session.get(Tenant, yokohama.id)
        settings = copy.deepcopy(row.settings)
        settings["partners"] = [
            {
                "key": "houkatsu-chuo",
                "name": "港北区地域ケアプラザ",
                "kind": "chiiki_houkatsu",
                "org_unit": "kohoku",
                "members": ["houkatsu@yokohama.example"],
            }
        ]
        row.settings = settings
    demo_partner = make_user(runtime, demo, email="houkatsu@demo.example", roles=["external_participant"])
    yokohama_partner = make_user(
        runtime, yokohama, email="houkatsu@yokohama.example", roles=["external_participant"]
    )
    sent = Api(client, "demo", demo_partner.token).post("/referrals", json=REFERRAL)
    assert sent.status_code == 201
    referral_id = sent.get_json()["id"]
    other = Api(client, "yokohama", yokohama_partner.token)
    assert other.get("/referrals").get_json() == []
    assert other.get(f"/referrals/{referral_id}").status_code == 404
    # the demo token does not work in Yokohama at all
    assert Api(client, "yokohama", demo_partner.token).get("/referrals").status_code == 401
    with transaction(runtime.sessions, yokohama.id) as session:
        assert session.execute(sa.select(Referral)).first() is None
        from tsunagu.referrals import services as referrals

        referrals.sync_partners(session)
        assert [p.name for p in session.execute(sa.select(PartnerOrganisation)).scalars()] == [
            "港北区地域ケアプラザ"
        ]
