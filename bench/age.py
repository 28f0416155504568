"""Case age: one casework case driven through 36 monthly monitoring rounds and 2 re-plans.

Real cases run for one to three years: monitoring every month, a re-plan now and then. This level drives the
bench scenario's case (hybrid meeting routed ad hoc) to the start of delivery with a plan that does not end,
then 36 rounds of *monitoring timer → monitoring task*; the 12th and the 24th round ask for an early
evaluation, which re-plans (evaluation → assessment → plan → meeting → decision → start of delivery). At
rounds 1, 12 and 36 it reports the cost of the monitoring completion and the size of the stored state:

* **in memory, before** — SpiffWorkflow's default full round trip per command, nothing dropped (the state as
  it was stored before definitions were stored by reference and compacted);
* **in memory, now** — the platform's stored form (``engine.serialization`` + ``engine.compaction``);
* **service** — the same case through ``cases.services.complete_task`` and the timer poller's ``fire_timer`` on
  PostgreSQL: one group of cases per measured round, each driven untimed to just before its window
  (``WINDOWS``: rounds 1–3, 10–12, 34–36), then the three windows run in lockstep, group after group, and a
  measured round is the median over its group's cases and window.

In memory the completion at each measured round is repeated from the same stored state (median of
``REPEAT``), the three rounds interleaved. Interleaving matters on a shared machine: figures compared with
each other are taken in the same seconds.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from . import BenchError, log, ratio
from .floor import Library, full_round_trip, load_library, start_data, stored_round_trip, submission

ROUNDS = 36
REPLAN_AFTER = (12, 24)
MEASURED = (1, 12, 36)
#: At the service level each measured round is the median over these rounds and every case (one completion
#: cannot be repeated on a database): round 1 = rounds 1–3, round 12 = rounds 10–12, round 36 = rounds 34–36.
WINDOWS = {1: (1, 2, 3), 12: (10, 11, 12), 36: (34, 35, 36)}
REPEAT = 15
PLAN_END_DAYS = 3650  # the plan-end timer never interrupts the 36 rounds
REPLAN_PATH = (
    "evaluation",
    "assessment",
    "plan_draft",
    "convene_adhoc",
    "record_meeting_result",
    "support_decision",
    "delivery_start",
)


def _plan_dates() -> dict[str, str]:
    """A plan ending PLAN_END_DAYS from now, made six months before its end (the plan form's period_end
    rule: the end date fits the period within 14 days)."""
    end = date.today() + timedelta(days=PLAN_END_DAYS)
    return {
        "plan_period": "P6M",
        "plan_end_date": end.isoformat(),
        "plan_date": (end - timedelta(days=182)).isoformat(),
    }


def _data(library: Library, element: str, *, early: bool = False, replan: bool = False) -> dict[str, Any]:
    data = dict(library.cleaned[element])
    if element == "plan_draft":
        data.update(_plan_dates())
    if element == "monitoring":
        data["request_early_evaluation"] = early
    if element == "evaluation" and replan:
        data["evaluation_outcome"] = "replan"
    return data


# --- in memory --------------------------------------------------------------------------------------------


class MemoryCase:
    """One case held as its stored state between commands, as the platform holds it in its row."""

    def __init__(self, library: Library, stored: bool) -> None:
        from tsunagu.engine.spiff import SafeScriptEngine, collect_side_effects

        self.library = library
        self.dumps, self.loads = stored_round_trip(library) if stored else full_round_trip()
        from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
        from SpiffWorkflow.util.task import TaskState

        workflow = BpmnWorkflow(
            library.spec, dict(library.subprocess_specs), script_engine=SafeScriptEngine()
        )
        data = start_data(case_id=f"age-{uuid.uuid4().hex[:6]}")
        workflow.data.update(data)
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(data)
        with collect_side_effects():
            workflow.do_engine_steps()
        self.state = self.dumps(workflow)

    def complete(self, element: str, data: dict[str, Any]) -> float:
        from tsunagu.engine.runner import ready_user_tasks
        from tsunagu.engine.spiff import collect_side_effects

        t0 = time.perf_counter()
        workflow = self.loads(self.state)
        found = [t for t in ready_user_tasks(workflow) if t.task_spec.bpmn_id == element]
        if not found:
            ready = sorted(t.task_spec.bpmn_id for t in ready_user_tasks(workflow))
            raise BenchError(f"case age: {element!r} is not ready (ready: {ready})")
        found[0].set_data(**data)
        with collect_side_effects():
            found[0].run()
            workflow.do_engine_steps()
        self.state = self.dumps(workflow)
        return time.perf_counter() - t0

    def fire_monitoring_timer(self) -> None:
        from tsunagu.engine.spiff import collect_side_effects, fire_timer, waiting_timers

        workflow = self.loads(self.state)
        pending = [p for p in waiting_timers(workflow) if p.spec_id == "timer_monitoring"]
        if len(pending) != 1:
            raise BenchError(f"case age: expected one monitoring timer, found {pending}")
        with collect_side_effects():
            fire_timer(workflow, pending[0].task_id, advance=True)
        self.state = self.dumps(workflow)


def drive_memory(library: Library, stored: bool, repeat: int = REPEAT) -> dict[str, Any]:
    """Drive the case through every round, keeping the state before each measured completion; then time
    those completions interleaved (round 1, 12, 36, round 1, ...) so that they see the same machine."""
    case = MemoryCase(library, stored)
    for element in ("intake", "consent", "assessment", "plan_draft", "convene_adhoc"):
        case.complete(element, _data(library, element))
    for element in ("record_meeting_result", "support_decision", "delivery_start"):
        case.complete(element, _data(library, element))
    saved: dict[int, tuple[str, dict[str, Any]]] = {}
    sizes: dict[int, int] = {}
    for round_no in range(1, ROUNDS + 1):
        case.fire_monitoring_timer()
        data = _data(library, "monitoring", early=round_no in REPLAN_AFTER)
        if round_no in MEASURED:
            saved[round_no] = (case.state, data)
        case.complete("monitoring", data)
        if round_no in MEASURED:
            sizes[round_no] = len(case.state.encode("utf-8"))
        if round_no in REPLAN_AFTER:
            for element in REPLAN_PATH:
                case.complete(element, _data(library, element, replan=True))
    times: dict[int, list[float]] = {r: [] for r in MEASURED}
    for _ in range(repeat):
        for round_no in MEASURED:
            case.state = saved[round_no][0]
            times[round_no].append(case.complete("monitoring", saved[round_no][1]))
    return {
        "rounds": {
            str(r): {"completion_ms": statistics.median(times[r]) * 1000.0, "state_bytes": sizes[r]}
            for r in MEASURED
        }
    }


# --- service level ----------------------------------------------------------------------------------------


def _pending_timer(runtime: Any, tenant_id: uuid.UUID, case_id: uuid.UUID) -> Any:
    from sqlalchemy import select

    from tsunagu.core.session import transaction
    from tsunagu.engine.models import ProcessInstance, Timer

    with transaction(runtime.sessions, tenant_id) as session:
        row = session.execute(
            select(Timer.id, Timer.due_at)
            .join(ProcessInstance, ProcessInstance.id == Timer.process_instance_id)
            .where(
                ProcessInstance.case_id == case_id,
                Timer.element == "timer_monitoring",
                Timer.fired_at.is_(None),
                Timer.cancelled_at.is_(None),
            )
        ).one_or_none()
    if row is None:
        raise BenchError(f"case age: case {case_id} has no monitoring timer waiting")
    return row


def _state_bytes(runtime: Any, tenant_id: uuid.UUID, case_id: uuid.UUID) -> int:
    from sqlalchemy import func, select

    from tsunagu.core.session import transaction
    from tsunagu.engine.models import ProcessInstance

    with transaction(runtime.sessions, tenant_id) as session:
        return int(
            session.execute(
                select(func.octet_length(ProcessInstance.serialized)).where(
                    ProcessInstance.case_id == case_id
                )
            ).scalar_one()
        )


def drive_service(
    runtime: Any, bench: Any, workflows_dir: Path, cases: int, progress: Callable[[str], None] = log
) -> dict[str, Any]:
    from tsunagu.cases.services import complete_task, fire_timer
    from tsunagu.core.session import transaction
    from tsunagu.identity.models import Role
    from tsunagu.identity.principal import Principal

    from .service import _start, ready_tasks, without_broker

    runtime = without_broker(runtime)
    actor = Principal(
        user_id=bench.user_id,
        tenant_id=bench.tenant_id,
        roles=frozenset({Role.TENANT_ADMIN}),
        org_unit_ids=frozenset(),
    )

    def forms(element: str, **kw: bool) -> dict[str, Any]:
        data = submission(element)
        if element == "plan_draft":
            data.update(_plan_dates())
        if element == "monitoring" and kw.get("early"):
            data["request_early_evaluation"] = "on"
        if element == "evaluation" and kw.get("replan"):
            data["evaluation_outcome"] = "replan"
        return data

    def complete(case_id: uuid.UUID, element: str, **kw: bool) -> float:
        ready = dict((e, i) for i, e in ready_tasks(runtime, bench.tenant_id, case_id))
        if element not in ready:
            raise BenchError(f"case age (service): {element!r} not ready, ready: {sorted(ready)}")
        data = forms(element, **kw)
        t0 = time.perf_counter()
        with transaction(runtime.sessions, bench.tenant_id) as session:
            complete_task(session, actor, ready[element], data)
        return time.perf_counter() - t0

    def monitor(case_id: uuid.UUID, round_no: int) -> float:
        timer_id, due_at = _pending_timer(runtime, bench.tenant_id, case_id)
        if not fire_timer(runtime, bench.tenant_id, timer_id, due_at + timedelta(minutes=1)):
            raise BenchError(f"case age (service): the monitoring timer of {case_id} did not fire")
        elapsed = complete(case_id, "monitoring", early=round_no in REPLAN_AFTER)
        if round_no in REPLAN_AFTER:
            for element in REPLAN_PATH:
                complete(case_id, element, replan=True)
        return elapsed

    # One group of cases per measured round, each driven (untimed) to just before its window; then the
    # windows run in lockstep, every group's cases in turn, so the compared completions share the machine.
    groups: dict[int, list[uuid.UUID]] = {}
    for measured, window in WINDOWS.items():
        groups[measured] = [
            _start(runtime, bench, workflows_dir, 10_000 + 100 * measured + n) for n in range(max(1, cases))
        ]
        for case_id in groups[measured]:
            for element in (
                "intake",
                "consent",
                "assessment",
                "plan_draft",
                "convene_adhoc",
                "record_meeting_result",
                "support_decision",
                "delivery_start",
            ):
                complete(case_id, element)
            for round_no in range(1, window[0]):
                monitor(case_id, round_no)
    per_round: dict[int, dict[str, list[float]]] = {
        m: {"completion_ms": [], "state_bytes": []} for m in WINDOWS
    }
    for step in range(3):
        for measured, window in WINDOWS.items():
            for case_id in groups[measured]:
                round_no = window[step]
                per_round[measured]["completion_ms"].append(monitor(case_id, round_no) * 1000.0)
                if round_no == measured:
                    per_round[measured]["state_bytes"].append(
                        float(_state_bytes(runtime, bench.tenant_id, case_id))
                    )
    for measured in WINDOWS:
        progress(
            f"case age (service): round {measured}: "
            f"{statistics.median(per_round[measured]['completion_ms']):.2f} ms per monitoring completion"
        )
    return {
        "cases": max(1, cases),
        "rounds": {
            str(r): {key: statistics.median(values) for key, values in figures.items()}
            for r, figures in per_round.items()
        },
    }


def _growth(rounds: dict[str, dict[str, float]]) -> dict[str, float]:
    first, last = rounds[str(MEASURED[0])], rounds[str(MEASURED[-1])]
    return {
        "completion": ratio(last["completion_ms"], first["completion_ms"]),
        "state": ratio(last["state_bytes"], first["state_bytes"]),
    }


def run_age(
    runtime: Any,
    bench: Any,
    workflows_dir: Path,
    cases: int,
    repeat: int = REPEAT,
    progress: Callable[[str], None] = log,
) -> dict[str, Any]:
    library = load_library(workflows_dir)
    before = drive_memory(library, stored=False, repeat=repeat)
    now = drive_memory(library, stored=True, repeat=repeat)
    for label, run in (("before", before), ("now", now)):
        run["growth"] = _growth(run["rounds"])
        rounds = run["rounds"]
        progress(
            f"case age (memory, {label}): "
            + ", ".join(
                f"round {r} {rounds[str(r)]['completion_ms']:.2f} ms / "
                f"{rounds[str(r)]['state_bytes'] / 1024:.0f} KiB"
                for r in MEASURED
            )
        )
    service = drive_service(runtime, bench, workflows_dir, cases, progress)
    service["growth"] = _growth(service["rounds"])
    return {
        "rounds": ROUNDS,
        "replans_after": list(REPLAN_AFTER),
        "measured": list(MEASURED),
        "memory_before": before,
        "memory_now": now,
        "service": service,
    }
