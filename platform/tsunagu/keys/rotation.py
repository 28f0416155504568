"""Rotation, re-wrapping, re-encryption and crypto-shredding of a tenant's keys.

* :func:`rotate` — a new data key version becomes current; older versions stay to open what they sealed.
* :func:`reencrypt_batch` — re-seals up to ``limit`` values still sealed under an older version (or stored in
  clear from before the migration) with the current one. Each value is replaced only if it is still the value
  read (compare-and-set on the stored token), so a concurrent writer always wins and nothing is lost: run in
  small transactions beside live traffic (``tsunagu keys reencrypt``, the ``keys.reencrypt`` task).
* :func:`rewrap` — re-wraps every key of a tenant with the current master key (after a master-key rotation);
  the data is not touched.
* :func:`destroy` — crypto-shredding: the wrapped keys are erased; every sealed value of the tenant is then
  noise. The rows stay as tombstones so no new key is ever made for the tenant.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from sqlalchemy import Table, Text, and_, select, type_coerce, update
from sqlalchemy.orm import Session

from ..core import sealed
from ..core.db import Base, utcnow
from .keyring import Keyring, TenantKeys, current_keyring, wrap_aad
from .models import TenantKey


def rotate(session: Session, tenant_id: uuid.UUID, keyring: Keyring | None = None) -> int:
    """Make a new data key version current for ``tenant_id``; returns it. Committed with ``session``."""
    ring = keyring or current_keyring()
    with sealed.sealing_for(tenant_id, session):
        ring.keys_for(tenant_id, create=True)
    latest = session.execute(
        select(TenantKey.version)
        .where(TenantKey.tenant_id == tenant_id, TenantKey.purpose == "data")
        .order_by(TenantKey.version.desc())
        .limit(1)
        .with_for_update()
    ).scalar_one()
    version = latest + 1
    kek_id, wrapped = ring.kms.wrap(os.urandom(32), wrap_aad(tenant_id, "data", version))
    session.add(
        TenantKey(
            tenant_id=tenant_id,
            purpose="data",
            version=version,
            state="active",
            kek_id=kek_id,
            wrapped=wrapped,
        )
    )
    session.flush()
    ring.reload_in(session, tenant_id)
    return version


def rewrap(session: Session, tenant_id: uuid.UUID, keyring: Keyring | None = None) -> int:
    """Re-wrap the tenant's keys not wrapped by the current master key; returns how many."""
    ring = keyring or current_keyring()
    count = 0
    rows = session.execute(
        select(TenantKey)
        .where(TenantKey.tenant_id == tenant_id, TenantKey.state == "active")
        .with_for_update()
    ).scalars()
    for row in rows:
        if row.kek_id == ring.kms.current_kek_id or row.wrapped is None:
            continue
        aad = wrap_aad(tenant_id, row.purpose, row.version)
        raw = ring.kms.unwrap(row.kek_id, row.wrapped, aad)
        row.kek_id, row.wrapped = ring.kms.wrap(raw, aad)
        count += 1
    session.flush()
    return count


def destroy(session: Session, tenant_id: uuid.UUID, keyring: Keyring | None = None) -> int:
    """Crypto-shred ``tenant_id``: erase its wrapped keys (tombstones stay); returns the key rows destroyed."""
    ring = keyring or current_keyring()
    now = utcnow()
    rows = list(session.execute(select(TenantKey).where(TenantKey.tenant_id == tenant_id)).scalars())
    for row in rows:
        row.wrapped = None
        row.state = "destroyed"
        row.destroyed_at = now
    if not rows:
        session.add(
            TenantKey(tenant_id=tenant_id, purpose="data", version=0, state="destroyed", destroyed_at=now)
        )
    session.flush()
    ring.stage(session, TenantKeys(tenant_id, destroyed=True))
    ring.forget(tenant_id)
    return len(rows)


def sealed_columns() -> list[tuple[Table, str]]:
    """Every sealed column of every tenant table known to the model registry."""
    out: list[tuple[Table, str]] = []
    for table in Base.metadata.sorted_tables:
        if "tenant_id" not in table.c:
            continue
        out.extend((table, c.name) for c in table.c if isinstance(c.type, sealed._Sealed))
    return out


@dataclass
class ReencryptResult:
    resealed: int
    remaining: bool


def reencrypt_batch(
    session: Session, tenant_id: uuid.UUID, *, limit: int = 500, keyring: Keyring | None = None
) -> ReencryptResult:
    """Re-seal up to ``limit`` values of ``tenant_id`` not sealed under its current data key version."""
    ring = keyring or current_keyring()
    with sealed.sealing_for(tenant_id, session):
        current = ring.keys_for(tenant_id, create=True).current
    dialect = session.get_bind().dialect
    done = 0
    for table, name in sealed_columns():
        column = table.c[name]
        kind = column.type
        assert isinstance(kind, sealed._Sealed)
        raw_col = type_coerce(column, Text())
        pk = [c for c in table.primary_key.columns]
        stale_prefix = f"{sealed.SEALED_PREFIX}{tenant_id.hex}.{current}."
        stmt = (
            select(*pk, raw_col.label("raw"))
            .where(table.c.tenant_id == tenant_id, column.is_not(None), ~raw_col.startswith(stale_prefix))
            .limit(limit - done)
        )
        for row in session.execute(stmt).mappings().all():
            value = kind.process_result_value(row["raw"], dialect)
            with sealed.sealing_for(tenant_id, session):
                session.execute(
                    update(table)
                    .where(and_(*(c == row[c.name] for c in pk)), raw_col == row["raw"])
                    .values({name: value})
                    .execution_options(synchronize_session=False)
                )
            done += 1
        if done >= limit:
            return ReencryptResult(done, True)
    return ReencryptResult(done, False)
