"""The tenant registry under row-level security, as the real application role on the real PostgreSQL.

Before migration 0006 the application role could read every tenant's row (settings included) and update any
of them — a compromised request could repoint another tenant's issuer or suspend it.
"""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from tests.factories import make_tenant, tenant_row
from tests.support import pg
from tsunagu.core.session import transaction
from tsunagu.tenancy import services
from tsunagu.tenancy.models import Tenant

ISSUER = {"identity_provider": {"issuer": "https://idp.alpha.example", "client_id": "alpha"}}


def _app_conn(runtime):
    return psycopg.connect(runtime.settings.database_url.replace("postgresql+psycopg://", "postgresql://"))


@pytest.fixture
def two_tenants(runtime):
    return make_tenant(runtime, "alpha", settings=ISSUER), make_tenant(runtime, "beta", settings=ISSUER)


def _bind(conn, tenant):
    conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(tenant.id) if tenant else "",))


def test_the_tenant_table_has_forced_rls_keyed_on_the_bound_tenant(runtime):
    with _app_conn(runtime) as conn:
        enabled, forced = conn.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'public.tenant'::regclass"
        ).fetchone()
        assert enabled and forced
        policies = dict(
            conn.execute("SELECT policyname, qual FROM pg_policies WHERE tablename = 'tenant'").fetchall()
        )
        assert "app.tenant_id" in policies["tenant_isolation"]


def test_the_app_role_reads_only_the_bound_tenants_row(runtime, two_tenants):
    alpha, beta = two_tenants
    with _app_conn(runtime) as conn:
        _bind(conn, alpha)
        assert [r[0] for r in conn.execute("SELECT slug FROM tenant").fetchall()] == ["alpha"]
        assert conn.execute("SELECT count(*) FROM tenant WHERE id = %s", (beta.id,)).fetchone()[0] == 0


def test_with_no_tenant_bound_the_app_role_sees_no_tenant_row(runtime, two_tenants):
    with _app_conn(runtime) as conn:
        assert conn.execute("SELECT count(*) FROM tenant").fetchone()[0] == 0
        _bind(conn, None)
        assert conn.execute("SELECT settings FROM tenant").fetchall() == []


def test_the_app_role_cannot_repoint_another_tenants_issuer(runtime, two_tenants):
    alpha, beta = two_tenants
    hostile = json.dumps({"identity_provider": {"issuer": "https://evil.example", "client_id": "x"}})
    with _app_conn(runtime) as conn:
        _bind(conn, alpha)
        updated = conn.execute("UPDATE tenant SET settings = %s WHERE id = %s", (hostile, beta.id)).rowcount
        assert updated == 0
        conn.commit()
    with _app_conn(runtime) as conn:  # not even with no tenant bound
        assert conn.execute("UPDATE tenant SET settings = %s", (hostile,)).rowcount == 0
        conn.commit()
    assert tenant_row(runtime, "beta").settings == ISSUER


def test_the_app_role_cannot_suspend_any_tenant_not_even_its_own(runtime, two_tenants):
    alpha, beta = two_tenants
    for target in (beta, alpha):
        with _app_conn(runtime) as conn:
            _bind(conn, alpha)
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                conn.execute("UPDATE tenant SET status = 'suspended' WHERE id = %s", (target.id,))
    assert {tenant_row(runtime, s).status for s in ("alpha", "beta")} == {"active"}


def test_the_app_role_cannot_insert_or_delete_tenants(runtime, two_tenants):
    alpha, _beta = two_tenants
    with _app_conn(runtime) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO tenant (id, slug, name, name_kana, name_en, prefecture_code, population, status, "
                "settings, created_at, updated_at) VALUES (%s, 'gamma', 'g', 'ガ', '', '01', 1, 'active', "
                "'{}', now(), now())",
                (str(uuid.uuid4()),),
            )
    with _app_conn(runtime) as conn:
        _bind(conn, alpha)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM tenant WHERE id = %s", (alpha.id,))


def test_a_tenant_administrator_still_edits_their_own_identity_provider(runtime, two_tenants):
    alpha, _beta = two_tenants
    edited = {"identity_provider": {"issuer": "https://idp2.alpha.example", "client_id": "alpha2"}}
    with transaction(runtime.sessions, alpha.id) as session:
        row = session.get(Tenant, alpha.id)
        assert row is not None
        row.settings = edited
    assert tenant_row(runtime, "alpha").settings == edited
    assert tenant_row(runtime, "beta").settings == ISSUER


def test_routing_and_listings_go_through_the_narrow_functions(runtime, two_tenants):
    alpha, beta = two_tenants
    assert services.resolve_active_tenant(runtime, "alpha").id == alpha.id
    assert services.find_tenant(runtime, "nowhere") is None
    listing = services.list_tenants(runtime)
    assert [t.slug for t in listing] == ["alpha", "beta"]
    assert not hasattr(listing[0], "settings")
    with _app_conn(runtime) as conn:
        columns = [d.name for d in conn.execute("SELECT * FROM tsunagu_tenant_directory()").description]
        assert "settings" not in columns and "slug" in columns
        assert conn.execute("SELECT * FROM tsunagu_tenant_by_slug('beta')").fetchone()[0] == beta.id


