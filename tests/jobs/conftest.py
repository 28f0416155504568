"""Fixtures for background work: a real Redis broker and a real Celery worker on a queue of this test session.

Other test runs may share the Redis server, so the queue and the worker's node name are unique per session and
the queue is deleted at the end.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from tests.support import pg
from tsunagu.config import Settings
from tsunagu.core.outbox import JobReceipt
from tsunagu.core.runtime import Runtime
from tsunagu.core.session import transaction

REPO_ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TSUNAGU_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
WAIT_SECONDS = 20.0

T = TypeVar("T")


def wait_for(check: Callable[[], T], what: str, timeout: float = WAIT_SECONDS) -> T:
    """Poll ``check`` until it returns something truthy, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def receipt_count(runtime: Runtime, tenant_id: uuid.UUID, message_id: uuid.UUID | None = None) -> int:
    with transaction(runtime.sessions, tenant_id) as session:
        query = select(func.count()).select_from(JobReceipt)
        if message_id is not None:
            query = query.where(JobReceipt.message_id == message_id)
        return int(session.execute(query).scalar_one())


def worker_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
    env.update(
        {
            "TSUNAGU_ENV": "test",
            "TSUNAGU_DATABASE_URL": settings.database_url,
            "TSUNAGU_MIGRATION_DATABASE_URL": settings.migration_database_url,
            "TSUNAGU_SECRET_KEY": settings.secret_key,
            "TSUNAGU_BASE_DOMAIN": settings.base_domain,
            "TSUNAGU_CELERY_QUEUE": settings.celery_queue,
        }
    )
    if settings.redis_url:
        env["TSUNAGU_REDIS_URL"] = settings.redis_url
    return env


@pytest.fixture(scope="session")
def celery_queue() -> str:
    return f"tsunagu-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def broker_settings(pg_settings: Settings, celery_queue: str) -> Settings:
    from tsunagu.jobs import install_outbox_publisher

    install_outbox_publisher()  # as beat's start-up does: the relay publishes through Celery
    return dataclasses.replace(pg_settings, redis_url=REDIS_URL, celery_queue=celery_queue)


@pytest.fixture
def broker_runtime(runtime: Runtime, broker_settings: Settings) -> Runtime:
    """The test database's runtime, publishing to this session's queue."""
    return dataclasses.replace(runtime, settings=broker_settings)


@pytest.fixture
def inline_runtime(runtime: Runtime) -> Runtime:
    """The test database's runtime with no broker: messages are processed in-process, as in the demo."""
    return dataclasses.replace(runtime, settings=dataclasses.replace(runtime.settings, redis_url=None))


def start_worker(
    settings: Settings, log_path: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """A real ``celery -A tsunagu.jobs worker`` (solo pool) on ``settings.celery_queue``, once it is ready."""
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tsunagu.jobs",
        "worker",
        "-Q",
        settings.celery_queue,
        "--pool",
        "solo",
        "--concurrency",
        "1",
        "-l",
        "info",
        "-n",
        f"{settings.celery_queue}-{uuid.uuid4().hex[:6]}@%h",
        # Other test runs may share this Redis: do not talk to their workers.
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
    ]
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=worker_env(settings) | (env or {}),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: process.poll() is not None or " ready." in log_path.read_text(errors="replace"),
            "the Celery worker to start",
        )
    except BaseException:
        stop_worker(process)
        raise
    if process.poll() is not None:
        pytest.fail(f"the Celery worker exited with {process.returncode}:\n{log_path.read_text()}")
    return process


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def celery_worker(
    pg_database: pg.TestDatabase, broker_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """A real ``celery -A tsunagu.jobs worker`` on this session's queue; yields its log file."""
    log_path = tmp_path_factory.mktemp("celery") / "worker.log"
    process = start_worker(broker_settings, log_path)
    try:
        yield log_path
    finally:
        stop_worker(process)
        delete_queue(broker_settings)


def delete_queue(settings: Settings) -> None:
    """Drop the session's queue: its messages and the binding kombu keeps for it in Redis."""
    from kombu import Exchange, Queue

    from tsunagu.jobs import close_publishers, publisher_for

    name = settings.celery_queue
    with publisher_for(settings).connection_for_write() as connection:
        # Declared here first so this connection knows the binding it then removes.
        queue = Queue(name, Exchange(name, type="direct"), routing_key=name)(connection.default_channel)
        queue.declare()
        queue.delete()
    close_publishers()
