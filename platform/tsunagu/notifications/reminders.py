"""Daily reminders: the digest e-mail and escalations, once per tenant and business day at its digest time.

The periodic loop (``jobs.beat.tick``) calls :func:`run_reminders` with the current time (injectable, so tests
drive a clock) and the sources of what is due — which tasks are whose is the cases module's knowledge, handed
in as :class:`ReminderSources` (this module sits below it). For each active tenant whose local time is past
its ``digest_time`` on a business day, one transaction claims the day (a ``notification_digest_run`` row keyed
by the local date, so two beats or a restarted one never run it twice), then:

* **digest** — per user with tasks overdue, due today or due tomorrow, or with notifications they chose to get
  by digest: one ``digest`` notification keyed ``digest:<date>`` (counts only).
* **escalation** — every ready task ``escalate_after_days`` or more past its due date is notified to
  ``escalate_to_role`` in the task's org unit (falling back to the tenant administrators), keyed by task and
  threshold, so once per task per threshold however many days it stays overdue.

After an outage the loop runs today's date only: one digest, never one per missed day.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update

from ..core.db import utcnow
from ..core.runtime import Runtime
from ..core.session import TenantSession, transaction
from ..tenancy.models import Tenant
from ..tenancy.services import list_active_tenants
from .models import DigestRun, EmailMode, Notification
from .recipients import RoleIn
from .schedule import JST, TenantNotificationSettings, digest_due, tenant_settings
from .services import insert_new, notify

log = logging.getLogger("tsunagu.notifications")


@dataclass(frozen=True)
class DueCounts:
    overdue: int = 0
    due_today: int = 0
    due_tomorrow: int = 0


@dataclass(frozen=True)
class OverdueTask:
    task_id: uuid.UUID
    org_unit_id: uuid.UUID | None


@dataclass(frozen=True)
class ReminderSources:
    #: ``(session, local date, zone) → {user id: DueCounts}`` of the ready tasks assigned to each user
    agenda: Callable[[TenantSession, date, ZoneInfo], dict[uuid.UUID, DueCounts]]
    #: ``(session, cutoff) → tasks`` still ready whose due date is at or before ``cutoff``
    overdue: Callable[[TenantSession, datetime], list[OverdueTask]]


@dataclass
class ReminderResult:
    tenants: int = 0
    digests: int = 0
    escalations: int = 0
    errors: list[str] = field(default_factory=list)


#: tenant → the last local date this process ran (or found run) its reminders: saves a query per tick.
_ran: dict[uuid.UUID, date] = {}
#: tenant → (when read, its settings): the schedule is re-read at most every few minutes per process.
_settings_cache: dict[uuid.UUID, tuple[float, TenantNotificationSettings]] = {}
SETTINGS_TTL_SECONDS = 300.0


def run_reminders(runtime: Runtime, sources: ReminderSources, now: datetime | None = None) -> ReminderResult:
    now = now or utcnow()
    result = ReminderResult()
    for listing in list_active_tenants(runtime):
        try:
            _run_tenant(runtime, listing.id, sources, now, result)
        except Exception as exc:  # one tenant's failure does not stop the others; the next tick retries it
            log.exception("reminders of tenant %s failed", listing.slug)
            result.errors.append(f"{listing.slug}: {type(exc).__name__}: {exc}")
    return result


def _run_tenant(
    runtime: Runtime, tenant_id: uuid.UUID, sources: ReminderSources, now: datetime, result: ReminderResult
) -> None:
    local_day = now.astimezone(JST).date()
    if _ran.get(tenant_id) == local_day:
        return
    cached = _settings_cache.get(tenant_id)
    if (
        cached is not None
        and time.monotonic() - cached[0] < SETTINGS_TTL_SECONDS
        and digest_due(now, cached[1]) is None
    ):
        return  # not this tenant's time yet: no query every tick for every tenant
    with transaction(runtime.sessions, tenant_id) as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            return
        config = tenant_settings(tenant.settings)
        _settings_cache[tenant_id] = (time.monotonic(), config)
        day = digest_due(now, config)
        if day is None:
            return
        claimed = insert_new(
            session,
            DigestRun.__table__,  # type: ignore[arg-type]
            [{"tenant_id": tenant_id, "on_date": day, "ran_at": now, "digests": 0, "escalations": 0}],
            returning="on_date",
        )
        if claimed:
            digests = send_digests(session, sources, day, now)
            escalations = escalate(session, sources, config, now)
            session.execute(
                update(DigestRun)
                .where(DigestRun.on_date == day)
                .values(digests=digests, escalations=escalations)
                .execution_options(synchronize_session=False)
            )
            result.tenants += 1
            result.digests += digests
            result.escalations += escalations
            log.info(
                "reminders of %s for %s: %d digest(s), %d escalation(s)",
                tenant.slug,
                day,
                digests,
                escalations,
            )
    _ran[tenant_id] = day


def send_digests(session: TenantSession, sources: ReminderSources, day: date, now: datetime) -> int:
    agenda = sources.agenda(session, day, JST)
    waiting = session.execute(
        select(Notification.recipient_id, Notification.kind, func.count())
        .where(Notification.email_mode == EmailMode.DIGEST.value, Notification.digested_at.is_(None))
        .group_by(Notification.recipient_id, Notification.kind)
    ).all()
    gathered: dict[uuid.UUID, dict[str, int]] = {}
    for user_id, kind, count in waiting:
        gathered.setdefault(user_id, {})[f"new:{kind}"] = int(count)
    sent = 0
    for user_id in sorted(set(agenda) | set(gathered)):
        due = agenda.get(user_id, DueCounts())
        counts = {
            "overdue": due.overdue,
            "due_today": due.due_today,
            "due_tomorrow": due.due_tomorrow,
            **gathered.get(user_id, {}),
        }
        if not any(counts.values()):
            continue
        sent += len(
            notify(session, "digest", [user_id], "inbox", key=f"digest:{day.isoformat()}", counts=counts)
        )
    if gathered:
        session.execute(
            update(Notification)
            .where(
                Notification.email_mode == EmailMode.DIGEST.value,
                Notification.digested_at.is_(None),
                Notification.created_at <= now,
            )
            .values(digested_at=now)
            .execution_options(synchronize_session=False)
        )
    return sent


def escalate(
    session: TenantSession, sources: ReminderSources, config: TenantNotificationSettings, now: datetime
) -> int:
    days = config.escalate_after_days
    if not days:
        return 0
    sent = 0
    for task in sources.overdue(session, now - timedelta(days=days)):
        sent += len(
            notify(
                session,
                "task.escalated",
                [RoleIn(config.escalate_to_role, task.org_unit_id)],
                f"tasks/{task.task_id}",
                key=f"task.escalated:{task.task_id}:{days}",
                subject=("task", task.task_id),
                counts={"days": days},
            )
        )
    return sent
