"""Key rotation (issue #16, done-when 3): a new data key version seals new writes, values sealed under the old one
stay readable (readers accept both) while the background re-encryption re-seals them, without losing a
concurrent write; a master-key rotation re-wraps the tenant keys and everything stays readable."""

from __future__ import annotations

import base64
import dataclasses
import os

import psycopg
from sqlalchemy import select

from tests.keys.conftest import KANA, NAME, NOTE, open_case, unit_of
from tsunagu.cases.models import Person, ProgressRecord
from tsunagu.cases.people import person_match
from tsunagu.core import sealed
from tsunagu.core.runtime import Runtime
from tsunagu.core.session import transaction
from tsunagu.engine.models import ProcessInstance
from tsunagu.keys import services as keys
from tsunagu.privacy.services import reencrypt_tenant


def _versions(runtime, tenant_id) -> dict[str, set[int]]:
    """Key version of every sealed value of the tenant, per table.column, read raw as the owner."""
    url = runtime.settings.migration_database_url.replace("postgresql+psycopg://", "postgresql://")
    out: dict[str, set[int]] = {}
    with psycopg.connect(url) as conn:
        for table, column in keys.sealed_columns():
            rows = conn.execute(
                f'SELECT "{column}"::text FROM "{table.name}" WHERE tenant_id = %s AND "{column}" IS NOT NULL',
                (tenant_id,),
            ).fetchall()
            for (raw,) in rows:
                parsed = sealed.token_version(raw)
                assert parsed is not None, f"{table.name}.{column} in clear: {raw[:40]}"
                assert parsed[0] == tenant_id
                out.setdefault(f"{table.name}.{column}", set()).add(parsed[1])
    return out


def _read_all(runtime, tenant_id) -> tuple[str, str, str, bool]:
    with transaction(runtime.sessions, tenant_id) as session:
        person = session.execute(select(Person)).scalars().first()
        note = session.execute(select(ProgressRecord.content)).scalars().first()
        state = session.execute(select(ProcessInstance.serialized)).scalars().first()
        found = session.execute(select(Person.id).where(person_match(session, kana="ヒミツ"))).first()
        return person.name, person.name_kana, note, state.startswith("{") and found is not None


def test_rotation_keeps_old_values_readable_and_reencryption_moves_them_to_the_new_key(runtime, presets):
    tenant = presets["kunitachi"]
    open_case(runtime, tenant, unit_of(runtime, tenant))
    assert set().union(*_versions(runtime, tenant.id).values()) == {1}

    with transaction(runtime.sessions, tenant.id) as session:
        assert keys.rotate(session, tenant.id) == 2

    # readers accept both versions: nothing re-encrypted yet, everything opens
    assert _read_all(runtime, tenant.id) == (NAME, KANA, NOTE, True)
    # new writes take the new version
    open_case(runtime, tenant, unit_of(runtime, tenant), name="新規 次郎", kana="シンキ ジロウ")
    assert set().union(*_versions(runtime, tenant.id).values()) == {1, 2}

    # a concurrent writer during the re-encryption wins: batch 1 leaves the rest; a write lands; resume
    with transaction(runtime.sessions, tenant.id) as session:
        first = keys.reencrypt_batch(session, tenant.id, limit=1)
    assert first.resealed == 1 and first.remaining
    with transaction(runtime.sessions, tenant.id) as session:
        records = session.execute(select(ProgressRecord)).scalars().all()
        record = next(r for r in records if r.content == NOTE)  # sealed: compared in Python, never in SQL
        record.content = NOTE + "（追記）"
    resealed = reencrypt_tenant(runtime, tenant.id, batch=3)
    assert resealed > 3  # several small transactions

    assert set().union(*_versions(runtime, tenant.id).values()) == {2}
    with transaction(runtime.sessions, tenant.id) as session:
        contents = sorted(session.execute(select(ProgressRecord.content)).scalars())
    assert NOTE + "（追記）" in contents  # the concurrent write was not overwritten by the re-encryption
    with transaction(runtime.sessions, tenant.id) as session:
        names = sorted(session.execute(select(Person.name)).scalars())
        found = (
            session.execute(select(Person.name).where(person_match(session, kana="シンキ"))).scalars().all()
        )
    assert names == sorted([NAME, "新規 次郎"]) and found == ["新規 次郎"]


