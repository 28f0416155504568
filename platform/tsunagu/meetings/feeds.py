"""iCalendar feeds at a revocable secret URL: one per user (the meetings of their org units) or per series.

Calendar clients cannot sign in, so the URL itself is the credential: 32 random bytes, of which only the
SHA-256 is stored; revoking a feed makes its URL answer 404 at once. A feed carries what a calendar needs —
title, time, place, status — and nothing about the cases on the agendas.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, timedelta

from icalendar import Calendar, Event
from sqlalchemy import select

from ..core.db import utcnow
from ..core.errors import NotFound
from ..core.session import TenantSession
from ..identity import services as identity
from .models import MeetingFeed, MeetingSeries
from .series import calendar, ensure_series, tenant_row

FEED_PAST_DAYS = 31
FEED_AHEAD_DAYS = 365


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_feed(
    session: TenantSession, *, user_id: uuid.UUID | None = None, series_id: uuid.UUID | None = None
) -> tuple[MeetingFeed, str]:
    """A new feed and its token (shown once; only its hash is kept)."""
    if (user_id is None) == (series_id is None):
        raise ValueError("a feed is for one user or one series")
    if series_id is not None and session.get(MeetingSeries, (session.require_tenant_id(), series_id)) is None:
        raise NotFound("会議系列が見つかりません / series not found")
    token = secrets.token_urlsafe(32)
    feed = MeetingFeed(
        tenant_id=session.require_tenant_id(), user_id=user_id, series_id=series_id, token_hash=_hash(token)
    )
    session.add(feed)
    session.flush()
    return feed, token


def revoke_feed(session: TenantSession, feed_id: uuid.UUID, user_id: uuid.UUID | None = None) -> MeetingFeed:
    feed = session.get(MeetingFeed, (session.require_tenant_id(), feed_id))
    if feed is None or (user_id is not None and feed.user_id not in (None, user_id)):
        raise NotFound("フィードが見つかりません / feed not found")
    if feed.revoked_at is None:
        feed.revoked_at = utcnow()
    session.flush()
    return feed


def feed_ics(session: TenantSession, token: str) -> bytes:
    """The feed's VCALENDAR, or 404 for an unknown or revoked token."""
    if not token or len(token) > 100:
        raise NotFound("見つかりません / not found")
    feed = session.execute(
        select(MeetingFeed).where(MeetingFeed.token_hash == _hash(token), MeetingFeed.revoked_at.is_(None))
    ).scalar_one_or_none()
    if feed is None:
        raise NotFound("見つかりません / not found")
    ensure_series(session)
    today = utcnow().date()
    units: set[uuid.UUID] | None = None
    if feed.user_id is not None:
        roles, unit_ids = identity.user_access(session, feed.user_id)
        if not roles or not identity.get_user(session, feed.user_id).active:
            raise NotFound("見つかりません / not found")  # a deactivated or role-less user's feed is dead
        units = None if {"tenant_admin", "auditor"} & set(roles) or not unit_ids else set(unit_ids)
    items = calendar(
        session,
        today - timedelta(days=FEED_PAST_DAYS),
        today + timedelta(days=FEED_AHEAD_DAYS),
        org_unit_ids=units,
    )
    if feed.series_id is not None:
        items = [i for i in items if i.series_id == feed.series_id]
    slug = tenant_row(session).slug
    cal = Calendar()
    cal.add("prodid", "-//Tsunagu//つなぐ//JA")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", "つなぐ 会議")
    stamp = utcnow()
    for item in items:
        event = Event()
        if item.meeting_id is not None:
            event.add("uid", f"meeting-{item.meeting_id}@{slug}.tsunagu")
        else:
            event.add("uid", f"planned-{item.series_id}-{item.starts_at.date().isoformat()}@{slug}.tsunagu")
        event.add("dtstamp", stamp)
        event.add("dtstart", item.starts_at.astimezone(UTC))
        event.add("dtend", item.ends_at.astimezone(UTC))
        event.add("summary", item.title + ("（予定）" if item.status == "planned" else ""))
        if item.venue:
            event.add("location", item.venue)
        event.add("status", {"cancelled": "CANCELLED", "planned": "TENTATIVE"}.get(item.status, "CONFIRMED"))
        cal.add_component(event)
    data: bytes = cal.to_ical()
    return data
