"""E-mail: Jinja templates (Japanese, English) rendered from a whitelist, sent over SMTP with ``smtplib``.

**Library.** The standard library's ``smtplib`` and ``email`` packages: maintained with Python itself, they
run in a Celery worker with no Flask application or request (Flask-Mailman reads its configuration from
``current_app`` and needs an app context in every worker task), and they expose the SMTP conversation we need
to see — the server's reply to the end of DATA is exactly the moment a message is accepted, the line our
exactly-once delivery is drawn on (``delivery.py``). Flask-Mailman and Django's mail backend are wrappers over
these same modules.

**No personal data.** A template sees a :class:`MailContext` and nothing else: the kind's label, the link,
the tenant's name, whole-number counts and, for invitations, the meeting's time and place. There is no field
for a person's name, kana, birth date or any text of a case, so no template and no tenant setting can put one
in a message (this is stricter than "off by default": 要配慮 information can never be switched on).
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

from ..config import SmtpSettings
from ..web.dates import dual_date

TEMPLATES = Path(__file__).resolve().parent / "templates" / "notifications" / "mail"


@dataclass(frozen=True)
class EventFacts:
    """A meeting's time and place, for invitation mails (no agenda, no participants)."""

    starts: str
    ends: str
    summary: str
    location: str


@dataclass(frozen=True)
class MailContext:
    """Everything a mail template may use. Built only by :func:`mail_context`."""

    language: str
    kind_label: str
    link: str
    tenant_name: str
    counts: Mapping[str, int] = field(default_factory=dict)
    #: ``(label, count)`` of notifications a digest gathers, by kind
    kind_counts: tuple[tuple[str, int], ...] = ()
    event: EventFacts | None = None


def mail_context(
    *,
    language: str,
    kind_label: str,
    link: str,
    tenant_name: str,
    counts: Mapping[str, int] | None = None,
    kind_counts: tuple[tuple[str, int], ...] = (),
    event: Mapping[str, object] | None = None,
) -> MailContext:
    clean_counts = {str(k): int(v) for k, v in (counts or {}).items() if isinstance(v, int)}
    facts = None
    if event is not None:
        starts = datetime.fromisoformat(str(event["start"]))
        ends = datetime.fromisoformat(str(event["end"]))
        facts = EventFacts(
            starts=_when(starts, language),
            ends=_when(ends, language),
            summary=str(event.get("summary", "")),
            location=str(event.get("location", "")),
        )
    return MailContext(
        language="en" if language == "en" else "ja",
        kind_label=kind_label,
        link=link,
        tenant_name=tenant_name,
        counts=clean_counts,
        kind_counts=kind_counts,
        event=facts,
    )


def _when(moment: datetime, language: str) -> str:
    from .schedule import JST

    local = moment.astimezone(JST)
    day = dual_date(local.date(), language)
    return f"{day} {local:%H:%M}"


_extra_loaders: list[FileSystemLoader] = []
_env: Environment | None = None


def add_template_folder(path: Path) -> None:
    """Templates of kinds registered by other modules (``<template>.subject.<lang>.txt``, ``.body.``)."""
    global _env
    _extra_loaders.append(FileSystemLoader(str(path)))
    _env = None


def environment() -> Environment:
    global _env
    if _env is None:
        _env = Environment(
            loader=ChoiceLoader([FileSystemLoader(str(TEMPLATES)), *_extra_loaders]),
            undefined=StrictUndefined,  # a template naming anything outside MailContext fails loudly
            autoescape=False,  # noqa: S701 - plain-text e-mail, never HTML
            keep_trailing_newline=True,
        )
    return _env


def render(template: str, ctx: MailContext) -> tuple[str, str]:
    """``(subject, body)`` of a kind's template in the context's language."""
    env = environment()
    subject = env.get_template(f"{template}.subject.{ctx.language}.txt").render(ctx=ctx)
    body = env.get_template(f"{template}.body.{ctx.language}.txt").render(ctx=ctx)
    return " ".join(subject.split()), body


def build_message(
    *,
    smtp: SmtpSettings,
    from_name: str,
    reply_to: str | None,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    language: str,
    calendar: tuple[bytes, str] | None = None,
    date: datetime | None = None,
) -> EmailMessage:
    """A text/plain message (UTF-8); with ``calendar`` = (ics, method), also a text/calendar part and file."""
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Subject"] = subject
    msg["From"] = formataddr((from_name, smtp.from_address))
    msg["To"] = to
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Date"] = format_datetime(date or datetime.now().astimezone())
    msg["Message-ID"] = message_id
    msg["Content-Language"] = language
    # Automatic mail: no out-of-office replies to it, no loops (RFC 3834).
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(body, charset="utf-8")
    if calendar is not None:
        ics, method = calendar
        msg.add_alternative(
            ics.decode("utf-8"), subtype="calendar", charset="utf-8", params={"method": method}
        )
        msg.add_attachment(
            ics, maintype="application", subtype="ics", filename="invite.ics", params={"method": method}
        )
    return msg


class PermanentMailError(Exception):
    """The server refused the message for good (5xx): retrying cannot help."""


def is_permanent(exc: BaseException) -> bool:
    if isinstance(exc, PermanentMailError):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500 and not isinstance(exc, smtplib.SMTPServerDisconnected)
    return False


def send(message: EmailMessage, smtp: SmtpSettings) -> None:
    """Hand ``message`` to the relay; returns once the server accepted it (250 after DATA), raises otherwise.

    The whole conversation gets ``smtp.timeout_seconds``: each step waits at most what remains of it, so a
    sender never outlives its claim (``delivery.LEASE``) however slowly the server answers.
    """
    deadline = time.monotonic() + smtp.timeout_seconds

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"the SMTP conversation took longer than {smtp.timeout_seconds:g} s")
        return left

    context = ssl.create_default_context()
    conn: smtplib.SMTP
    if smtp.security == "tls":
        conn = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=remaining(), context=context)
    else:
        conn = smtplib.SMTP(smtp.host, smtp.port, timeout=remaining())
    try:

        def step_timeout() -> None:
            if conn.sock is not None:
                conn.sock.settimeout(remaining())

        step_timeout()
        conn.ehlo()
        if smtp.security == "starttls":
            step_timeout()
            conn.starttls(context=context)
            step_timeout()
            conn.ehlo()
        if smtp.user:
            password = smtp.password()
            if password is None:
                raise PermanentMailError(
                    "TSUNAGU_SMTP_USER is set but the password (file) is empty or missing"
                )
            step_timeout()
            conn.login(smtp.user, password)
        step_timeout()
        refused = conn.send_message(message)
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)
    finally:
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            conn.close()
