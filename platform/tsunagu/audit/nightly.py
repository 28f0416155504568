"""The nightly check: every active tenant's chain is verified as the owner role once a day (Japan time).

A broken chain is logged as an error and notified to the tenant's administrators (kind ``audit.chain_broken``,
one notification per tenant and day), and — when the chain can still take entries — recorded in the chain
itself as ``audit.verify_failed`` naming the first bad entry.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from ..core.db import utcnow
from ..core.runtime import Runtime
from ..core.session import transaction
from ..identity.models import Role
from ..notifications import services as notifications
from ..tenancy.services import list_active_tenants
from . import services as audit

log = logging.getLogger(__name__)

JST = timezone(timedelta(hours=9))
#: The check runs on the first beat tick at or after this hour, Japan time.
NIGHTLY_HOUR_JST = 2

CHAIN_BROKEN = notifications.register_kind(
    notifications.Kind(
        "audit.chain_broken",
        "監査ログの改ざんを検知しました",
        "Audit log tampering detected",
        template="audit_chain_broken",
        default_mode=notifications.Mode.EMAIL,
        modes=(notifications.Mode.EMAIL,),
    )
)
notifications.add_template_folder(Path(__file__).resolve().parent / "templates" / "mail")

#: Tenants checked today by this process (the check is read-only: two beats checking twice do no harm).
_checked: dict[uuid.UUID, date] = {}


@dataclass
class NightlyResult:
    verified: int = 0
    broken: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_nightly(runtime: Runtime, now: datetime | None = None, *, force: bool = False) -> NightlyResult:
    """Verify each active tenant's chain once per Japanese day, after :data:`NIGHTLY_HOUR_JST`."""
    now = now or utcnow()
    local = now.astimezone(JST)
    result = NightlyResult()
    if not force and local.hour < NIGHTLY_HOUR_JST:
        return result
    for listing in list_active_tenants(runtime):
        if not force and _checked.get(listing.id) == local.date():
            continue
        try:
            verification = audit.verify_as_owner(runtime, listing.id)
            _checked[listing.id] = local.date()
            result.verified += 1
            if verification.problem is not None:
                result.broken.append(listing.slug)
                _raise(runtime, listing.id, listing.slug, verification.problem, local.date())
        except Exception as exc:  # one tenant's failure does not stop the others; the next tick retries it
            log.exception("audit verification of tenant %s failed to run", listing.slug)
            result.errors.append(f"{listing.slug}: {type(exc).__name__}: {exc}")
    return result


def _raise(runtime: Runtime, tenant_id: uuid.UUID, slug: str, problem: audit.Problem, day: date) -> None:
    log.error("audit chain of tenant %s is broken: %s", slug, problem.message)
    with transaction(runtime.sessions, tenant_id) as session:
        audit.record(
            session,
            None,
            "audit.verify_failed",
            audit.Target("audit_entry", str(problem.seq)),
            details={"seq": problem.seq, "kind": problem.kind, "message": problem.message},
        )
        notifications.notify(
            session,
            CHAIN_BROKEN.key,
            [notifications.RoleIn(Role.TENANT_ADMIN.value)],
            "audit/",
            key=f"audit.chain_broken:{day.isoformat()}",
        )
