"""The notify service: what other modules call, in the transaction of the change that causes it.

    from tsunagu.notifications import services as notifications
    notifications.notify(
        session, "task.assigned", [assignee_id], f"tasks/{task.id}",
        key=f"task.assigned:{task.id}:{assignee_id}:{stamp}", subject=("task", task.id),
    )

* **kind** — a registered :class:`~.kinds.Kind` (its labels, e-mail template and default channel);
* **recipients** — user ids and/or :class:`~.recipients.RoleIn` (a role in an org unit); inactive users are
  skipped, ``exclude`` drops the actor;
* **link** — a path inside the tenant (``tasks/<id>``, ``cases/<id>``), made absolute in e-mail;
* **key** — what happened, the same every time the same event is notified: one notification per
  ``(tenant, key, recipient)`` however often it is repeated, and so one e-mail;
* **subject** — ``(type, id)`` the notification is about, checked against the reader's permissions each time
  the in-app centre shows it (:func:`register_subject`);
* **counts** — whole numbers for the templates (``{"overdue": 1}``), and for meetings a
  :class:`~.calendar.CalendarEvent` through :func:`invite` / :func:`cancel_invitation`.

Nothing else goes in: there is no parameter for a name, a text or a date of birth, so no caller can put one in
an e-mail. Rows commit or roll back with the caller's change; the e-mail leaves through the outbox after the
commit (``delivery.py``).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..core.db import new_id, utcnow
from ..core.outbox import enqueue
from ..core.session import TenantSession
from . import calendar as calendar_mod
from .calendar import CalendarEvent
from .kinds import Kind, all_kinds, get_kind, register_kind
from .mail import add_template_folder
from .models import Channel, Delivery, DeliveryState, EmailMode, Mode, Notification, Preference
from .recipients import Recipient, RoleIn, resolve

__all__ = [
    "DELIVER_TOPIC",
    "CalendarEvent",
    "Kind",
    "Mode",
    "RoleIn",
    "add_template_folder",
    "all_kinds",
    "cancel_invitation",
    "invite",
    "message_id_for",
    "notify",
    "register_kind",
]

#: The outbox topic of one delivery: payload ``{"delivery": "<id>"}`` (``tasks.py``).
DELIVER_TOPIC = "notifications.deliver"

_LINK = re.compile(r"^(?!/)(?!.*//)(?!.*\.\.)[A-Za-z0-9._~/-]{0,400}(\?[A-Za-z0-9=&_.~%-]{0,90})?$")
_COUNT_KEY = re.compile(r"^[a-z][a-z0-9_.:]{0,63}$")
_KEY = re.compile(r"^[A-Za-z0-9._:@/+-]{1,200}$")
_MODE_TO_EMAIL = {Mode.EMAIL: EmailMode.IMMEDIATE, Mode.DIGEST: EmailMode.DIGEST, Mode.IN_APP: EmailMode.NONE}


def message_id_for(
    tenant_id: uuid.UUID, event_key: str, recipient_id: uuid.UUID, channel: str, domain: str
) -> str:
    """The Message-ID of an e-mail, the same for every attempt: receivers (and the tests) can tell a resend."""
    digest = hashlib.sha256(f"{tenant_id}|{event_key}|{recipient_id}|{channel}".encode()).hexdigest()
    return f"<{digest[:40]}@{domain}>"


def _check(kind: Kind, link: str, key: str, counts: Mapping[str, int]) -> None:
    if not _LINK.match(link):
        raise ValueError(f"notification link {link!r} must be a path inside the tenant, like 'tasks/<id>'")
    if not _KEY.match(key):
        raise ValueError(f"notification key {key!r} must be 1 to 200 of A-Z a-z 0-9 . _ : @ / + -")
    for name, value in counts.items():
        if not _COUNT_KEY.match(name) or isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(
                f"notification counts are whole numbers under simple names, not {name!r}={value!r}"
            )


def insert_new(
    session: TenantSession, table: Table, rows: list[dict[str, object]], returning: str = "id"
) -> set[Any]:
    """Insert ``rows``, skipping the ones whose unique key exists; returns ``returning`` of those inserted.

    One statement, so two transactions notifying the same event at once cannot both insert (the second waits
    for the first on the unique index, then skips).
    """
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = pg_insert(table).values(rows).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite_insert(table).values(rows).on_conflict_do_nothing()
    else:  # pragma: no cover - the product runs on the two above
        stmt = insert(table).values(rows)
    inserted = session.execute(stmt.returning(table.c[returning])).scalars()
    return set(inserted)


def _modes(session: TenantSession, kind: Kind, users: set[uuid.UUID]) -> dict[uuid.UUID, Mode]:
    chosen = dict(
        session.execute(
            select(Preference.user_id, Preference.mode).where(
                Preference.kind == kind.key, Preference.user_id.in_(users)
            )
        ).all()
    )
    modes: dict[uuid.UUID, Mode] = {}
    for user in users:
        mode = Mode(chosen[user]) if user in chosen and chosen[user] in kind.modes else kind.default_mode
        modes[user] = mode
    return modes


def notify(
    session: TenantSession,
    kind: str,
    recipients: Iterable[Recipient],
    link: str,
    *,
    key: str,
    subject: tuple[str, uuid.UUID] | None = None,
    counts: Mapping[str, int] | None = None,
    exclude: Iterable[uuid.UUID] = (),
    _calendar: dict[str, object] | None = None,
) -> list[uuid.UUID]:
    """Notify ``recipients`` of one event; returns the ids of the notifications this call created (none for
    a repeated event). E-mail, where the recipient's preference asks for it now, is sent after commit."""
    spec = get_kind(kind)
    counts = dict(counts or {})
    _check(spec, link, key, counts)
    if spec.calendar and _calendar is None:
        raise ValueError(f"{kind!r} carries a calendar invitation: use invite() or cancel_invitation()")
    users = resolve(session, recipients) - set(exclude)
    if not users:
        return []
    modes = _modes(session, spec, users)
    tenant_id = session.require_tenant_id()
    now = utcnow()
    rows: list[dict[str, object]] = []
    by_id: dict[uuid.UUID, tuple[uuid.UUID, Mode]] = {}
    for user in sorted(users):
        mode = modes[user]
        if not spec.in_app and mode is Mode.IN_APP:
            continue  # e.g. the digest with e-mail turned off: nothing to show or send
        notification_id = new_id()
        by_id[notification_id] = (user, mode)
        params: dict[str, object] = {"counts": counts}
        if _calendar is not None:
            params["calendar"] = _calendar
        rows.append(
            {
                "tenant_id": tenant_id,
                "id": notification_id,
                "event_key": key,
                "recipient_id": user,
                "kind": spec.key,
                "link": link,
                "subject_type": subject[0] if subject else "",
                "subject_id": subject[1] if subject else None,
                "params": params,
                "in_app": spec.in_app,
                "email_mode": _MODE_TO_EMAIL[mode].value,
                "created_at": now,
            }
        )
    created = insert_new(session, Notification.__table__, rows)  # type: ignore[arg-type]
    domain = _mail_domain()
    for notification_id in sorted(created):
        user, mode = by_id[notification_id]
        if mode is Mode.EMAIL:
            _add_delivery(session, notification_id, key, user, domain, now)
    return sorted(created)


