"""The final assertions, read from the database as the owner role (which sees every tenant's rows).

* every acknowledged case exists and was started once; every acknowledged completion is recorded — the task
  completed and exactly one ``task_completed`` entry in its case's history — and no task has two;
* every acknowledged ``core.ping`` is processed with exactly one receipt, and no receipt lacks its message;
* the outbox is drained: no message left unprocessed (none given up on, none waiting for a retry);
* no timer lost: every timer due before the checks began has fired (or was cancelled with its case), none is
  parked as an incident, and each fired timer has exactly one ``timer_fired`` entry in its case's history.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

from .load import Ledger


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class Totals:
    cases_acknowledged: int = 0
    completions_acknowledged: int = 0
    completions_recorded: int = 0
    completion_duplicates: int = 0
    pings_acknowledged: int = 0
    pings_with_receipt: int = 0
    receipt_duplicates: int = 0
    outbox_messages: int = 0
    outbox_unprocessed: int = 0
    outbox_redelivered: int = 0
    timers_due: int = 0
    timers_fired: int = 0
    timers_lost: int = 0
    timer_fire_duplicates: int = 0
    incidents_open: int = 0
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def _ids(values: Any) -> list[str]:
    return [str(v) for v in values]


def run_checks(owner_dsn: str, ledger: Ledger, cutoff: datetime) -> Totals:
    """All assertions; ``cutoff``: timers due at or before it must have fired."""
    t = Totals()
    with psycopg.connect(owner_dsn, connect_timeout=5, autocommit=True) as conn:
        _cases(conn, ledger, t)
        _completions(conn, ledger, t)
        _pings(conn, ledger, t)
        _outbox(conn, t)
        _timers(conn, cutoff, t)
    return t


def _cases(conn: psycopg.Connection[Any], ledger: Ledger, t: Totals) -> None:
    acked = set(ledger.cases)
    t.cases_acknowledged = len(acked)
    started = Counter(
        str(r[0]) for r in conn.execute("SELECT case_id FROM case_event WHERE kind = 'started'").fetchall()
    )
    existing = set(_ids(r[0] for r in conn.execute("SELECT id FROM support_case").fetchall()))
    missing = sorted(acked - existing)
    doubled = sorted(c for c, n in started.items() if n > 1)
    t.checks.append(
        Check(
            "acknowledged cases recorded",
            not missing and not doubled,
            f"{len(acked)} acknowledged, {len(acked) - len(missing)} recorded, {len(doubled)} started twice"
            + (f"; missing e.g. {missing[:3]}" if missing else ""),
        )
    )


def _completions(conn: psycopg.Connection[Any], ledger: Ledger, t: Totals) -> None:
    acked = dict(ledger.completions)
    t.completions_acknowledged = len(acked)
    states = {str(r[0]): r[1] for r in conn.execute("SELECT id, state FROM human_task").fetchall()}
    events = Counter(
        str(r[0])
        for r in conn.execute(
            "SELECT task_id FROM case_event WHERE kind = 'task_completed' AND task_id IS NOT NULL"
        ).fetchall()
    )
    recorded = [tid for tid in acked if states.get(tid) == "completed" and events.get(tid, 0) >= 1]
    t.completions_recorded = len(recorded)
    lost = sorted(set(acked) - set(recorded))
    doubled = sorted(tid for tid, n in events.items() if n > 1)
    t.completion_duplicates = len(doubled)
    completed_without_entry = sorted(
        tid for tid, s in states.items() if s == "completed" and tid not in events
    )
    t.checks.append(
        Check(
            "acknowledged completions recorded",
            not lost,
            f"{len(acked)} acknowledged, {len(recorded)} recorded (task completed + history entry)"
            + (f"; lost e.g. {[(tid, acked[tid][1]) for tid in lost[:3]]}" if lost else ""),
        )
    )
    t.checks.append(
        Check(
            "one history entry per completion",
            not doubled and not completed_without_entry,
            f"{len(doubled)} task(s) with two or more entries, "
            f"{len(completed_without_entry)} completed task(s) without one",
        )
    )


def _pings(conn: psycopg.Connection[Any], ledger: Ledger, t: Totals) -> None:
    acked = set(ledger.pings)
    t.pings_acknowledged = len(acked)
    processed = {
        str(r[0])
        for r in conn.execute(
            "SELECT id FROM outbox_message WHERE topic = 'core.ping' AND processed_at IS NOT NULL"
        ).fetchall()
    }
    receipts = Counter(str(r[0]) for r in conn.execute("SELECT message_id FROM job_receipt").fetchall())
    with_receipt = [m for m in acked if m in processed and receipts.get(m) == 1]
    t.pings_with_receipt = len(with_receipt)
    t.receipt_duplicates = sum(1 for n in receipts.values() if n > 1)
    orphans = [m for m in receipts if m not in processed]
    missing = sorted(acked - set(with_receipt))
    t.checks.append(
        Check(
            "one receipt per acknowledged outbox message",
            not missing and t.receipt_duplicates == 0 and not orphans,
            f"{len(acked)} acknowledged, {len(with_receipt)} with exactly one receipt, "
            f"{t.receipt_duplicates} with more, {len(orphans)} receipt(s) of unprocessed messages"
            + (f"; missing e.g. {missing[:3]}" if missing else ""),
        )
    )


def _outbox(conn: psycopg.Connection[Any], t: Totals) -> None:
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE processed_at IS NULL), "
        "count(*) FILTER (WHERE processed_at IS NULL AND last_error IS NOT NULL), "
        "count(*) FILTER (WHERE dispatch_count > 1) FROM outbox_message"
    ).fetchone()
    assert row is not None
    t.outbox_messages, t.outbox_unprocessed, failing, t.outbox_redelivered = (int(v) for v in row)
    sample = conn.execute(
        "SELECT topic, dispatch_count, dispatched_at IS NOT NULL, left(coalesce(last_error, ''), 120) "
        "FROM outbox_message WHERE processed_at IS NULL ORDER BY created_at LIMIT 3"
    ).fetchall()
    t.checks.append(
        Check(
            "outbox drained",
            t.outbox_unprocessed == 0,
            f"{t.outbox_messages} messages, {t.outbox_unprocessed} unprocessed ({failing} with an error), "
            f"{t.outbox_redelivered} dispatched more than once"
            + (f"; e.g. {[tuple(r) for r in sample]}" if sample else ""),
        )
    )


def _timers(conn: psycopg.Connection[Any], cutoff: datetime, t: Totals) -> None:
    rows = conn.execute(
        "SELECT t.id, p.case_id, t.element, t.due_at, t.fired_at, t.cancelled_at, t.claimed_at "
        "FROM timer t JOIN process_instance p ON p.tenant_id = t.tenant_id AND p.id = t.process_instance_id "
        "WHERE t.due_at <= %(c)s",
        {"c": cutoff},
    ).fetchall()
    t.timers_due = len(rows)
    t.timers_fired = sum(1 for r in rows if r[4] is not None)
    lost = [r for r in rows if r[4] is None and r[5] is None]
    parked = [r for r in lost if r[6] is not None]
    t.timers_lost = len(lost)
    fired_events = Counter(
        (str(case_id), element, datetime.fromisoformat(str(details.get("due_at"))))
        for case_id, element, details in conn.execute(
            "SELECT case_id, element, details FROM case_event WHERE kind = 'timer_fired'"
        ).fetchall()
        if isinstance(details, dict) and details.get("due_at")
    )
    fired = [r for r in rows if r[4] is not None and r[1] is not None]
    without_entry = [r for r in fired if fired_events.get((str(r[1]), r[2], r[3]), 0) == 0]
    t.timer_fire_duplicates = sum(1 for n in fired_events.values() if n > 1)
    incidents = conn.execute("SELECT count(*) FROM incident WHERE resolved_at IS NULL").fetchone()
    t.incidents_open = int(incidents[0]) if incidents else 0
    t.checks.append(
        Check(
            "no lost timers",
            not lost and t.incidents_open == 0,
            f"{t.timers_due} due by the end, {t.timers_fired} fired, {len(lost)} not fired "
            f"({len(parked)} parked as incidents), {t.incidents_open} open incident(s)",
        )
    )
    t.checks.append(
        Check(
            "each timer fired once",
            t.timer_fire_duplicates == 0 and not without_entry,
            f"{t.timer_fire_duplicates} timer(s) with two or more history entries, "
            f"{len(without_entry)} fired without one",
        )
    )
