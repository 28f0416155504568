"""What other modules (and this module's views, tasks and API) call: series, calendar, agendas, decisions.

Every function takes the tenant-bound session and flushes; the caller's transaction commits (one commit per
request or task).
"""

from __future__ import annotations

from .adhoc import (
    add_participant,
    authorize_meeting,
    cancel_meeting,
    convene_for_case,
    event_of,
    missing,
    move_meeting,
    participants,
    reply,
    visible_units,
)
from .agenda import URGENCY, add_to_agenda, agenda, get_meeting, open_item_of, rebalance, series_for
from .decisions import (
    AfterTheFactRatio,
    after_the_fact_ratio,
    record_attendance,
    record_decision,
    record_minutes,
    required_kinds,
)
from .models import MeetingSeries  # read by reports (the 事後報告 ratio per series)
from .series import (
    CalendarItem,
    calendar,
    ensure_series,
    generate_ahead,
    generate_until,
    rule_of,
    sync_series,
)

__all__ = [
    "URGENCY",
    "AfterTheFactRatio",
    "CalendarItem",
    "MeetingSeries",
    "add_participant",
    "add_to_agenda",
    "after_the_fact_ratio",
    "agenda",
    "authorize_meeting",
    "calendar",
    "cancel_meeting",
    "convene_for_case",
    "ensure_series",
    "event_of",
    "generate_ahead",
    "generate_until",
    "get_meeting",
    "missing",
    "move_meeting",
    "open_item_of",
    "participants",
    "rebalance",
    "record_attendance",
    "record_decision",
    "record_minutes",
    "reply",
    "required_kinds",
    "rule_of",
    "series_for",
    "sync_series",
    "visible_units",
]