def _mail_domain() -> str:
    from .delivery import current_settings

    smtp = current_settings().smtp
    return smtp.domain if smtp is not None else "tsunagu.invalid"


def _add_delivery(
    session: TenantSession,
    notification_id: uuid.UUID,
    key: str,
    recipient_id: uuid.UUID,
    domain: str,
    now: object,
) -> Delivery:
    tenant_id = session.require_tenant_id()
    delivery = Delivery(
        tenant_id=tenant_id,
        id=new_id(),
        notification_id=notification_id,
        channel=Channel.EMAIL.value,
        state=DeliveryState.PENDING.value,
        attempts=0,
        message_id=message_id_for(tenant_id, key, recipient_id, Channel.EMAIL.value, domain),
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(delivery)
    enqueue(session, DELIVER_TOPIC, {"delivery": str(delivery.id)})
    return delivery


# --- calendar invitations ---------------------------------------------------------------------------------


def invite(
    session: TenantSession,
    recipients: Sequence[Recipient],
    event: calendar_mod.CalendarEvent,
    link: str,
    *,
    exclude: Iterable[uuid.UUID] = (),
) -> list[uuid.UUID]:
    """Send (or update) a calendar invitation: METHOD:REQUEST, SEQUENCE bumped when the event changed.

    Calling it again with the same facts sends nothing new (same SEQUENCE, same key); with changed facts every
    recipient gets the update.
    """
    sequence = calendar_mod.schedule_event(session, event)
    facts = {**event.facts(), "method": "REQUEST", "sequence": sequence}
    return notify(
        session,
        "meeting.invitation",
        recipients,
        link,
        key=f"meeting.invitation:{event.uid}:{sequence}",
        exclude=exclude,
        _calendar=facts,
    )


def cancel_invitation(
    session: TenantSession,
    recipients: Sequence[Recipient],
    event: calendar_mod.CalendarEvent,
    link: str,
    *,
    exclude: Iterable[uuid.UUID] = (),
) -> list[uuid.UUID]:
    """Cancel an invitation sent before: METHOD:CANCEL with the next SEQUENCE."""
    sequence = calendar_mod.cancel_event(session, event.uid)
    facts = {**event.facts(), "method": "CANCEL", "sequence": sequence}
    return notify(
        session,
        "meeting.cancelled",
        recipients,
        link,
        key=f"meeting.cancelled:{event.uid}:{sequence}",
        exclude=exclude,
        _calendar=facts,
    )
