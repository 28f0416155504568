"""Getting one delivery out: claim with a lease, send, record — so that each e-mail is accepted once.

The outbox brings ``notifications.deliver`` with a delivery id to a worker (at least once: a redelivered
message, a relay racing another, a worker killed and its task handed back). :func:`deliver` then works in
three short transactions of its own, none of them open while the SMTP server is talked to:

1. **claim** — lock the delivery row. Sent or failed: nothing to do. Claimed by a sender whose lease has not
   run out: that sender may be in the middle of the SMTP conversation, so do not send; look again when the
   lease ends (a follow-up outbox message). Otherwise mark it ``sending`` with a new claim token and a lease
   longer than any SMTP conversation may take (:func:`lease_for`), and build the message.
2. **send** — the SMTP conversation, bounded by ``TSUNAGU_SMTP_TIMEOUT_SECONDS``.
3. **record** — only if the claim is still ours: ``sent``; or for an error, ``pending`` again after a growing
   delay (a follow-up message), or ``failed`` after ``TSUNAGU_SMTP_MAX_ATTEMPTS`` or a permanent refusal (5xx),
   shown to the tenant's administrators.

A worker killed during the conversation (before the server's reply to DATA) leaves the row ``sending``; the
server has not accepted the message, so sending it again once the lease has run out is right, and the next
attempt does. The one window left is a kill *after* the server accepted and *before* step 3 committed: then
the message goes out twice, with the same Message-ID (``services.message_id_for``), which mail systems and
people can recognise as one. That window is a database round trip; the test in ``tests/notifications`` kills
the worker inside the conversation and counts exactly one accepted message.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import select

from ..config import Settings, SmtpSettings
from ..core.db import new_id, utcnow
from ..core.outbox import enqueue
from ..core.session import TenantSession, independent_transaction
from ..identity.models import User
from ..tenancy.models import Tenant
from . import calendar as calendar_mod
from . import mail
from .kinds import get_kind
from .models import Delivery, DeliveryState, Notification
from .schedule import LANGUAGES, tenant_settings
from .services import message_id_for

log = logging.getLogger("tsunagu.notifications")

_settings: Settings | None = None
_settings_lock = threading.Lock()


def configure(settings: Settings) -> None:
    """The settings deliveries are sent with: every entry point (web app, worker, beat) calls this at start."""
    global _settings
    with _settings_lock:
        _settings = settings


def current_settings() -> Settings:
    global _settings
    with _settings_lock:
        if _settings is None:
            _settings = Settings.from_env()
        return _settings


def lease_for(smtp: SmtpSettings) -> timedelta:
    """Longer than any conversation can last: each of its steps waits at most the timeout's remainder, and
    ``send_message`` (MAIL, RCPT, DATA) reads up to three replies with it."""
    return timedelta(seconds=4 * smtp.timeout_seconds + 10)


def retry_delay(smtp: SmtpSettings, attempts: int) -> timedelta:
    """After the n-th failed attempt: the base, doubled each time, at most six hours."""
    return min(timedelta(seconds=smtp.retry_seconds * 2 ** max(attempts - 1, 0)), timedelta(hours=6))


def _lock(session: TenantSession, delivery_id: uuid.UUID) -> Delivery | None:
    return session.execute(
        select(Delivery).where(Delivery.id == delivery_id).with_for_update()
    ).scalar_one_or_none()


def _follow_up(session: TenantSession, delivery_id: uuid.UUID, at: datetime, now: datetime) -> None:
    enqueue(
        session,
        "notifications.deliver",
        {"delivery": str(delivery_id)},
        delay=max(at - now, timedelta(0)) + timedelta(seconds=1),
    )


def _fail(delivery: Delivery, reason: str, now: datetime) -> str:
    delivery.state = DeliveryState.FAILED.value
    delivery.failed_at = now
    delivery.last_error = reason[:2000]
    delivery.lease_until = None
    delivery.claim_token = None
    delivery.updated_at = now
    log.error("notification delivery %s failed: %s", delivery.id, reason)
    return "failed"


def deliver(session: TenantSession, delivery_id: uuid.UUID) -> str:
    """Carry one delivery a step forward; returns what happened (for logs and tests)."""
    settings = current_settings()
    smtp = settings.smtp
    token = new_id()
    now = utcnow()
    with independent_transaction(session) as tx:
        delivery = _lock(tx, delivery_id)
        if delivery is None:
            return "missing"
        if delivery.state in (DeliveryState.SENT, DeliveryState.FAILED):
            return delivery.state
        if delivery.state == DeliveryState.SENDING and delivery.lease_until and delivery.lease_until > now:
            _follow_up(tx, delivery.id, delivery.lease_until, now)
            return "busy"
        if delivery.state == DeliveryState.PENDING and delivery.next_attempt_at > now:
            _follow_up(tx, delivery.id, delivery.next_attempt_at, now)
            return "early"
        if smtp is None:
            return _fail(
                delivery, "メール送信が設定されていません / e-mail is not configured (TSUNAGU_SMTP_HOST)", now
            )
        built = _build(tx, delivery, smtp, settings.public_url)
        if not isinstance(built, EmailMessage):
            return _fail(delivery, built, now)
        delivery.state = DeliveryState.SENDING.value
        delivery.attempts += 1
        delivery.claim_token = token
        delivery.lease_until = now + lease_for(smtp)
        delivery.updated_at = now

    error: Exception | None = None
    try:
        mail.send(built, smtp)
    except Exception as exc:  # every failure is recorded below, none is lost
        error = exc

    with independent_transaction(session) as tx:
        now = utcnow()
        delivery = _lock(tx, delivery_id)
        if delivery is None or delivery.claim_token != token:
            log.warning("notification delivery %s: claim taken over while sending", delivery_id)
            return "superseded"
        delivery.lease_until = None
        delivery.claim_token = None
        delivery.updated_at = now
        if error is None:
            delivery.state = DeliveryState.SENT.value
            delivery.sent_at = now
            delivery.last_error = None
            return "sent"
        reason = f"{type(error).__name__}: {error}"
        if mail.is_permanent(error) or delivery.attempts >= smtp.max_attempts:
            return _fail(delivery, f"{reason} (after {delivery.attempts} attempt(s))", now)
        delivery.state = DeliveryState.PENDING.value
        delivery.last_error = reason[:2000]
        delivery.next_attempt_at = now + retry_delay(smtp, delivery.attempts)
        _follow_up(tx, delivery.id, delivery.next_attempt_at, now)
        log.warning(
            "notification delivery %s: attempt %d failed (%s); next at %s",
            delivery_id,
            delivery.attempts,
            reason,
            delivery.next_attempt_at.isoformat(),
        )
        return "retry"


def _build(
    session: TenantSession, delivery: Delivery, smtp: SmtpSettings, public_url: str
) -> EmailMessage | str:
    """The message for ``delivery``, or a reason why there cannot be one."""
    notification = session.get(Notification, (delivery.tenant_id, delivery.notification_id))
    if notification is None:
        return "the notification is gone"
    user = session.get(User, (delivery.tenant_id, notification.recipient_id))
    if user is None or not user.active:
        return "受信者が無効です / the recipient is no longer active"
    if not user.email or "@" not in user.email:
        return "受信者のメールアドレスがありません / the recipient has no e-mail address"
    tenant = session.get(Tenant, delivery.tenant_id)
    if tenant is None:
        return "the tenant is gone"
    config = tenant_settings(tenant.settings)
    language = user.language if user.language in LANGUAGES else config.default_language
    kind = get_kind(notification.kind)
    params = notification.params or {}
    tenant_name = tenant.name_en if language == "en" and tenant.name_en else tenant.name
    counts = params.get("counts") or {}
    # A digest counts the notifications it gathers as ``new:<kind>``.
    kind_counts = tuple(
        (get_kind(name.removeprefix("new:")).label(language), count)
        for name, count in sorted(counts.items())
        if name.startswith("new:") and isinstance(count, int)
    )
    facts = params.get("calendar")
    ctx = mail.mail_context(
        language=language,
        kind_label=kind.label(language),
        link=f"{public_url}/t/{tenant.slug}/{notification.link}",
        tenant_name=tenant_name,
        counts=counts,
        kind_counts=kind_counts,
        event=facts,
    )
    subject, body = mail.render(kind.template, ctx)
    from_name = config.from_name or f"{tenant.name} つなぐ"
    calendar = None
    if kind.calendar and facts:
        ics = calendar_mod.to_ics(
            calendar_mod.CalendarEvent.from_facts(facts),
            method=str(facts["method"]),
            sequence=int(facts["sequence"]),
            organizer=(from_name, smtp.from_address),
            attendee=(user.display_name, user.email),
        )
        calendar = (ics, str(facts["method"]))
    # Derived, not random: every attempt carries the same Message-ID, from the sending configuration's domain.
    delivery.message_id = message_id_for(
        delivery.tenant_id, notification.event_key, notification.recipient_id, delivery.channel, smtp.domain
    )
    return mail.build_message(
        smtp=smtp,
        from_name=from_name,
        reply_to=config.reply_to,
        to=user.email,
        subject=subject,
        body=body,
        message_id=delivery.message_id,
        language=language,
        calendar=calendar,
    )
