"""Calendar invitations (RFC 5545 / iTIP RFC 5546) with the ``icalendar`` library.

An event keeps one UID for its whole life; each change that attendees must see bumps its SEQUENCE
(:func:`schedule_event` compares the facts with the last version sent), and a cancellation is
``METHOD:CANCEL`` with the next SEQUENCE. Calendar clients match updates and cancellations by UID and keep
the highest SEQUENCE, so an older invitation arriving late cannot overwrite a newer one.

Invitations carry what a calendar needs — title, time, place, organizer, the one attendee it is addressed to
— and nothing about the cases on the agenda.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from icalendar import Calendar, Event, vCalAddress, vText
from sqlalchemy import select

from ..core.db import utcnow
from ..core.session import TenantSession
from .models import CalendarEntry

PRODID = "-//Tsunagu//つなぐ//JA"
METHODS = ("REQUEST", "CANCEL")


@dataclass(frozen=True)
class CalendarEvent:
    """The facts of one event. ``uid`` is stable for its life (e.g. ``meeting-<id>@<tenant>.tsunagu``)."""

    uid: str
    start: datetime
    end: datetime
    summary: str
    location: str = ""

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("calendar events need time-zone-aware start and end")
        if self.end <= self.start:
            raise ValueError("a calendar event must end after it starts")
        if not self.uid or len(self.uid) > 255 or any(c in self.uid for c in "\r\n"):
            raise ValueError("a calendar UID is 1 to 255 characters on one line")
        if len(self.summary) > 200 or len(self.location) > 200:
            raise ValueError("calendar summary and location are at most 200 characters")

    def facts(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "summary": self.summary,
            "location": self.location,
        }

    @classmethod
    def from_facts(cls, facts: dict[str, Any]) -> CalendarEvent:
        return cls(
            uid=str(facts["uid"]),
            start=datetime.fromisoformat(facts["start"]),
            end=datetime.fromisoformat(facts["end"]),
            summary=str(facts["summary"]),
            location=str(facts.get("location", "")),
        )

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.facts(), sort_keys=True).encode()).hexdigest()


def to_ics(
    event: CalendarEvent,
    *,
    method: str,
    sequence: int,
    organizer: tuple[str, str],
    attendee: tuple[str, str] | None = None,
    stamp: datetime | None = None,
) -> bytes:
    """One iTIP message: ``method`` REQUEST or CANCEL; ``organizer``/``attendee`` are (name, address)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}")
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    vevent = Event()
    vevent.add("uid", event.uid)
    vevent.add("sequence", sequence)
    vevent.add("dtstamp", stamp or utcnow())
    # In UTC ("...Z"): every client reads it the same, with no VTIMEZONE to ship.
    vevent.add("dtstart", event.start.astimezone(UTC))
    vevent.add("dtend", event.end.astimezone(UTC))
    vevent.add("summary", event.summary)
    if event.location:
        vevent.add("location", event.location)
    vevent.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    vevent.add("transp", "OPAQUE")
    organizer_address = vCalAddress(f"mailto:{organizer[1]}")
    organizer_address.params["cn"] = vText(organizer[0])
    vevent.add("organizer", organizer_address)
    if attendee is not None:
        attendee_address = vCalAddress(f"mailto:{attendee[1]}")
        if attendee[0]:
            attendee_address.params["cn"] = vText(attendee[0])
        attendee_address.params["role"] = vText("REQ-PARTICIPANT")
        attendee_address.params["partstat"] = vText("NEEDS-ACTION")
        attendee_address.params["rsvp"] = vText("TRUE")
        vevent.add("attendee", attendee_address)
    cal.add_component(vevent)
    data: bytes = cal.to_ical()
    return data


def _entry(session: TenantSession, uid: str) -> CalendarEntry | None:
    return session.execute(
        select(CalendarEntry).where(CalendarEntry.uid == uid).with_for_update()
    ).scalar_one_or_none()


def schedule_event(session: TenantSession, event: CalendarEvent) -> int:
    """Record ``event``'s facts; returns the SEQUENCE to send: 0 the first time, bumped when a fact changed
    (or the event was cancelled before), the same when nothing changed."""
    entry = _entry(session, event.uid)
    fingerprint = event.fingerprint()
    if entry is None:
        session.add(
            CalendarEntry(
                tenant_id=session.require_tenant_id(), uid=event.uid, sequence=0, fingerprint=fingerprint
            )
        )
        session.flush()
        return 0
    if entry.fingerprint != fingerprint or entry.cancelled_at is not None:
        entry.sequence += 1
        entry.fingerprint = fingerprint
        entry.cancelled_at = None
        entry.updated_at = utcnow()
    return entry.sequence


def cancel_event(session: TenantSession, uid: str) -> int:
    """Mark the event cancelled; returns the SEQUENCE of the CANCEL message (one above the last sent)."""
    entry = _entry(session, uid)
    if entry is None:
        raise ValueError(f"no calendar event {uid!r} was ever sent")
    if entry.cancelled_at is None:
        entry.sequence += 1
        entry.cancelled_at = utcnow()
        entry.updated_at = entry.cancelled_at
    return entry.sequence
