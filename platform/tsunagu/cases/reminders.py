"""What is due for whom, for the daily reminders of ``notifications.reminders`` (handed in by beat).

Only ready tasks with an assignee count for a person's digest: an unclaimed task belongs to a role's queue,
which the inbox shows to everyone holding the role.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ..core.session import TenantSession
from ..notifications.reminders import DueCounts, OverdueTask
from .models import HumanTask


def agenda(session: TenantSession, today: date, zone: ZoneInfo) -> dict[uuid.UUID, DueCounts]:
    """Per assignee: ready tasks due before today (local), today, and tomorrow."""
    start_today = datetime.combine(today, time(0), zone)
    start_tomorrow = start_today + timedelta(days=1)
    end_tomorrow = start_today + timedelta(days=2)
    rows = session.execute(
        select(HumanTask.assignee_id, HumanTask.due_at).where(
            HumanTask.state == "ready",
            HumanTask.assignee_id.is_not(None),
            HumanTask.due_at.is_not(None),
            HumanTask.due_at < end_tomorrow,
        )
    ).all()
    tallies: dict[uuid.UUID, list[int]] = {}
    for assignee_id, due_at in rows:
        if assignee_id is None or due_at is None:
            continue  # excluded by the query; the types do not know
        tally = tallies.setdefault(assignee_id, [0, 0, 0])
        if due_at < start_today:
            tally[0] += 1
        elif due_at < start_tomorrow:
            tally[1] += 1
        else:
            tally[2] += 1
    return {user: DueCounts(*tally) for user, tally in tallies.items()}


def overdue_tasks(session: TenantSession, cutoff: datetime) -> list[OverdueTask]:
    """Ready tasks due at or before ``cutoff`` (the escalation threshold)."""
    rows = session.execute(
        select(HumanTask.id, HumanTask.org_unit_id)
        .where(HumanTask.state == "ready", HumanTask.due_at.is_not(None), HumanTask.due_at <= cutoff)
        .order_by(HumanTask.due_at, HumanTask.id)
    ).all()
    return [OverdueTask(task_id, unit_id) for task_id, unit_id in rows]
