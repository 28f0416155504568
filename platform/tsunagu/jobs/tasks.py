"""Celery tasks: thin wrappers that turn JSON arguments into one service call.

The worker builds its :class:`~tsunagu.core.runtime.Runtime` on the first task, in the process that runs
tasks (after a prefork pool has forked), and keeps it for the life of that process.

A message whose outcome could not be written down (the database is unreachable: ``DeliveryDeferred``) is
retried with exponential backoff and full jitter — 1, 2, 4, 8, then at most 10 s apart — so a worker consuming
a backlog while PostgreSQL restarts drops nothing and catches up within seconds of its return. Celery publishes
the retry before it acknowledges the original. After :data:`RETRY_LIMIT` retries (a minute and a half on average) the task
gives up; the outbox row is still unprocessed, and the relay sends it again.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from celery.signals import worker_process_init, worker_process_shutdown, worker_shutdown

from .. import models as _models  # noqa: F401 - every mapper configured before the first job
from ..core.outbox import PROCESS_TASK, DeliveryDeferred, load_handlers, process_message
from ..core.runtime import Runtime
from ..notifications import delivery as notifications_delivery
from . import app, settings_from_env

log = logging.getLogger("tsunagu.jobs")

_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def worker_runtime() -> Runtime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            load_handlers()
            settings = settings_from_env()
            notifications_delivery.configure(settings)
            _runtime = Runtime.from_settings(settings)
        return _runtime


def _drop_runtime(**_: Any) -> None:
    global _runtime
    with _runtime_lock:
        if _runtime is not None:
            _runtime.dispose()
            _runtime = None


@worker_process_init.connect
def _forget_parent_runtime(**_: Any) -> None:
    # A forked pool child must not use (or close) its parent's database connections.
    global _runtime
    if _runtime is not None:
        _runtime.engine.dispose(close=False)
        _runtime = None


worker_process_shutdown.connect(_drop_runtime, weak=False)
worker_shutdown.connect(_drop_runtime, weak=False)


#: Retries of a task whose database was unreachable; the relay's redelivery covers longer outages.
RETRY_LIMIT = 20
RETRY_BACKOFF_MAX_SECONDS = 10


@app.task(
    name=PROCESS_TASK,
    ignore_result=True,
    autoretry_for=(DeliveryDeferred,),
    retry_backoff=1,
    retry_backoff_max=RETRY_BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    max_retries=RETRY_LIMIT,
)
def process_outbox_message(tenant_id: str, message_id: str) -> str:
    """Deliver one outbox message; idempotent, so a redelivered task has no second effect."""
    outcome = process_message(worker_runtime(), uuid.UUID(tenant_id), uuid.UUID(message_id))
    log.info("outbox message %s of tenant %s: %s", message_id, tenant_id, outcome.value)
    return outcome.value


@app.task(name="tsunagu.keys.reencrypt", ignore_result=True)
def reencrypt_tenant_keys(tenant_id: str) -> int:
    """After ``tsunagu keys rotate``: re-seal the tenant's values under its current key in the background
    (small transactions beside live traffic; idempotent: a second run finds nothing left)."""
    from ..privacy.services import reencrypt_tenant

    count = reencrypt_tenant(worker_runtime(), uuid.UUID(tenant_id))
    log.info("tenant %s: %s values re-sealed", tenant_id, count)
    return count
