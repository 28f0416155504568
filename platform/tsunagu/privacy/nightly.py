"""The nightly retention job: once a day (Japan time, first beat tick at or after 03:00) every active tenant's
closed cases past its retention period are anonymised (``services.apply_retention``), one transaction per
tenant; one tenant's failure does not stop the others (the next tick retries it)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ..core.db import utcnow
from ..core.session import transaction
from ..tenancy.models import Tenant
from ..tenancy.services import list_active_tenants
from .services import apply_retention

log = logging.getLogger(__name__)
JST = timezone(timedelta(hours=9))
NIGHTLY_HOUR_JST = 3
_done: dict[uuid.UUID, date] = {}


@dataclass
class RetentionRun:
    anonymised: int = 0
    errors: list[str] = field(default_factory=list)


def run_retention_nightly(runtime: Any, now: datetime | None = None, *, force: bool = False) -> RetentionRun:
    now = now or utcnow()
    local = now.astimezone(JST)
    result = RetentionRun()
    if not force and local.hour < NIGHTLY_HOUR_JST:
        return result
    for listing in list_active_tenants(runtime):
        if not force and _done.get(listing.id) == local.date():
            continue
        try:
            with transaction(runtime.sessions, listing.id) as session:
                tenant = session.get(Tenant, listing.id)
                done = apply_retention(session, tenant.settings if tenant else None, now)
            result.anonymised += len(done.anonymised)
            _done[listing.id] = local.date()
        except Exception as exc:
            log.exception("retention of tenant %s failed", listing.slug)
            result.errors.append(f"{listing.slug}: {type(exc).__name__}: {exc}")
    return result
