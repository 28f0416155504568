"""The periodic loop (``tsunagu beat``; in the demo, a thread of ``tsunagu dev``).

Each tick relays the outbox, fires due BPMN timers, verifies each tenant's audit chain nightly (``audit.nightly``)
and runs the tenants' daily reminders (digest e-mails and
escalations, ``notifications.reminders``) once their local digest time has come. All are safe to run in
several processes at once (``FOR UPDATE SKIP LOCKED``; one reminder run per tenant and day, keyed by its
date), so a second beat during a rolling deploy does no harm.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .. import models as _models  # noqa: F401 - every mapper configured before the first job
from ..config import Settings
from ..core.db import is_database_unavailable
from ..core.outbox import relay_pending
from ..core.runtime import Runtime
from ..notifications import delivery as notifications_delivery
from ..notifications.reminders import ReminderSources, run_reminders

log = logging.getLogger("tsunagu.beat")

RELAY_BATCH = 100
#: Bound one tick's work so timers are not starved behind a large outbox backlog.
MAX_RELAY_BATCHES = 10
TIMERS_MODULE = "tsunagu.cases.services"  # fire_due_timers: the advance path of cases


@dataclass
class TickResult:
    relayed: int = 0
    timers_fired: int = 0
    digests: int = 0
    escalations: int = 0
    idempotency_purged: int = 0
    consents_expired: int = 0
    #: tenants whose audit chain was verified this tick (nightly), and the slugs of broken ones
    audit_verified: int = 0
    audit_broken: list[str] = field(default_factory=list)
    #: closed cases anonymised after their tenant's retention period (nightly, issue #16)
    retention_anonymised: int = 0
    errors: list[str] = field(default_factory=list)


def _reminder_sources() -> ReminderSources:
    # Which tasks are due for whom is the cases module's knowledge; notifications sits below it.
    from ..cases import reminders

    return ReminderSources(agenda=reminders.agenda, overdue=reminders.overdue_tasks)


def tick(runtime: Runtime, now: datetime | None = None) -> TickResult:
    """One round of periodic work; a failing step is logged and does not stop the others.

    ``now`` is the clock the reminders are judged by (tests pass one; beat the current time)."""
    result = TickResult()
    try:
        for _ in range(MAX_RELAY_BATCHES):
            relayed = relay_pending(runtime, RELAY_BATCH)
            result.relayed += relayed
            if relayed < RELAY_BATCH:
                break
    except Exception as exc:
        _log_failure("outbox relay failed", exc)
        result.errors.append(f"outbox: {type(exc).__name__}: {exc}")

    fire_due_timers = _timer_hook()
    if fire_due_timers is not None:
        try:
            fired = fire_due_timers(runtime)
            result.timers_fired = fired if isinstance(fired, int) else 0
        except Exception as exc:
            _log_failure("firing due timers failed", exc)
            result.errors.append(f"timers: {type(exc).__name__}: {exc}")

    try:
        reminders = run_reminders(runtime, _reminder_sources(), now)
        result.digests, result.escalations = reminders.digests, reminders.escalations
        result.errors.extend(f"reminders: {error}" for error in reminders.errors)
    except Exception as exc:
        log.exception("daily reminders failed")
        result.errors.append(f"reminders: {type(exc).__name__}: {exc}")

    try:
        result.idempotency_purged = purge_idempotency_keys(runtime, now)
    except Exception as exc:
        _log_failure("purging idempotency keys failed", exc)
        result.errors.append(f"idempotency: {type(exc).__name__}: {exc}")

    try:
        # Consents past their valid_until expire and their case's consultant is told (issue #15).
        from ..cases.information import expire_consents_everywhere

        result.consents_expired = expire_consents_everywhere(runtime)
    except Exception as exc:
        _log_failure("expiring consents failed", exc)
        result.errors.append(f"consents: {type(exc).__name__}: {exc}")

    try:
        from ..audit.nightly import run_nightly

        nightly = run_nightly(runtime, now)
        result.audit_verified, result.audit_broken = nightly.verified, nightly.broken
        result.errors.extend(f"audit: {error}" for error in nightly.errors)
    except Exception as exc:
        _log_failure("nightly audit verification failed", exc)
        result.errors.append(f"audit: {type(exc).__name__}: {exc}")

    try:
        from ..privacy.nightly import run_retention_nightly

        retention = run_retention_nightly(runtime, now)
        result.retention_anonymised = retention.anonymised
        result.errors.extend(f"retention: {error}" for error in retention.errors)
    except Exception as exc:
        _log_failure("nightly retention failed", exc)
        result.errors.append(f"retention: {type(exc).__name__}: {exc}")
    return result


#: How often a beat process deletes the API's idempotency keys past ``core.idempotency.RETENTION``.
IDEMPOTENCY_PURGE_INTERVAL = timedelta(hours=1)
_last_purge: dict[int, datetime] = {}


def purge_idempotency_keys(runtime: Runtime, now: datetime | None = None, *, force: bool = False) -> int:
    """Delete expired ``Idempotency-Key`` answers, tenant by tenant (each under its own RLS binding), at most
    once per :data:`IDEMPOTENCY_PURGE_INTERVAL` per runtime."""
    from ..core import idempotency
    from ..core.db import utcnow
    from ..core.session import transaction
    from ..tenancy.services import list_tenants

    moment = now or utcnow()
    last = _last_purge.get(id(runtime))
    if not force and last is not None and moment - last < IDEMPOTENCY_PURGE_INTERVAL:
        return 0
    _last_purge[id(runtime)] = moment
    purged = 0
    for tenant in list_tenants(runtime):
        with transaction(runtime.sessions, tenant.id) as session:
            purged += idempotency.purge_expired(session, moment)
    return purged


def _is_outage(exc: BaseException) -> bool:
    """PostgreSQL or the broker is unavailable: expected during an outage, retried by the next tick."""
    from kombu.exceptions import OperationalError as BrokerUnavailable
    from redis.exceptions import ConnectionError as RedisUnavailable

    return is_database_unavailable(exc) or isinstance(
        exc, BrokerUnavailable | RedisUnavailable | ConnectionError | TimeoutError
    )


def _log_failure(what: str, exc: BaseException) -> None:
    # An outage gets one line per tick, not a traceback per tick; anything else is a bug and gets the traceback.
    if _is_outage(exc):
        first_line = (str(exc).splitlines() or [""])[0]
        log.warning("%s, will retry next tick: %s: %s", what, type(exc).__name__, first_line)
    else:
        log.exception(what)


def _timer_hook() -> Callable[[Runtime], Any] | None:
    # The engine's timers arrive with the engine module; until then beat only relays the outbox.
    try:
        if importlib.util.find_spec(TIMERS_MODULE) is None:
            return None
    except ModuleNotFoundError:
        return None
    fire: Callable[[Runtime], Any] | None = getattr(
        importlib.import_module(TIMERS_MODULE), "fire_due_timers", None
    )
    return fire


def run_beat(settings: Settings, *, stop: threading.Event | None = None) -> None:
    """Tick every ``settings.beat_interval_seconds`` until SIGTERM/SIGINT (or ``stop`` is set).

    A signal only sets the stop flag: the tick in progress finishes its transactions, then the loop ends.
    """
    stop_event = stop if stop is not None else threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda _signum, _frame: stop_event.set())
    runtime = Runtime.from_settings(settings)
    notifications_delivery.configure(settings)
    interval = settings.beat_interval_seconds
    log.info("beat started: every %.1f s, %s", interval, "via Celery" if settings.uses_broker else "inline")
    try:
        while not stop_event.is_set():
            started = time.monotonic()
            tick(runtime)
            stop_event.wait(max(0.0, interval - (time.monotonic() - started)))
    finally:
        runtime.dispose()
        for restored, handler in previous.items():
            signal.signal(restored, handler)
        log.info("beat stopped")
