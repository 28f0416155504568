"""Applying tenant presets to the database (``tsunagu tenants sync``).

Every file is validated before the database is touched; then all of them are applied in ONE transaction, so
either the whole directory is in place or nothing changed. Applying is idempotent: values are compared
before they are assigned, so a second run writes nothing (``updated_at`` stays put) and reports "no changes".
Org units are never deleted — memberships, cases and history point at them — a unit that left the file is
deactivated and comes back active if it returns. Tenants that have no file are left alone and listed.

It runs as the owner role (``TSUNAGU_MIGRATION_DATABASE_URL``) in a *system* session. Row-level security is
FORCED on ``org_unit`` even for the owner (unless the role has BYPASSRLS), so the transaction's tenant is
switched with :func:`set_transaction_tenant` before each tenant's org units are read or written, and
pending writes are flushed before the next switch so each row is checked against its own tenant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import sessionmaker

from ..core.db import make_engine, new_id
from ..core.runtime import Runtime
from ..core.session import TenantSession, make_sessionmaker, set_transaction_tenant, transaction
from .models import OrgUnit, OrgUnitOversight, Tenant
from .presets import TenantPreset, load_presets

#: ``pg_advisory_xact_lock`` key serialising concurrent syncs: the bytes of "tsunaguT" as a bigint.
_SYNC_LOCK_KEY = 0x7473756E_61677554


@dataclass
class TenantSyncResult:
    """What one sync changed for one tenant."""

    slug: str
    created: bool = False
    updated_fields: list[str] = field(default_factory=list)
    units_created: list[str] = field(default_factory=list)
    units_updated: dict[str, list[str]] = field(default_factory=dict)
    units_deactivated: list[str] = field(default_factory=list)
    units_reactivated: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.created
            or self.updated_fields
            or self.units_created
            or self.units_updated
            or self.units_deactivated
            or self.units_reactivated
        )

    def describe(self) -> str:
        if self.created:
            return f"{self.slug}: created, with {len(self.units_created)} org units"
        if not self.changed:
            return f"{self.slug}: no changes"
        parts = []
        if self.updated_fields:
            parts.append("updated " + ", ".join(self.updated_fields))
        if self.units_created:
            parts.append("org units created: " + ", ".join(self.units_created))
        if self.units_updated:
            items = (f"{code} ({', '.join(fields)})" for code, fields in self.units_updated.items())
            parts.append("org units updated: " + ", ".join(items))
        if self.units_deactivated:
            parts.append("org units deactivated: " + ", ".join(self.units_deactivated))
        if self.units_reactivated:
            parts.append("org units reactivated: " + ", ".join(self.units_reactivated))
        return f"{self.slug}: " + "; ".join(parts)


@dataclass
class SyncReport:
    tenants: list[TenantSyncResult] = field(default_factory=list)
    #: Tenants in the database without a preset file: left as they are.
    untouched: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def changed(self) -> bool:
        return any(t.changed for t in self.tenants)

    def for_tenant(self, slug: str) -> TenantSyncResult:
        return next(t for t in self.tenants if t.slug == slug)

    def lines(self) -> list[str]:
        out = [t.describe() for t in self.tenants]
        out += [f"{slug}: no preset file, left alone" for slug in self.untouched]
        if not self.changed:
            out.append("no changes")
        else:
            created = sum(t.created for t in self.tenants)
            updated = sum(t.changed and not t.created for t in self.tenants)
            unchanged = len(self.tenants) - created - updated
            out.append(
                f"{len(self.tenants)} tenants: {created} created, {updated} updated, {unchanged} unchanged"
            )
        if self.dry_run:
            out.append("dry run: nothing was written")
        return out


class _RollBack(Exception):
    """Raised inside the transaction to discard a dry run."""


def sync_presets(
    target: Runtime | sessionmaker[TenantSession], directory: Path, *, dry_run: bool = False
) -> SyncReport:
    """Validate every preset in ``directory`` and apply them all in one transaction.

    ``target`` is the runtime (the sync then connects as the owner role through
    ``settings.migration_database_url``) or a session factory to use as is. Raises
    :class:`~tsunagu.tenancy.presets.PresetError` before touching the database when any file is invalid.
    """
    presets = load_presets(Path(directory))
    if isinstance(target, Runtime):
        engine = make_engine(target.settings.migration_database_url)
        try:
            return _apply(make_sessionmaker(engine), presets, dry_run)
        finally:
            engine.dispose()
    return _apply(target, presets, dry_run)


def _apply(factory: sessionmaker[TenantSession], presets: list[TenantPreset], dry_run: bool) -> SyncReport:
    report = SyncReport(dry_run=dry_run)
    try:
        with transaction(factory, None, system=True) as session:
            _apply_in(session, presets, report)
            if dry_run:
                raise _RollBack
    except _RollBack:
        pass
    return report


def _apply_in(session: TenantSession, presets: list[TenantPreset], report: SyncReport) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # Two syncs at once would race on the same (tenant, code) rows; the second waits for the first.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SYNC_LOCK_KEY})
    existing = {t.slug: t for t in session.execute(select(Tenant)).scalars()}
    for preset in presets:
        result = TenantSyncResult(preset.slug)
        tenant = existing.get(preset.slug)
        if tenant is None:
            tenant = Tenant(id=new_id(), slug=preset.slug, **_tenant_values(preset, {}))
            session.add(tenant)
            result.created = True
        else:
            result.updated_fields = _assign(tenant, _tenant_values(preset, tenant.settings or {}))
        session.flush()  # the tenant row exists before its org units point at it
        set_transaction_tenant(session, tenant.id)
        _sync_org_units(session, tenant.id, preset, result)
        session.flush()  # written while this tenant is bound, before the next switch
        report.tenants.append(result)
    set_transaction_tenant(session, None)
    report.untouched = sorted(set(existing) - {p.slug for p in presets})


def _tenant_values(preset: TenantPreset, current_settings: dict[str, Any]) -> dict[str, Any]:
    # Preset sections replace their keys; other keys (set elsewhere, e.g. by an admin) are kept.
    return {
        "name": preset.name,
        "name_kana": preset.name_kana,
        "name_en": preset.name_en,
        "prefecture_code": preset.prefecture_code,
        "population": preset.population,
        "status": preset.status,
        "settings": {**current_settings, **preset.settings},
    }


def _sync_org_units(
    session: TenantSession, tenant_id: uuid.UUID, preset: TenantPreset, result: TenantSyncResult
) -> None:
    # Explicit tenant filter: a system session adds no ORM criteria, and RLS may be bypassed by the owner.
    units = {
        u.code: u for u in session.execute(select(OrgUnit).where(OrgUnit.tenant_id == tenant_id)).scalars()
    }
    ids = {code: unit.id for code, unit in units.items()}
    for wanted in preset.org_units:  # parents first, so a parent's id is known before its children
        values = {
            "name": wanted.name,
            "name_kana": wanted.name_kana,
            "kind": wanted.kind,
            "parent_id": ids[wanted.parent] if wanted.parent else None,
        }
        unit = units.get(wanted.code)
        if unit is None:
            unit = OrgUnit(tenant_id=tenant_id, id=new_id(), code=wanted.code, active=True, **values)
            session.add(unit)
            ids[wanted.code] = unit.id
            result.units_created.append(wanted.code)
            continue
        changed = _assign(unit, values)
        if changed:
            result.units_updated[wanted.code] = changed
        if not unit.active:
            unit.active = True
            result.units_reactivated.append(wanted.code)
    in_file = {u.code for u in preset.org_units}
    for code in sorted(units):
        if code not in in_file and units[code].active:
            units[code].active = False  # never deleted: memberships and records still point at it
            result.units_deactivated.append(code)
    _sync_oversight(session, tenant_id, preset, ids)


def _sync_oversight(
    session: TenantSession, tenant_id: uuid.UUID, preset: TenantPreset, ids: dict[str, uuid.UUID]
) -> None:
    """Make ``org_unit_oversight`` exactly the preset's ``oversees`` pairs (added and removed)."""
    session.flush()  # new units exist before a pair points at them
    wanted = {(ids[u.code], ids[code]) for u in preset.org_units for code in u.oversees}
    rows = session.execute(select(OrgUnitOversight).where(OrgUnitOversight.tenant_id == tenant_id)).scalars()
    have = {(r.overseer_id, r.overseen_id): r for r in rows}
    for pair, row in have.items():
        if pair not in wanted:
            session.delete(row)
    for overseer, overseen in sorted(wanted - set(have)):
        session.add(OrgUnitOversight(tenant_id=tenant_id, overseer_id=overseer, overseen_id=overseen))


def _assign(obj: Any, values: dict[str, Any]) -> list[str]:
    """Set only what differs, so an unchanged row is never marked dirty; returns the changed names."""
    changed = []
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed.append(name.removesuffix("_id"))
    return changed
