"""The audit chain on the real PostgreSQL: tampering as the owner role is found and named (#16, done when 1)."""

from __future__ import annotations

import itertools
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.factories import make_tenant
from tsunagu.audit import services as audit
from tsunagu.audit.models import AuditEntry
from tsunagu.core.session import transaction


def _owner(pg_database):
    return psycopg.connect(
        pg_database.owner_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
    )


def _app(runtime):
    return psycopg.connect(runtime.settings.database_url.replace("postgresql+psycopg://", "postgresql://"))


def _record_n(runtime, tenant, n, *, action="test.action"):
    for i in range(n):
        with transaction(runtime.sessions, tenant.id) as session:
            audit.record(
                session, "tester@example.jp", action, audit.Target("thing", str(i)), details={"i": i}
            )


def _verify(runtime, tenant):
    return audit.verify_as_owner(runtime, tenant.id)


def _tamper(pg_database, *statements):
    """Run ``statements`` as the owner with the append-only trigger off (what a DBA with the owner role can do)."""
    with _owner(pg_database) as conn:
        conn.execute("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_append_only")
        try:
            for statement, params in statements:
                conn.execute(statement, params)
        finally:
            conn.execute("ALTER TABLE audit_entry ENABLE TRIGGER audit_entry_append_only")


@pytest.fixture
def chain(runtime):
    tenant = make_tenant(runtime, "audit-a")
    _record_n(runtime, tenant, 6)
    return tenant


def test_a_recorded_chain_verifies_and_links_each_entry_to_the_last(runtime, chain):
    result = _verify(runtime, chain)
    assert result.ok and result.checked == 6
    with transaction(runtime.sessions, chain.id) as session:
        rows = list(session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))


def test_an_edited_entry_is_named(runtime, chain, pg_database):
    _tamper(pg_database, ("UPDATE audit_entry SET actor_label = 'someone-else' WHERE seq = 3", None))
    result = _verify(runtime, chain)
    assert not result.ok
    assert (result.problem.seq, result.problem.kind) == (3, "edited")


def test_a_deleted_entry_is_named(runtime, chain, pg_database):
    _tamper(pg_database, ("DELETE FROM audit_entry WHERE seq = 4", None))
    result = _verify(runtime, chain)
    assert (result.problem.seq, result.problem.kind, result.problem.entry_id) == (4, "missing", None)


def test_deleting_the_newest_entries_is_found_against_the_chain_head(runtime, chain, pg_database):
    _tamper(pg_database, ("DELETE FROM audit_entry WHERE seq >= 5", None))
    result = _verify(runtime, chain)
    assert (result.problem.seq, result.problem.kind) == (5, "missing")


def test_an_entry_inserted_in_the_middle_is_named(runtime, chain, pg_database):
    with _owner(pg_database) as conn:
        prev = conn.execute("SELECT hash FROM audit_entry WHERE seq = 2").fetchone()[0]
    forged = (
        "INSERT INTO audit_entry (tenant_id, seq, id, at, actor_label, action, target_type, target_id, details, "
        "prev_hash, hash) VALUES (%s, 3, %s, now(), 'x', 'case.view', 'case', '1', '{}', %s, %s)"
    )
    _tamper(
        pg_database,
        ("UPDATE audit_entry SET seq = seq + 1000 WHERE seq >= 3", None),
        ("UPDATE audit_entry SET seq = seq - 999 WHERE seq >= 1000", None),
        (forged, (chain.id, uuid.uuid4(), prev, "f" * 64)),
    )
    result = _verify(runtime, chain)
    assert (result.problem.seq, result.problem.kind) == (3, "edited")


