"""The Celery application: ``celery -A tsunagu.jobs worker -Q <TSUNAGU_CELERY_QUEUE>`` (or ``tsunagu worker``).

Importing this module touches neither the environment nor the database: the worker's configuration is read
from ``TSUNAGU_*`` variables the first time Celery needs it, and the worker builds its database runtime on the
first task (``tasks.py``). Work reaches the worker only through the outbox (``core/outbox.py``), as the one
task ``tsunagu.outbox.process`` with JSON arguments ``[tenant_id, message_id]``; importing this module registers
:class:`CeleryPublisher` as the outbox's publisher (core itself knows no transport).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from celery import Celery
from celery.signals import worker_init

from ..config import Settings
from ..core.outbox import PROCESS_TASK, set_publisher

TASK_MODULES = ("tsunagu.jobs.tasks",)

_settings: Settings | None = None
_lock = threading.Lock()
_publishers: dict[str, Celery] = {}
_queue_clients: dict[str, Any] = {}


def settings_from_env() -> Settings:
    """The worker's settings, read once per process (a ``ConfigError`` names what is missing)."""
    global _settings
    with _lock:
        if _settings is None:
            _settings = Settings.from_env()
        return _settings


def celery_config(settings: Settings) -> dict[str, Any]:
    return {
        # Without Redis nothing is published (the demo processes inline); "memory://" keeps an accidental
        # import harmless, and the worker refuses to start on it (below).
        "broker_url": settings.redis_url or "memory://",
        "broker_connection_retry_on_startup": True,
        # Visibility timeout: Redis hands an unacknowledged task (its worker was killed) out again after an hour.
        # Correctness does not depend on it: the outbox relay re-sends an unprocessed message within
        # TSUNAGU_OUTBOX_REDELIVER_SECONDS. It must exceed the longest retry countdown (10 s, tasks.py), or Redis
        # would hand out a waiting retry twice.
        "broker_transport_options": {"visibility_timeout": 3600},
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "result_backend": None,
        "task_default_queue": settings.celery_queue,
        # Acknowledge after the task ran, and hand it back if the worker dies: consumers are idempotent.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # The relay publishes while holding a row lock: retry briefly, then give up and let the next tick retry.
        "task_publish_retry_policy": {
            "max_retries": 3,
            "interval_start": 0,
            "interval_step": 0.5,
            "interval_max": 2,
        },
        "enable_utc": True,
        "timezone": "UTC",
    }


def make_celery(settings: Settings | None = None) -> Celery:
    """The worker's app (``settings=None``: lazily from the environment) or a publisher for given settings."""
    if settings is None:
        celery_app = Celery("tsunagu", include=list(TASK_MODULES))
        celery_app.add_defaults(lambda: celery_config(settings_from_env()))
    else:
        celery_app = Celery("tsunagu", set_as_current=False)
        celery_app.add_defaults(celery_config(settings))
    return celery_app


app = make_celery()
celery = app


@worker_init.connect
def _refuse_to_start_without_redis(sender: Any = None, **_: Any) -> None:
    if getattr(sender, "app", None) is not app or settings_from_env().uses_broker:
        return
    # SystemExit, not an exception: Celery logs and swallows exceptions raised by signal receivers.
    raise SystemExit(
        "TSUNAGU_REDIS_URL is not set: the worker needs Redis as its broker "
        "(without Redis, `tsunagu dev` runs background work in-process)"
    )


def publisher_for(settings: Settings) -> Celery:
    """A Celery app publishing to ``settings.redis_url``, one per broker and process, reused for its pool."""
    if not settings.redis_url:
        raise RuntimeError("no broker configured (TSUNAGU_REDIS_URL): outbox messages are processed inline")
    with _lock:
        publisher = _publishers.get(settings.redis_url)
        if publisher is None:
            publisher = _publishers[settings.redis_url] = make_celery(settings)
        return publisher


def send_process_message(settings: Settings, tenant_id: uuid.UUID, message_id: uuid.UUID) -> None:
    """Publish ``tsunagu.outbox.process`` to ``settings.celery_queue``; raises if the broker cannot take it."""
    publisher_for(settings).send_task(
        PROCESS_TASK, args=[str(tenant_id), str(message_id)], queue=settings.celery_queue
    )


def queue_length(settings: Settings) -> int | None:
    """Messages waiting in ``settings.celery_queue`` (not those a worker holds), or ``None`` if Redis cannot
    say within a second. Celery's Redis transport keeps a queue as a list under the queue's name."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    if not settings.redis_url:
        return None
    with _lock:
        client = _queue_clients.get(settings.redis_url)
        if client is None:
            client = _queue_clients[settings.redis_url] = redis.Redis.from_url(
                settings.redis_url, socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 0)
            )
    try:
        return int(client.llen(settings.celery_queue))
    except redis.RedisError:  # Redis down: publishing will say so
        return None


class CeleryPublisher:
    """The outbox's transport: Celery on Redis (``core.outbox.Publisher``)."""

    def publish(self, settings: Settings, tenant_id: uuid.UUID, message_id: uuid.UUID) -> None:
        send_process_message(settings, tenant_id, message_id)

    def waiting(self, settings: Settings) -> int | None:
        return queue_length(settings)


def install_outbox_publisher() -> None:
    """Make the outbox relay publish through Celery (done on import; explicit for start-up code)."""
    set_publisher(CeleryPublisher())


install_outbox_publisher()


def close_publishers() -> None:
    with _lock:
        for publisher in _publishers.values():
            publisher.close()
        _publishers.clear()
        for client in _queue_clients.values():
            client.close()
        _queue_clients.clear()