def _latest_person_version(runtime, tenant_id) -> int:
    url = runtime.settings.migration_database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        raw = conn.execute(
            "SELECT name FROM person WHERE tenant_id = %s ORDER BY created_at DESC LIMIT 1", (tenant_id,)
        ).fetchone()[0]
    return sealed.token_version(raw)[1]


def test_another_process_takes_up_a_rotation_when_its_cache_expires(runtime, presets):
    tenant = presets["kunitachi"]
    unit = unit_of(runtime, tenant)
    open_case(runtime, tenant, unit)
    ring = keys.current_keyring()
    other = keys.build_keyring(runtime.settings, runtime.engine)  # a second process: its own cache
    other.cache_seconds = 3600
    try:
        sealed.install(other)
        assert _read_all(runtime, tenant.id)[:3] == (NAME, KANA, NOTE)  # caches version 1
        sealed.install(ring)
        with transaction(runtime.sessions, tenant.id) as session:
            keys.rotate(session, tenant.id)
        sealed.install(other)
        open_case(runtime, tenant, unit, name="古い 鍵", kana="フルイ カギ")
        assert _latest_person_version(runtime, tenant.id) == 1  # still sealing with what it cached: readable
        other.cache_seconds = 0  # the cache expires
        open_case(runtime, tenant, unit, name="新しい 鍵", kana="アタラシイ カギ")
        assert _latest_person_version(runtime, tenant.id) == 2
    finally:
        sealed.install(ring)
    assert _read_all(runtime, tenant.id)[:3] == (NAME, KANA, NOTE)


def test_master_key_rotation_rewraps_every_tenant_key_and_data_stays_readable(runtime, presets):
    tenant = presets["iwamizawa"]
    open_case(runtime, tenant, unit_of(runtime, tenant))
    old_ring = keys.current_keyring()
    new_key = base64.b64encode(os.urandom(32)).decode()
    old_key = keys.build_keyring(runtime.settings, None).kms  # the development key in tests
    assert old_key.current_kek_id.startswith("env:")
    env = dict(runtime.settings.extra)
    env["TSUNAGU_MASTER_KEY"] = new_key
    from tsunagu.keys.kms import DEV_MASTER_KEY

    env["TSUNAGU_MASTER_KEY_PREVIOUS"] = DEV_MASTER_KEY.decode()
    rotated = Runtime.from_settings(dataclasses.replace(runtime.settings, extra=env))
    try:
        with transaction(rotated.sessions, tenant.id) as session:
            assert keys.rewrap(session, tenant.id) == 2  # the data key and the blind-index key
        # without the previous master key, a fresh process still opens everything: all wrapped by the new one
        env.pop("TSUNAGU_MASTER_KEY_PREVIOUS")
        only_new = Runtime.from_settings(dataclasses.replace(runtime.settings, extra=env))
        try:
            assert _read_all(only_new, tenant.id) == (NAME, KANA, NOTE, True)
        finally:
            only_new.dispose()
    finally:
        rotated.dispose()
        sealed.install(old_ring)


def test_the_celery_task_reencrypts_in_the_background(runtime, presets, monkeypatch):
    from tsunagu import jobs
    from tsunagu.jobs import tasks

    tenant = presets["iwamizawa"]
    open_case(runtime, tenant, unit_of(runtime, tenant))
    with transaction(runtime.sessions, tenant.id) as session:
        keys.rotate(session, tenant.id)
    # the Celery app configures itself from the environment, as a worker does
    for name, value in {
        "TSUNAGU_ENV": "test",
        "TSUNAGU_SECRET_KEY": runtime.settings.secret_key,
        "TSUNAGU_DATABASE_URL": runtime.settings.database_url,
        "TSUNAGU_REDIS_URL": "redis://127.0.0.1:6379/0",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(tasks, "_runtime", runtime)  # the worker's runtime, on the test database
    monkeypatch.setattr(jobs, "_settings", None)  # read from this environment, forgotten afterwards
    assert tasks.reencrypt_tenant_keys.run(str(tenant.id)) > 0
    assert set().union(*_versions(runtime, tenant.id).values()) == {2}
    assert tasks.reencrypt_tenant_keys.run(str(tenant.id)) == 0  # idempotent: nothing left
    assert _read_all(runtime, tenant.id) == (NAME, KANA, NOTE, True)