def test_a_replayed_entry_appended_past_the_head_is_named(runtime, chain, pg_database):
    copy = (
        "INSERT INTO audit_entry (tenant_id, seq, id, at, actor_id, actor_label, action, target_type, target_id, "
        "case_id, legal_basis, details, prev_hash, hash) SELECT tenant_id, 7, %s, at, actor_id, actor_label, "
        "action, target_type, target_id, case_id, legal_basis, details, hash, hash FROM audit_entry WHERE seq = 6"
    )
    _tamper(pg_database, (copy, (uuid.uuid4(),)))
    result = _verify(runtime, chain)
    assert result.problem.seq == 7 and result.problem.kind in {"edited", "beyond_head"}


def test_reordered_entries_are_named(runtime, chain, pg_database):
    _tamper(
        pg_database,
        ("UPDATE audit_entry SET seq = 100 WHERE seq = 2", None),
        ("UPDATE audit_entry SET seq = 2 WHERE seq = 3", None),
        ("UPDATE audit_entry SET seq = 3 WHERE seq = 100", None),
    )
    result = _verify(runtime, chain)
    assert (result.problem.seq, result.problem.kind) == (2, "out_of_chain")


def test_the_cli_names_the_bad_entry_and_exits_1(runtime, chain, pg_database, monkeypatch):
    from tsunagu import cli

    monkeypatch.setattr("tsunagu.config.load_settings", lambda: runtime.settings)
    ok = CliRunner().invoke(cli.main, ["audit", "verify", "--tenant", "audit-a"])
    assert ok.exit_code == 0, ok.output
    assert "6 entries" in ok.output
    _tamper(pg_database, ("UPDATE audit_entry SET details = '{\"i\": 99}' WHERE seq = 2", None))
    bad = CliRunner().invoke(cli.main, ["audit", "verify", "--tenant", "audit-a"])
    assert bad.exit_code == 1
    assert "#2" in bad.output and "edited" in bad.output


def test_the_app_role_can_neither_update_nor_delete_entries(runtime, chain):
    for statement in (
        "UPDATE audit_entry SET action = 'x'",
        "DELETE FROM audit_entry",
        "TRUNCATE audit_entry",
    ):
        with _app(runtime) as conn:
            conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(chain.id),))
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    assert _verify(runtime, chain).checked == 6


def test_the_trigger_refuses_even_the_owner(runtime, chain, pg_database):
    with (
        _owner(pg_database) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute("DELETE FROM audit_entry WHERE seq = 1")


def test_an_entry_rolls_back_with_what_it_records(runtime, chain):
    with pytest.raises(RuntimeError), transaction(runtime.sessions, chain.id) as session:
        audit.record(session, None, "test.rolled_back")
        raise RuntimeError("the recorded action failed")
    _record_n(runtime, chain, 1)
    result = _verify(runtime, chain)
    assert result.ok and result.checked == 7


def test_fifty_concurrent_writers_in_one_tenant_leave_one_chain(runtime):
    tenant = make_tenant(runtime, "audit-busy")

    def one(i: int) -> int:
        with transaction(runtime.sessions, tenant.id) as session:
            return audit.record(session, f"user{i}@example.jp", "test.concurrent", details={"i": i}).seq

    with ThreadPoolExecutor(max_workers=10) as pool:
        seqs = list(pool.map(one, range(50)))
    assert sorted(seqs) == list(range(1, 51))
    result = _verify(runtime, tenant)
    assert result.ok and result.checked == 50


def test_a_tenant_sees_only_its_own_chain(runtime, chain):
    other = make_tenant(runtime, "audit-b")
    _record_n(runtime, other, 2)
    with transaction(runtime.sessions, other.id) as session:
        assert [e.seq for e in session.execute(select(AuditEntry)).scalars()] == [1, 2]
    with _app(runtime) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(other.id),))
        assert conn.execute("SELECT count(*) FROM audit_entry").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM audit_chain_head").fetchone()[0] == 1
    assert _verify(runtime, chain).checked == 6 and _verify(runtime, other).checked == 2


def test_a_different_key_does_not_verify(runtime, chain):
    with transaction(runtime.sessions, chain.id) as session:
        assert audit.verify(session, chain.id).ok
        assert audit.verify(session, chain.id, b"another key").problem.seq == 1