def test_registering_a_tenant_cannot_take_over_an_existing_slug(runtime, two_tenants):
    from sqlalchemy.exc import IntegrityError

    new_id = services.register_tenant(
        runtime,
        slug="gamma",
        name="ガンマ町",
        name_kana="ガンマ",
        name_en="",
        prefecture_code="01",
        population=9,
    )
    gamma = tenant_row(runtime, "gamma")
    assert (gamma.id, gamma.status, gamma.settings) == (new_id, "active", {})
    with pytest.raises(IntegrityError):
        services.register_tenant(
            runtime, slug="alpha", name="x", name_kana="エ", name_en="", prefecture_code="01", population=1
        )
    assert tenant_row(runtime, "alpha").settings == ISSUER


def test_only_the_owner_path_changes_a_tenants_status(runtime, two_tenants):
    from tests.factories import owner_sessions

    # As the application role the registry is invisible with no tenant bound: nothing found, nothing changed.
    assert not services.set_tenant_status(runtime.sessions, "beta", "suspended")
    assert tenant_row(runtime, "beta").status == "active"
    assert services.set_tenant_status(owner_sessions(runtime), "beta", "suspended")
    assert services.resolve_active_tenant(runtime, "beta") is None
    assert services.set_tenant_status(owner_sessions(runtime), "beta", "active")
    assert services.resolve_active_tenant(runtime, "beta") is not None
    assert not services.set_tenant_status(owner_sessions(runtime), "nowhere", "active")


def test_the_app_roles_privileges_on_tenant_are_narrow(runtime):
    with _app_conn(runtime) as conn:
        table = conn.execute(
            "SELECT privilege_type FROM information_schema.table_privileges "
            "WHERE table_name = 'tenant' AND grantee = %s",
            (pg.APP_ROLE,),
        ).fetchall()
        assert {r[0] for r in table} == {"SELECT"}
        columns = conn.execute(
            "SELECT column_name FROM information_schema.column_privileges "
            "WHERE table_name = 'tenant' AND grantee = %s AND privilege_type = 'UPDATE'",
            (pg.APP_ROLE,),
        ).fetchall()
        assert {r[0] for r in columns} == {"settings", "updated_at"}


def test_the_registry_works_on_sqlite_for_the_demo(tmp_path):
    from tests.conftest import make_settings
    from tsunagu.core.migrate import upgrade
    from tsunagu.core.runtime import Runtime
    from tsunagu.core.session import make_sessionmaker

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    settings = make_settings(database_url=url, migration_database_url=url)
    upgrade(settings)
    rt = Runtime.from_settings(settings)
    try:
        tid = services.register_tenant(
            rt,
            slug="demo",
            name="デモ市",
            name_kana="デモシ",
            name_en="Demo",
            prefecture_code="13",
            population=1,
        )
        assert services.resolve_active_tenant(rt, "demo").id == tid
        assert [t.slug for t in services.list_active_tenants(rt)] == ["demo"]
        assert services.set_tenant_status(make_sessionmaker(rt.engine), "demo", "suspended")
        assert services.resolve_active_tenant(rt, "demo") is None
        assert [t.status for t in services.list_tenants(rt)] == ["suspended"]
    finally:
        rt.dispose()


def test_the_migration_downgrades_and_upgrades_again():
    from tests.conftest import make_settings
    from tsunagu.core.migrate import downgrade, upgrade

    database = pg.create_database()
    try:
        settings = make_settings(database_url=database.app_url, migration_database_url=database.owner_url)
        upgrade(settings)
        downgrade(settings, "0005")
        url = database.app_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url) as conn:
            assert conn.execute(
                "SELECT relrowsecurity FROM pg_class WHERE relname = 'tenant'"
            ).fetchone() == (False,)
            assert conn.execute("SELECT to_regproc('tsunagu_tenant_by_slug')").fetchone() == (None,)
            conn.execute(  # the application role's privileges on the registry are back as before 0006
                "INSERT INTO tenant (id, slug, name, name_kana, name_en, prefecture_code, population, status, "
                "settings, created_at, updated_at) VALUES (%s, 'old', 'o', 'オ', '', '01', 1, 'active', '{}', "
                "now(), now())",
                (str(uuid.uuid4()),),
            )
            conn.commit()
        upgrade(settings)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM tenant").fetchone() == (0,)
            assert conn.execute("SELECT slug FROM tsunagu_tenant_by_slug('old')").fetchone() == ("old",)
    finally:
        pg.drop_database(database.name)
