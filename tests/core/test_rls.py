"""Isolation at the database level, as the application role, on the real PostgreSQL."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy import select, text

from tests.factories import make_org_unit, make_tenant
from tests.support import pg
from tsunagu.core.context import NoTenantBound
from tsunagu.core.db import make_engine, tenant_tables
from tsunagu.core.session import make_sessionmaker, transaction
from tsunagu.tenancy.models import OrgUnit


def _app_conn(runtime):
    url = runtime.settings.database_url.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url)


@pytest.fixture
def two_tenants(runtime):
    a = make_tenant(runtime, "alpha")
    b = make_tenant(runtime, "beta")
    for tenant in (a, b):
        for n in range(3):
            make_org_unit(runtime, tenant, f"{tenant.slug}-{n}")
    return a, b


def test_every_tenant_table_has_forced_rls_with_a_policy(runtime):
    with _app_conn(runtime) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND column_name = 'tenant_id'"
            )
        ]
        assert set(tables) >= set(tenant_tables())
        assert len(tables) >= 4
        for table in tables:
            enabled, forced = conn.execute(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE relname = %s AND relnamespace = 'public'::regnamespace",
                (table,),
            ).fetchone()
            assert enabled and forced, f"{table} lacks ENABLE/FORCE ROW LEVEL SECURITY"
            policies = conn.execute(
                "SELECT qual, with_check FROM pg_policies WHERE tablename = %s", (table,)
            ).fetchall()
            assert policies, f"{table} has no policy"
            qual, check = policies[0]
            assert "app.tenant_id" in qual and "app.tenant_id" in check


def test_app_role_cannot_bypass_rls_and_owns_nothing(runtime):
    with _app_conn(runtime) as conn:
        role = conn.execute("SELECT current_user").fetchone()[0]
        assert role == pg.APP_ROLE
        superuser, bypass = conn.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert not superuser and not bypass
        owned = conn.execute(
            """
            SELECT count(*) FROM (
              SELECT relowner AS o FROM pg_class
              UNION ALL SELECT nspowner FROM pg_namespace
              UNION ALL SELECT proowner FROM pg_proc
              UNION ALL SELECT typowner FROM pg_type
              UNION ALL SELECT datdba FROM pg_database
            ) x WHERE o = (SELECT oid FROM pg_roles WHERE rolname = current_user)
            """
        ).fetchone()[0]
        assert owned == 0


def test_raw_select_with_tenant_bound_returns_only_that_tenants_rows(runtime, two_tenants):
    a, _b = two_tenants
    with _app_conn(runtime) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(a.id),))
        rows = conn.execute("SELECT * FROM org_unit").fetchall()
        assert len(rows) == 3
        assert {r[0] for r in rows} == {a.id}


def test_inserting_another_tenants_row_fails(runtime, two_tenants):
    a, b = two_tenants
    with _app_conn(runtime) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(a.id),))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "INSERT INTO org_unit (tenant_id, id, code, name, name_kana, kind, active, created_at, updated_at)"
                " VALUES (%s, %s, 'intruder', 'x', '', 'ward', true, now(), now())",
                (str(b.id), str(uuid.uuid4())),
            )


def test_updating_a_row_into_another_tenant_fails(runtime, two_tenants):
    a, b = two_tenants
    with _app_conn(runtime) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(a.id),))
        with pytest.raises(psycopg.Error):
            conn.execute("UPDATE org_unit SET tenant_id = %s", (str(b.id),))


def test_no_tenant_bound_sees_nothing_and_cannot_write(runtime, two_tenants):
    a, _b = two_tenants
    with _app_conn(runtime) as conn:
        assert conn.execute("SELECT count(*) FROM org_unit").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM user_account").fetchone()[0] == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO org_unit (tenant_id, id, code, name, name_kana, kind, active, created_at, updated_at)"
                " VALUES (%s, %s, 'x', 'x', '', 'ward', true, now(), now())",
                (str(a.id), str(uuid.uuid4())),
            )


def test_app_role_cannot_change_the_schema_or_disable_rls(runtime):
    with _app_conn(runtime) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE org_unit DISABLE ROW LEVEL SECURITY")
    with _app_conn(runtime) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE sneaky (id int)")


def test_a_pool_of_one_connection_alternating_tenants_never_leaks(runtime, two_tenants):
    a, b = two_tenants
    engine = make_engine(runtime.settings.database_url, pool_size=1)
    sessions = make_sessionmaker(engine)
    try:
        pids = set()
        for i in range(40):
            tenant = a if i % 2 == 0 else b
            with transaction(sessions, tenant.id) as session:
                pids.add(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
                raw = session.execute(text("SELECT tenant_id FROM org_unit")).scalars().all()
                orm = session.execute(select(OrgUnit)).scalars().all()
                assert {uuid.UUID(str(t)) for t in raw} == {tenant.id}
                assert {u.tenant_id for u in orm} == {tenant.id}
                assert len(raw) == len(orm) == 3
            # between transactions the connection remembers no tenant
            with engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM org_unit")).scalar_one() == 0
        assert len(pids) == 1, "the test must reuse one connection to mean anything"
    finally:
        engine.dispose()


def test_orm_refuses_tenant_queries_with_no_tenant_bound(runtime, two_tenants):
    with transaction(runtime.sessions, None) as session:
        with pytest.raises(NoTenantBound):
            session.execute(select(OrgUnit)).all()


def test_orm_filter_isolates_even_without_rls(tmp_path):
    """Layer 2 on its own: on SQLite there is no RLS, and the ORM criteria still keep tenants apart."""
    from tests.conftest import make_settings
    from tsunagu.core.migrate import upgrade
    from tsunagu.core.runtime import Runtime

    url = f"sqlite:///{tmp_path / 'iso.db'}"
    settings = make_settings(database_url=url, migration_database_url=url)
    upgrade(settings)
    rt = Runtime.from_settings(settings)
    try:
        a = make_tenant(rt, "alpha")
        b = make_tenant(rt, "beta")
        make_org_unit(rt, a, "a1")
        make_org_unit(rt, b, "b1")
        with transaction(rt.sessions, a.id) as session:
            codes = session.execute(select(OrgUnit.code)).scalars().all()
            assert codes == ["a1"]
            assert session.get(OrgUnit, (b.id, uuid.uuid4())) is None
    finally:
        rt.dispose()
