"""The in-app centre and the administrators' view of failed deliveries: what the pages and the API read.

**Permissions at read time.** A notification names its subject (``task``/<id>, ``case``/<id>) but holds no
description of it. Each time it is listed, the module owning the subject type describes the ones the reader
may see *now* (:func:`register_subject`, e.g. ``cases.notices``); the others are listed by kind and date
alone, without a title, a name or a link — a consultant moved to another ward keeps their history, not the
other ward's cases.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update

from ..core.db import utcnow
from ..core.errors import NotFound, ValidationFailed
from ..core.outbox import enqueue
from ..core.session import TenantSession
from ..identity.models import User
from .kinds import Kind, all_kinds, get_kind
from .models import Delivery, DeliveryState, Mode, Notification, Preference
from .services import DELIVER_TOPIC


@dataclass(frozen=True)
class SubjectView:
    """How a reader who may see the subject sees it: a title and an optional detail (e.g. the person)."""

    title: str
    detail: str = ""


#: ``(session, principal, ids) → {id: SubjectView}`` for the ids the principal may see now.
SubjectResolver = Callable[[TenantSession, Any, list[uuid.UUID]], dict[uuid.UUID, SubjectView]]
_resolvers: dict[str, SubjectResolver] = {}


def register_subject(subject_type: str, resolver: SubjectResolver) -> None:
    _resolvers[subject_type] = resolver


@dataclass(frozen=True)
class Item:
    """One notification as its recipient sees it now."""

    id: uuid.UUID
    kind: Kind
    created_at: datetime
    read: bool
    #: ``None`` when the subject is no longer visible to the reader (then there is no link either)
    subject: SubjectView | None
    link: str | None
    counts: dict[str, int]


PAGE_SIZE = 30


def unread_count(session: TenantSession, user_id: uuid.UUID) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.recipient_id == user_id,
                Notification.read_at.is_(None),
                Notification.in_app.is_(True),
            )
        ).scalar_one()
    )


def list_items(
    session: TenantSession,
    principal: Any,
    *,
    unread_only: bool = False,
    limit: int = PAGE_SIZE,
    offset: int = 0,
) -> list[Item]:
    stmt = select(Notification).where(
        Notification.recipient_id == principal.user_id, Notification.in_app.is_(True)
    )
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    rows = list(
        session.execute(
            stmt.order_by(Notification.created_at.desc(), Notification.id).limit(limit).offset(offset)
        ).scalars()
    )
    wanted: dict[str, list[uuid.UUID]] = {}
    for row in rows:
        if row.subject_type and row.subject_id is not None:
            wanted.setdefault(row.subject_type, []).append(row.subject_id)
    visible: dict[tuple[str, uuid.UUID], SubjectView] = {}
    for subject_type, ids in wanted.items():
        resolver = _resolvers.get(subject_type)
        if resolver is None:
            continue  # nobody can vouch for it: shown without subject
        for subject_id, view in resolver(session, principal, ids).items():
            visible[(subject_type, subject_id)] = view
    items = []
    for row in rows:
        try:
            kind = get_kind(row.kind)
        except ValueError:
            continue  # a kind no longer registered (a module removed): not shown
        subject = None
        link: str | None = row.link
        if row.subject_type:
            subject = visible.get((row.subject_type, row.subject_id)) if row.subject_id else None
            if subject is None:
                link = None
        counts = {k: v for k, v in ((row.params or {}).get("counts") or {}).items() if isinstance(v, int)}
        items.append(Item(row.id, kind, row.created_at, row.read_at is not None, subject, link, counts))
    return items


def _own(session: TenantSession, user_id: uuid.UUID, notification_id: uuid.UUID) -> Notification:
    row = session.execute(
        select(Notification).where(Notification.id == notification_id, Notification.recipient_id == user_id)
    ).scalar_one_or_none()
    if row is None:
        raise NotFound("お知らせが見つかりません / notification not found")
    return row


def mark_read(session: TenantSession, user_id: uuid.UUID, notification_id: uuid.UUID) -> Notification:
    row = _own(session, user_id, notification_id)
    if row.read_at is None:
        row.read_at = utcnow()
    session.flush()
    return row


def mark_all_read(session: TenantSession, user_id: uuid.UUID) -> int:
    result = session.execute(
        update(Notification)
        .where(Notification.recipient_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def open_item(session: TenantSession, principal: Any, notification_id: uuid.UUID) -> str | None:
    """Mark read and return where it points — ``None`` when its subject is no longer visible to the reader."""
    row = mark_read(session, principal.user_id, notification_id)
    if row.subject_type and row.subject_id is not None:
        resolver = _resolvers.get(row.subject_type)
        if resolver is None or row.subject_id not in resolver(session, principal, [row.subject_id]):
            return None
    return row.link


# --- preferences ------------------------------------------------------------------------------------------


def preferences(session: TenantSession, user_id: uuid.UUID) -> dict[str, Mode]:
    """Every registered kind → the user's mode (their choice, or the kind's default)."""
    chosen = dict(
        session.execute(select(Preference.kind, Preference.mode).where(Preference.user_id == user_id)).all()
    )
    result = {}
    for kind in all_kinds():
        mode = chosen.get(kind.key)
        result[kind.key] = Mode(mode) if mode in kind.modes else kind.default_mode
    return result


def set_preferences(session: TenantSession, user_id: uuid.UUID, choices: dict[str, str]) -> dict[str, Mode]:
    problems: dict[str, list[str]] = {}
    valid: dict[str, Mode] = {}
    for key, raw in choices.items():
        try:
            kind = get_kind(key)
        except ValueError:
            problems[key] = ["未知の通知の種類です / unknown kind"]
            continue
        if raw not in {m.value for m in kind.modes}:
            problems[key] = [f"{', '.join(m.value for m in kind.modes)} のいずれかです / one of these"]
            continue
        valid[key] = Mode(raw)
    if problems:
        raise ValidationFailed("通知設定に誤りがあります / invalid notification settings", details=problems)
    existing = {
        p.kind: p for p in session.execute(select(Preference).where(Preference.user_id == user_id)).scalars()
    }
    tenant_id = session.require_tenant_id()
    for key, mode in valid.items():
        row = existing.get(key)
        if row is None:
            session.add(Preference(tenant_id=tenant_id, user_id=user_id, kind=key, mode=mode.value))
        else:
            row.mode = mode.value
    session.flush()
    return preferences(session, user_id)


# --- failed deliveries (tenant administrators) --------------------------------------------------------------


@dataclass(frozen=True)
class FailedDelivery:
    id: uuid.UUID
    kind: str
    recipient_email: str
    recipient_name: str
    attempts: int
    last_error: str
    failed_at: datetime | None
    created_at: datetime


def failed_count(session: TenantSession) -> int:
    return int(
        session.execute(
            select(func.count()).select_from(Delivery).where(Delivery.state == DeliveryState.FAILED.value)
        ).scalar_one()
    )


def failed_deliveries(session: TenantSession, limit: int = 100) -> list[FailedDelivery]:
    rows = session.execute(
        select(Delivery, Notification.kind, User.email, User.display_name)
        .join(
            Notification,
            (Notification.tenant_id == Delivery.tenant_id) & (Notification.id == Delivery.notification_id),
        )
        .join(User, (User.tenant_id == Notification.tenant_id) & (User.id == Notification.recipient_id))
        .where(Delivery.state == DeliveryState.FAILED.value)
        .order_by(Delivery.failed_at.desc())
        .limit(limit)
    ).all()
    return [
        FailedDelivery(d.id, kind, email, name, d.attempts, d.last_error or "", d.failed_at, d.created_at)
        for d, kind, email, name in rows
    ]


def retry_deliveries(session: TenantSession, ids: Iterable[uuid.UUID]) -> int:
    """Make failed deliveries pending again with fresh attempts (an administrator fixed the cause)."""
    now = utcnow()
    count = 0
    for delivery in session.execute(
        select(Delivery)
        .where(Delivery.id.in_(list(ids)), Delivery.state == DeliveryState.FAILED.value)
        .with_for_update()
    ).scalars():
        delivery.state = DeliveryState.PENDING.value
        delivery.attempts = 0
        delivery.failed_at = None
        delivery.next_attempt_at = now
        delivery.updated_at = now
        enqueue(session, DELIVER_TOPIC, {"delivery": str(delivery.id)})
        count += 1
    session.flush()
    return count
