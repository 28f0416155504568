"""Offboarding a municipality (issue #16): export what the contract requires, then crypto-shred its keys.

``tsunagu tenants offboard SLUG --recipient-key municipality.pem --out archive.tsa``:

1. reads every table of the tenant's case file (people, cases, history with form data, progress records,
   consents, meetings' records of cases, the audit trail) through the application's sessions, so sealed
   values come out opened;
2. writes them as JSON + CSV in a ZIP, encrypted to the municipality's RSA public key (``privacy.archive``);
3. records ``tenant.offboard`` in the tenant's audit trail, then destroys the tenant's wrapped keys
   (``keys.destroy``): from then on every sealed value of the tenant is noise, in the database and in every
   backup taken before; other tenants' keys are untouched;
4. suspends the tenant (owner role) so nobody signs in to an empty shell.

The archive is written and read back before any key is destroyed; a failure before step 3 destroys nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select

from ..audit import services as audit
from ..core.db import Base, utcnow
from ..core.session import TenantSession, transaction
from ..keys import services as keys
from .archive import build_zip, seal_archive

#: The tenant tables the archive holds (the case file and its record); credentials, sessions, outbox and keys
#: are never exported.
EXPORTED_TABLES = (
    "org_unit",
    "person",
    "support_case",
    "case_event",
    "progress_record",
    "consent",
    "support_meeting_member",
    "human_task",
    "audit_entry",
)


@dataclass
class OffboardResult:
    archive: Path
    rows: dict[str, int]
    keys_destroyed: int


def export_tenant_tables(session: TenantSession) -> dict[str, list[dict[str, Any]]]:
    tenant_id = session.require_tenant_id()
    tables: dict[str, list[dict[str, Any]]] = {}
    for name in EXPORTED_TABLES:
        table = Base.metadata.tables.get(name)
        if not isinstance(table, Table):
            continue
        rows = session.execute(select(table).where(table.c.tenant_id == tenant_id)).mappings().all()
        tables[name] = [dict(r) for r in rows]
    return tables


def offboard(
    runtime: Any, tenant_id: uuid.UUID, slug: str, recipient_pem: bytes, out: Path
) -> OffboardResult:
    with transaction(runtime.sessions, tenant_id) as session:
        tables = export_tenant_tables(session)
        counts = {k: len(v) for k, v in tables.items()}
        manifest: dict[str, Any] = {
            "kind": "tenant_offboarding",
            "tenant": slug,
            "tenant_id": str(tenant_id),
            "exported_at": utcnow(),
            "tables": counts,
            "format": 1,
        }
        blob = seal_archive(build_zip(tables, manifest), recipient_pem)
        out.write_bytes(blob)
        if out.read_bytes() != blob:  # pragma: no cover - a disk that lies
            raise OSError(f"{out}: the archive did not read back; no key destroyed")
        audit.record(
            session,
            "operator:offboarding",
            "tenant.offboard",
            audit.Target("tenant", str(tenant_id)),
            details={"archive_bytes": len(blob), "tables": counts},
        )
    with transaction(runtime.sessions, tenant_id) as session:
        destroyed = keys.destroy(session, tenant_id)
    return OffboardResult(out, counts, destroyed)
