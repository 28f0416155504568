"""Exactly one e-mail although the real Celery worker is SIGKILLed in the middle of the SMTP conversation
and the outbox message is delivered three more times (what a broker, a racing relay or a restarted worker
does). The SMTP server holds the first DATA until the kill, so that message is never accepted."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import select

from tests.jobs.conftest import REPO_ROOT, delete_queue, wait_for, worker_env
from tests.notifications.conftest import PUBLIC_URL
from tests.web.conftest import make_staff
from tsunagu.config import Settings
from tsunagu.core.outbox import OutboxMessage, relay_pending
from tsunagu.core.session import transaction
from tsunagu.jobs import install_outbox_publisher, send_process_message
from tsunagu.notifications import delivery
from tsunagu.notifications import services as notifications
from tsunagu.notifications.models import Delivery


def mail_env(settings: Settings) -> dict[str, str]:
    smtp = settings.smtp
    assert smtp is not None
    env = worker_env(settings)
    env.update(
        {
            "TSUNAGU_SMTP_HOST": smtp.host,
            "TSUNAGU_SMTP_PORT": str(smtp.port),
            "TSUNAGU_SMTP_SECURITY": smtp.security,
            "TSUNAGU_SMTP_FROM": smtp.from_address,
            "TSUNAGU_SMTP_TIMEOUT_SECONDS": str(smtp.timeout_seconds),
            "TSUNAGU_SMTP_RETRY_SECONDS": str(smtp.retry_seconds),
            "TSUNAGU_SMTP_MAX_ATTEMPTS": str(smtp.max_attempts),
            "TSUNAGU_PUBLIC_URL": settings.public_url,
        }
    )
    return env


def start_worker(settings: Settings, log_path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable, "-m", "celery", "-A", "tsunagu.jobs", "worker",
        "-Q", settings.celery_queue, "--pool", "solo", "--concurrency", "1", "-l", "info",
        "-n", f"{settings.celery_queue}-{uuid.uuid4().hex[:6]}@%h",
        "--without-mingle", "--without-gossip", "--without-heartbeat",
    ]  # fmt: skip
    log_file = log_path.open("ab")
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=mail_env(settings), stdout=log_file, stderr=subprocess.STDOUT
    )
    log_file.close()
    start = log_path.stat().st_size if log_path.exists() else 0
    wait_for(
        lambda: process.poll() is not None or " ready." in log_path.read_text(errors="replace")[start:],
        "the Celery worker to start",
        timeout=60,
    )
    if process.poll() is not None:
        pytest.fail(f"the Celery worker exited with {process.returncode}:\n{log_path.read_text()}")
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_worker_killed_mid_send_and_three_redeliveries_still_send_exactly_one_email(
    runtime, yokohama, smtp_server, broker_settings, tmp_path
):
    settings = dataclasses.replace(
        broker_settings,
        celery_queue=f"{broker_settings.celery_queue}-kill",
        smtp=smtp_server.settings(timeout_seconds=2.0),
        public_url=PUBLIC_URL,
    )
    delivery.configure(settings)
    install_outbox_publisher()
    rt = dataclasses.replace(runtime, settings=settings)
    recorder = smtp_server.recorder
    recorder.stall_first = True
    colleague = make_staff(runtime, yokohama, "col@example.jp", "同僚 一郎", ["consultant"])
    with transaction(runtime.sessions, yokohama.id) as session:
        notifications.notify(session, "task.assigned", [colleague.user_id], "inbox", key="kill-test")
    with transaction(runtime.sessions, yokohama.id) as session:
        (original,) = [m.id for m in session.execute(select(OutboxMessage)).scalars()]

    log_path = tmp_path / "worker.log"
    workers = [start_worker(settings, log_path)]
    try:
        assert relay_pending(rt) == 1
        assert recorder.stalled.wait(30), "the worker never reached DATA"
        os.kill(workers[0].pid, signal.SIGKILL)  # in the middle of the SMTP conversation
        workers[0].wait(timeout=20)
        recorder.release.set()
        with transaction(runtime.sessions, yokohama.id) as session:
            claimed = session.execute(select(Delivery)).scalar_one()
        assert claimed.state == "sending" and claimed.attempts == 1 and recorder.accepted == []

        workers.append(start_worker(settings, log_path))
        for _ in range(3):  # the same message, delivered again and again
            send_process_message(settings, yokohama.id, original)

        def sent() -> bool:
            relay_pending(rt)  # beat's part: follow-ups come due when the dead sender's lease ends
            with transaction(runtime.sessions, yokohama.id) as session:
                return session.execute(select(Delivery.state)).scalar_one() == "sent"

        lease = delivery.lease_for(settings.smtp).total_seconds()  # type: ignore[arg-type]
        wait_for(sent, "the delivery to be sent again after the lease", timeout=lease + 30)
        time.sleep(1.0)
        relay_pending(rt)
        time.sleep(1.0)
        assert len(recorder.accepted) == 1, "exactly one message accepted by the SMTP server"
        assert recorder.stalled.is_set()  # the first conversation was held at DATA, and never completed
        with transaction(runtime.sessions, yokohama.id) as session:
            final = session.execute(select(Delivery)).scalar_one()
        assert final.attempts == 2
        log = log_path.read_text(errors="replace")
        assert "busy" in log  # the redeliveries found the claim alive and left it alone
    finally:
        for process in workers:
            stop(process)
        delete_queue(settings)
