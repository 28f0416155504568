"""What other modules (and this module's views, tasks and API) call: series, calendar, agendas, decisions.

Every function takes the tenant-bound session and flushes; the caller's transaction commits (one commit per
request or task).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
from .agenda import (
    URGENCY,
    add_to_agenda,
    agenda,
    get_meeting,
    next_meeting_of_kind,
    open_item_of,
    rebalance,
    series_for,
)
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

#: Extra sections of a meeting's page from modules above (``referrals``: the 支援会議's early-detection flags):
#: ``panel(session, meeting, actor)`` → HTML (``Markup``) or ``None``.
_AGENDA_PANELS: list[Callable[[Any, Any, Any], Any]] = []


def register_agenda_panel(panel: Callable[[Any, Any, Any], Any]) -> None:
    if panel not in _AGENDA_PANELS:
        _AGENDA_PANELS.append(panel)


def agenda_panels(session: Any, meeting: Any, actor: Any) -> list[Any]:
    return [html for panel in _AGENDA_PANELS if (html := panel(session, meeting, actor)) is not None]


__all__ = [
    "URGENCY",
    "AfterTheFactRatio",
    "CalendarItem",
    "MeetingSeries",
    "add_participant",
    "add_to_agenda",
    "after_the_fact_ratio",
    "agenda",
    "agenda_panels",
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
    "next_meeting_of_kind",
    "open_item_of",
    "participants",
    "rebalance",
    "record_attendance",
    "record_decision",
    "record_minutes",
    "register_agenda_panel",
    "reply",
    "required_kinds",
    "rule_of",
    "series_for",
    "sync_series",
    "visible_units",
]
