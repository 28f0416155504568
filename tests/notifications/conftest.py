"""Fixtures for notifications: a real SMTP server in-process (aiosmtpd) counting the messages it accepts, the
app with e-mail configured to it, and the web and worker fixtures of ``tests/web`` and ``tests/jobs``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller

from tests.jobs.conftest import broker_settings, celery_queue  # noqa: F401 - shared fixtures

# The browser fixtures (one Playwright per session) stay in tests/web: the bell's browser test lives there.
from tests.web.conftest import act_as, use_provider, web_provider, yokohama  # noqa: F401 - shared fixtures
from tsunagu.config import SmtpSettings
from tsunagu.notifications import delivery

FROM = "tsunagu@city.example.jp"
PUBLIC_URL = "http://tsunagu.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Recorder:
    """An aiosmtpd handler keeping every message it accepted (replied 250 to), in order.

    ``stall_first``: the first DATA is held — the client waits for the reply — until :attr:`release` is set,
    and then refused (451; when the client is gone aiosmtpd drops the session first): a message whose sender
    died mid-conversation is never accepted.
    """

    def __init__(self) -> None:
        self.accepted: list[bytes] = []
        self.stall_first = False
        self.stalled = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.stall_first and not self.stalled.is_set():
            self.stalled.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
            return "451 4.3.0 not accepted"
        with self._lock:
            self.accepted.append(bytes(envelope.content))
        return "250 2.0.0 OK: queued"

    def messages(self) -> list[EmailMessage]:
        with self._lock:
            raw = list(self.accepted)
        return [email.message_from_bytes(m, policy=default_policy) for m in raw]  # type: ignore[misc]


@dataclasses.dataclass
class MailServer:
    host: str
    port: int
    recorder: Recorder
    controller: Controller | None = None

    def settings(self, **overrides: object) -> SmtpSettings:
        base = SmtpSettings(
            host=self.host,
            port=self.port,
            security="none",
            from_address=FROM,
            timeout_seconds=3.0,
            retry_seconds=0.2,
            max_attempts=3,
        )
        return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]

    def start(self) -> None:
        self.controller = Controller(self.recorder, hostname=self.host, port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.recorder.release.set()
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_server() -> Iterator[MailServer]:
    server = MailServer("127.0.0.1", free_port(), Recorder())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_settings(runtime, smtp_server):
    """The test settings with e-mail going to ``smtp_server``."""
    return dataclasses.replace(runtime.settings, smtp=smtp_server.settings(), public_url=PUBLIC_URL)


@pytest.fixture
def app(runtime, mail_settings):
    """The app (test provider's secret) sending e-mail to the in-process SMTP server."""
    from tests.support.oidc import app_with_idp_secret

    return app_with_idp_secret(runtime, smtp=mail_settings.smtp, public_url=PUBLIC_URL)


@pytest.fixture
def inline(runtime, mail_settings):
    """The runtime processing outbox messages in-process (as the demo does), e-mail configured."""
    delivery.configure(mail_settings)
    return dataclasses.replace(runtime, settings=dataclasses.replace(mail_settings, redis_url=None))


@pytest.fixture(autouse=True)
def _restore_delivery_settings(runtime):
    yield
    delivery.configure(runtime.settings)


def body_text(message: EmailMessage) -> str:
    """Every text part of ``message``, decoded, with its headers: what a reader (or a leak) could see."""
    parts = [str(message["Subject"]), str(message["From"]), str(message["To"])]
    for part in message.walk():
        if part.get_content_maintype() == "multipart":
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            parts.append(payload.decode(part.get_content_charset() or "utf-8", errors="replace"))
    return "\n".join(parts)
