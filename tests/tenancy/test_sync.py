"""``sync_presets`` on the real PostgreSQL: one transaction, idempotent, never deletes, RLS-correct."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql as psql
from sqlalchemy import func, select

from tests.factories import make_tenant, tenant_row
from tests.support import pg
from tsunagu.core.db import Base, make_engine
from tsunagu.core.session import make_sessionmaker, transaction
from tsunagu.tenancy.models import OrgUnit, OrgUnitOversight, Tenant
from tsunagu.tenancy.presets import PresetError
from tsunagu.tenancy.sync import sync_presets

from .conftest import SHIPPED, TENANTS_DIR, copy_shipped, preset_text, write_preset

SEYA_BLOCKS = (
    '[[org_units]]\ncode = "seya"\nname = "瀬谷区"\nname_kana = "セヤク"\nkind = "ward"\n\n'
    '[[org_units]]\ncode = "seya-seikatsu-shien"\nname = "瀬谷区生活支援課"\n'
    'name_kana = "セヤクセイカツシエンカ"\nkind = "department"\nparent = "seya"\n\n'
)


def units_of(runtime, slug):
    tenant = tenant_row(runtime, slug)
    with transaction(runtime.sessions, tenant.id) as session:
        return {u.code: u for u in session.execute(select(OrgUnit)).scalars()}


def test_sync_creates_every_tenant_with_its_org_units_and_settings(runtime):
    report = sync_presets(runtime, TENANTS_DIR)

    assert [t.slug for t in report.tenants] == list(SHIPPED)
    assert all(t.created for t in report.tenants)
    assert report.lines()[-1] == "4 tenants: 4 created, 0 updated, 0 unchanged"
    yokohama = units_of(runtime, "yokohama")
    assert len([u for u in yokohama.values() if u.kind == "ward"]) == 18
    assert yokohama["kohoku-seikatsu-shien"].parent_id == yokohama["kohoku"].id
    assert len([u for u in units_of(runtime, "kunitachi").values() if u.kind == "department"]) == 7
    iwamizawa = tenant_row(runtime, "iwamizawa")
    assert (iwamizawa.name, iwamizawa.population, iwamizawa.prefecture_code) == ("岩見沢市", 83_237, "01")
    assert iwamizawa.settings["meetings"]["series"][0]["rrule"] == "FREQ=MONTHLY;BYDAY=1WE,2WE,4WE"
    assert iwamizawa.settings["workflow"]["after_the_fact_report_warn_ratio"] == 0.3
    assert (
        iwamizawa.settings["identity_provider"]["client_secret_ref"] == "TSUNAGU_OIDC_IWAMIZAWA_CLIENT_SECRET"
    )


def test_second_sync_reports_no_changes_and_touches_no_row(runtime, snapshot):
    sync_presets(runtime, TENANTS_DIR)
    before = snapshot()

    report = sync_presets(runtime, TENANTS_DIR)

    assert not report.changed
    assert report.lines() == [f"{slug}: no changes" for slug in SHIPPED] + ["no changes"]
    assert snapshot() == before  # every column, updated_at included


def test_an_org_unit_removed_from_the_file_is_deactivated_never_deleted(runtime, snapshot, tmp_path):
    sync_presets(runtime, TENANTS_DIR)
    before_ids = {code: u.id for code, u in units_of(runtime, "yokohama").items()}
    path = write_preset(tmp_path, "yokohama", SEYA_BLOCKS, "")
    # the ward's population for the monthly report goes with it (a population of no unit is an error)
    path.write_text(path.read_text(encoding="utf-8").replace("seya = 112_886\n", ""), encoding="utf-8")

    report = sync_presets(runtime, tmp_path)

    result = report.for_tenant("yokohama")
    assert result.units_deactivated == ["seya", "seya-seikatsu-shien"]
    assert (result.units_created, result.units_updated, result.updated_fields) == ([], {}, ["settings"])
    assert "iwamizawa: no preset file, left alone" in report.lines()
    after = units_of(runtime, "yokohama")
    assert {code: u.id for code, u in after.items()} == before_ids
    assert not after["seya"].active and not after["seya-seikatsu-shien"].active
    assert all(u.active for code, u in after.items() if not code.startswith("seya"))

    stable = snapshot()
    assert not sync_presets(runtime, tmp_path).changed  # deactivating twice changes nothing
    assert snapshot() == stable

    restored = sync_presets(runtime, TENANTS_DIR).for_tenant("yokohama")
    assert restored.units_reactivated == ["seya", "seya-seikatsu-shien"]
    assert all(u.active for u in units_of(runtime, "yokohama").values())


def test_changed_values_update_only_the_rows_they_belong_to(runtime, snapshot, tmp_path):
    sync_presets(runtime, TENANTS_DIR)
    before = snapshot()
    copy_shipped(tmp_path)
    write_preset(tmp_path, "iwamizawa", "population = 83_237", "population = 82_000")
    path = tmp_path / "iwamizawa.toml"
    path.write_text(
        path.read_text(encoding="utf-8")
        .replace('name = "福祉課"', 'name = "福祉総務課"')
        .replace('kind = "agency"\n', 'kind = "agency"\nparent = "fukushi"\n')
        .replace("cases_per_meeting = 5", "cases_per_meeting = 4"),
        encoding="utf-8",
    )

    report = sync_presets(runtime, tmp_path)

    result = report.for_tenant("iwamizawa")
    assert result.updated_fields == ["population", "settings"]
    assert result.units_updated == {"fukushi": ["name"], "jiritsu-soudan": ["parent"]}
    assert report.lines()[0] == "demo: no changes"
    assert report.lines()[-1] == "4 tenants: 0 created, 1 updated, 3 unchanged"
    after = snapshot()
    changed_units = {row[3] for row in set(after["org_unit"]) - set(before["org_unit"])}
    assert changed_units == {"fukushi", "jiritsu-soudan"}
    changed_tenants = {row[1] for row in after["tenant"] if row not in before["tenant"]}
    assert changed_tenants == {"iwamizawa"}


@pytest.mark.parametrize(
    ("old", "new", "key_path", "reason"),
    [
        ("population = 83_237", 'population = "many"', "population", "expected an integer"),
        ('status = "active"', 'status = "active"\nmayor = "x"', "mayor", "unknown key"),
        (
            "FREQ=MONTHLY;BYDAY=1WE,2WE,4WE",
            "FREQ=SOMETIMES",
            "meetings.series[0].rrule",
            "invalid recurrence rule",
        ),
        ("population = 83_237", "population = = 83_237", "", "invalid TOML"),
    ],
    ids=["wrong-type", "unknown-key", "bad-rrule", "toml-syntax"],
)
def test_an_invalid_preset_changes_nothing(runtime, snapshot, tmp_path, old, new, key_path, reason):
    sync_presets(runtime, TENANTS_DIR)
    before = snapshot()
    copy_shipped(tmp_path)
    write_preset(tmp_path, "iwamizawa", old, new)

    with pytest.raises(PresetError) as caught:
        sync_presets(runtime, tmp_path)

    (issue,) = caught.value.issues
    assert issue.file.endswith("iwamizawa.toml")
    assert (issue.key_path, reason in issue.reason) == (key_path, True)
    assert snapshot() == before


def test_a_valid_and_an_invalid_file_together_apply_nothing(runtime, snapshot, tmp_path):
    copy_shipped(tmp_path, "demo")
    write_preset(tmp_path, "iwamizawa", "FREQ=MONTHLY;BYDAY=3WE", "FREQ=SOMETIMES")

    with pytest.raises(PresetError):
        sync_presets(runtime, tmp_path)

    assert snapshot() == {"tenant": [], "org_unit": []}


def test_tenants_without_a_preset_are_reported_and_left_alone(runtime, snapshot, tmp_path):
    make_tenant(runtime, "oldtown", name="旧町", status="suspended")
    before = snapshot()["tenant"]

    report = sync_presets(runtime, copy_shipped(tmp_path, "demo"))

    assert report.untouched == ["oldtown"]
    assert "oldtown: no preset file, left alone" in report.lines()
    assert [row for row in snapshot()["tenant"] if row[1] == "oldtown"] == before


def test_keys_outside_the_preset_sections_survive_a_sync(runtime, tmp_path):
    make_tenant(runtime, "demo", settings={"branding": {"colour": "#00a"}, "workflow": {"stale": True}})

    result = sync_presets(runtime, copy_shipped(tmp_path, "demo")).for_tenant("demo")

    assert not result.created
    settings = tenant_row(runtime, "demo").settings
    assert settings["branding"] == {"colour": "#00a"}
    assert "stale" not in settings["workflow"]  # a preset section is replaced whole


@pytest.fixture
def owner_without_bypassrls(pg_database):
    """Sessions as a member of the owner role that lacks BYPASSRLS — what some managed services give you."""
    role = f"tsunagu_test_nobypass_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg.ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            psql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS INHERIT IN ROLE {}").format(
                psql.Identifier(role), psql.Identifier(pg.OWNER_ROLE)
            )
        )
    engine = make_engine(pg._role_url(role, pg_database.name))
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()
        with psycopg.connect(pg.ADMIN_URL, autocommit=True) as conn:
            conn.execute(psql.SQL("DROP ROLE {}").format(psql.Identifier(role)))


def test_sync_works_under_forced_rls_without_bypassrls(runtime, snapshot, owner_without_bypassrls):
    # RLS is FORCED on org_unit even for the owner: this only works if each tenant is bound before its org
    # units are read or written; the tenant registry's owner policy lets the owner see every tenant.
    report = sync_presets(owner_without_bypassrls, TENANTS_DIR)
    assert all(t.created for t in report.tenants)
    assert len(snapshot()["org_unit"]) == sum(len(t.units_created) for t in report.tenants) == 49

    with transaction(owner_without_bypassrls, None) as session:  # no tenant bound: RLS shows nothing
        assert session.execute(select(func.count()).select_from(OrgUnit).execution_options(
            skip_tenant_filter=True)).scalar_one() == 0  # fmt: skip
    assert not sync_presets(owner_without_bypassrls, TENANTS_DIR).changed


def test_the_application_role_cannot_apply_presets(runtime, snapshot):
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError, match=r"permission denied|row-level security"):
        sync_presets(runtime.sessions, TENANTS_DIR)
    assert snapshot() == {"tenant": [], "org_unit": []}


def test_dry_run_reports_but_writes_nothing(runtime, snapshot):
    report = sync_presets(runtime, TENANTS_DIR, dry_run=True)

    assert all(t.created for t in report.tenants)
    assert report.lines()[-1] == "dry run: nothing was written"
    assert snapshot() == {"tenant": [], "org_unit": []}


def test_sync_on_sqlite_for_the_demo(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    try:
        # Only the tenancy tables: this test is about the sync, not about every migration on SQLite.
        Base.metadata.create_all(
            engine, tables=[Tenant.__table__, OrgUnit.__table__, OrgUnitOversight.__table__]
        )
        factory = make_sessionmaker(engine)
        assert all(t.created for t in sync_presets(factory, TENANTS_DIR).tenants)
        assert not sync_presets(factory, TENANTS_DIR).changed
        with transaction(factory, None, system=True) as session:
            assert session.execute(select(func.count()).select_from(OrgUnit)).scalar_one() == 49
    finally:
        engine.dispose()


def test_shipped_presets_are_unchanged_by_the_helpers():
    assert "population = 83_237" in preset_text("iwamizawa")
