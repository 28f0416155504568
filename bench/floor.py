"""Level 1, the engine floor: the standard ``casework`` case run by SpiffWorkflow alone, in memory.

The process is parsed from ``workflows/`` with the platform's own loader (``load_definitions``), the
``meeting`` call activity is bound to ``meeting_hybrid`` (``resolve_specs``), and expressions go through
``SafeScriptEngine``. Every command — start, each user-task completion, each timer — is what any platform
persisting the workflow between requests has to do at least:

    deserialize → apply → run engine steps → list ready tasks and waiting timers → serialize

No database, no form validation, no projection, no HTTP. Form data is cleaned once, before timing, so the
workflow receives exactly what the service level gives it.

The scenario (shared with the service and HTTP levels): a person comes in (相談受付), applies (申込・同意), is
assessed as urgent, so the hybrid routing table sends the plan to an ad hoc meeting (随時会議: convene,
record the approval); a statutory programme is in the plan, so a formal support decision follows; delivery
starts, the monthly monitoring timer fires once (monitoring recorded), the plan-end timer fires, and the
evaluation closes the case (終結). Ten user tasks and two timer firings per case.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from . import BenchError, log, summarize_ms

MEETING_PROCESS = "meeting_hybrid"
MONITORING_INTERVAL = "P1M"
#: The clock is moved forward in these steps (days from now) whenever no user task is ready:
#: first the monthly monitoring timer, then the plan end (the plan runs 180 days).
TIMER_STEPS_DAYS = (40, 200)
PLAN_DAYS = 180

#: The user tasks of the scenario, in the order the case reaches them.
PATH = (
    "intake",
    "consent",
    "assessment",
    "plan_draft",
    "convene_adhoc",
    "record_meeting_result",
    "support_decision",
    "delivery_start",
    "monitoring",
    "evaluation",
)
EXPECTED_END = "end_closed"

PERSON = {"name": "佐藤 和子", "name_kana": "サトウ カズコ", "birth_date": "1978-11-03"}


def submission(element: str, today: date | None = None) -> dict[str, Any]:
    """The form a caseworker sends for ``element``, as a browser sends it (strings, ``"on"`` checkboxes)."""
    today = today or date.today()
    day = today.isoformat()
    forms: dict[str, dict[str, Any]] = {
        "intake": {
            "reception_date": day,
            "contact_route": "referral",
            "referral_source": "税務課 納税係",
            "name": PERSON["name"],
            "name_kana": "サトウ　カズコ",
            "birth_date": PERSON["birth_date"],
            "gender": "female",
            "postal_code": "222-0033",
            "address": "横浜市港北区新横浜2-2-2",
            "phone": "045-000-1234",
            "household_size": "3",
            "household_composition": "本人、夫（療養中）、長女（中学生）",
            "consultation_topics": ["income", "tax_utilities", "work"],
            "main_topic": "tax_utilities",
            "consultation_detail": "夫の休職で収入が減り、住民税と国民健康保険料を滞納している。",
            "screening_outcome": "continue",
        },
        "consent": {
            "consent_application": "on",
            "application_date": day,
            "signature_confirmed": "on",
            "signature_date": day,
            "consent_agencies": ["municipality", "providers", "council_social_welfare"],
            "consent_categories": ["identity", "household", "income"],
            "consent_tax_info": "on",
        },
        "assessment": {
            "assessment_date": day,
            "household_situation": "三人世帯。夫は病気療養中で傷病手当金の受給が終わる。",
            "housing_status": "public_housing",
            "monthly_income": "120000",
            "debt_amount": "420000",
            "work_status": "job_seeking",
            "strengths": "パート勤務の経験があり、家計の見直しに前向き。",
            "problems_and_causes": "世帯収入の急減で税・保険料の滞納が続き、督促が始まっている。",
            "urgency": "high",
            "complexity": "normal",
            "external_agencies": "on",
            "emergency_support": "",
        },
        "plan_draft": {
            "plan_date": day,
            "plan_period": "P6M",
            "plan_end_date": (today + timedelta(days=PLAN_DAYS)).isoformat(),
            "long_term_goal": "滞納を解消し、世帯の収入を安定させる。",
            "short_term_goals": "分納計画を立てる。本人の就職活動を始める。",
            "support_1_own_action": "家計表を毎月つける",
            "support_1_provider": "家計改善支援員",
            "support_1_content": "納税課との分納相談への同行と家計の見直し",
            "support_1_frequency": "月2回",
            "statutory_programmes": ["household_finance"],
            "person_agreed": "on",
        },
        "convene_adhoc": {
            "meeting_date": day,
            "meeting_time": "13:30",
            "venue": "港北区役所 会議室",
            "attendees": "区職員、自立相談支援員、家計相談支援員",
            "absent_members": "ハローワーク就職支援ナビゲーター",
            "written_input": "求人情報の提供が可能。",
            "person_attends": "on",
        },
        "record_meeting_result": {
            "meeting_date": day,
            "meeting_decision": "approve",
            "attendees": "区職員、自立相談支援員、家計相談支援員、本人",
            "roles_assigned": "家計相談支援員が分納相談に同行する。",
        },
        "support_decision": {
            "decision_date": day,
            "decision_number": "港北-001",
            "programmes_decided": ["household_finance"],
            "decision_notice_sent": "on",
        },
        "delivery_start": {
            "record_date": day,
            "record_method": "accompany",
            "staff_name": "鈴木",
            "record_content": "納税課に同行し、分納の相談をした。",
        },
        "monitoring": {
            "monitoring_date": day,
            "progress_status": "on_track",
            "goal_progress": "分納が始まり、求職活動も続いている。",
        },
        "evaluation": {
            "evaluation_date": day,
            "goal_achievement": "mostly_achieved",
            "changes_observed": ["finances", "motivation"],
            "got_work": "on",
            "evaluation_outcome": "close",
        },
    }
    if element not in forms:
        raise BenchError(f"the bench scenario has no submission for task {element!r}")
    return forms[element]


def start_data(case_id: str = "bench-case", tenant_slug: str = "yokohama") -> dict[str, Any]:
    """What ``cases.services.start_case`` puts into a new casework instance."""
    return {
        "case_id": case_id,
        "tenant_slug": tenant_slug,
        "org_unit": "kohoku",
        "monitoring_interval": MONITORING_INTERVAL,
        "referral": None,
        "person": dict(PERSON),
    }


def pick_next(ready_elements: list[str]) -> str | None:
    """The ready user task the scenario completes next (the earliest on the path)."""
    known = [e for e in PATH if e in ready_elements]
    if known:
        return known[0]
    if ready_elements:
        raise BenchError(f"the case left the bench path: ready tasks are {sorted(ready_elements)}")
    return None


# --- the in-memory run ------------------------------------------------------------------------------------


@dataclass
class Step:
    kind: str  # start | task | timer
    element: str
    total: float
    load: float
    engine: float
    dump: float
    state_bytes: int


@dataclass
class FloorCase:
    steps: list[Step] = field(default_factory=list)
    end_event: str = ""

    @property
    def total(self) -> float:
        return sum(s.total for s in self.steps)


@dataclass
class Library:
    """The parsed library: specs with the meeting alias resolved, and cleaned form data per element."""

    spec: Any
    subprocess_specs: dict[str, Any]
    cleaned: dict[str, dict[str, Any]]


def load_library(workflows_dir: Path, today: date | None = None) -> Library:
    from tsunagu.engine.definitions import read_library
    from tsunagu.engine.spiff import load_definitions, resolve_specs
    from tsunagu.forms import load_form, validate_submission

    files = read_library(workflows_dir)
    bundle = load_definitions(
        {name: text.encode("utf-8") for name, text in files.items() if not name.endswith(".form")}
    )
    spec, subs = resolve_specs(bundle, "casework", aliases={"meeting": MEETING_PROCESS})
    schemas = {
        Path(name).stem: load_form(json.loads(text)) for name, text in files.items() if name.endswith(".form")
    }
    form_keys: dict[str, str] = {}
    for process_spec in [spec, *subs.values()]:
        for task_spec in process_spec.task_specs.values():
            props = (getattr(task_spec, "extensions", None) or {}).get("properties") or {}
            bpmn_id = getattr(task_spec, "bpmn_id", None)
            if bpmn_id and props.get("formKey"):
                form_keys[bpmn_id] = props["formKey"]
    cleaned: dict[str, dict[str, Any]] = {}
    for element in PATH:
        schema = schemas.get(form_keys.get(element, ""))
        if schema is None:
            raise BenchError(f"no form found for {element!r} in {workflows_dir}")
        data, errors = validate_submission(schema, submission(element, today))
        if errors:
            raise BenchError(f"the bench submission for {element!r} does not fit its form: {errors}")
        cleaned[element] = data
    return Library(spec=spec, subprocess_specs=subs, cleaned=cleaned)


def _ready_and_timers(workflow: Any) -> tuple[list[Any], list[Any]]:
    from tsunagu.engine.runner import ready_user_tasks
    from tsunagu.engine.spiff import waiting_timers

    return ready_user_tasks(workflow), waiting_timers(workflow)


def full_round_trip() -> tuple[Callable[[Any], str], Callable[[str], Any]]:
    """Spiff's default serializer round trip (specs inline, nothing dropped): *today's floor definition*,
    the yardstick the service level is compared with."""
    from tsunagu.engine.spiff import SafeScriptEngine, full_serializer

    serializer = full_serializer()

    def dumps(workflow: Any) -> str:
        return str(serializer.serialize_json(workflow))

    def loads(state: str) -> Any:
        workflow = serializer.deserialize_json(state)
        workflow.script_engine = SafeScriptEngine()
        return workflow

    return dumps, loads


def stored_round_trip(library: Library) -> tuple[Callable[[Any], str], Callable[[str], Any]]:
    """What the platform stores (``engine.serialization``: specs by reference, compaction before each save),
    with the specs resolved from memory as the per-process cache does."""
    import uuid

    from tsunagu.engine.compaction import compact
    from tsunagu.engine.serialization import ResolvedSpecs, SpecRef
    from tsunagu.engine.spiff import dumps as stored_dumps
    from tsunagu.engine.spiff import loads as stored_loads

    ref = SpecRef.of(uuid.UUID(int=0), "casework", {"meeting": MEETING_PROCESS})
    specs = ResolvedSpecs.of(library.spec, library.subprocess_specs)

    def dumps(workflow: Any) -> str:
        compact(workflow)
        return stored_dumps(workflow, ref)

    def loads(state: str) -> Any:
        return stored_loads(state, lambda _ref: specs)

    return dumps, loads


def run_case(library: Library, case_no: int = 0, *, stored: bool = False) -> FloorCase:
    """Drive one case from start to closure, timing every command (Spiff's full round trip, or with
    ``stored`` the platform's stored form)."""
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    from tsunagu.engine.runner import end_event_reached
    from tsunagu.engine.spiff import SafeScriptEngine, collect_side_effects, fire_timer

    dumps, loads = stored_round_trip(library) if stored else full_round_trip()

    result = FloorCase()
    clock = time.perf_counter

    # start
    t0 = clock()
    workflow = BpmnWorkflow(library.spec, dict(library.subprocess_specs), script_engine=SafeScriptEngine())
    data = start_data(case_id=f"floor-{case_no}")
    workflow.data.update(data)
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(data)
    with collect_side_effects():
        workflow.do_engine_steps()
    ready, timers = _ready_and_timers(workflow)
    t1 = clock()
    state = dumps(workflow)
    t2 = clock()
    result.steps.append(Step("start", "start", t2 - t0, 0.0, t1 - t0, t2 - t1, len(state)))

    offsets = list(TIMER_STEPS_DAYS)
    guard = 0
    while not workflow.is_completed():
        guard += 1
        if guard > 100:
            raise BenchError("the floor case did not finish in 100 commands")
        element = pick_next([t.task_spec.bpmn_id for t in ready])
        if element is not None:
            task_id = next(t.id for t in ready if t.task_spec.bpmn_id == element)
            t0 = clock()
            workflow = loads(state)
            t1 = clock()
            task = workflow.get_task_from_id(task_id)
            task.set_data(**library.cleaned[element])
            with collect_side_effects():
                task.run()
                workflow.do_engine_steps()
            ready, timers = _ready_and_timers(workflow)
            t2 = clock()
            state = dumps(workflow)
            t3 = clock()
            result.steps.append(Step("task", element, t3 - t0, t1 - t0, t2 - t1, t3 - t2, len(state)))
            continue
        if not offsets:
            raise BenchError("the floor case waits with no ready task and no timer step left")
        now = datetime.now(UTC) + timedelta(days=offsets.pop(0))
        due = sorted((p for p in timers if p.due_at is not None and p.due_at <= now), key=lambda p: p.due_at)
        for pending in due:
            t0 = clock()
            workflow = loads(state)
            t1 = clock()
            with collect_side_effects():
                fired = fire_timer(workflow, pending.task_id, advance=True)
            ready, timers = _ready_and_timers(workflow)
            t2 = clock()
            if fired:
                state = dumps(workflow)
            t3 = clock()
            if fired:
                result.steps.append(
                    Step("timer", pending.spec_id, t3 - t0, t1 - t0, t2 - t1, t3 - t2, len(state))
                )
    result.end_event = end_event_reached(workflow)
    if result.end_event != EXPECTED_END:
        raise BenchError(f"the floor case ended at {result.end_event!r}, expected {EXPECTED_END!r}")
    return result


def summarize_cases(cases: list[FloorCase]) -> dict[str, Any]:
    steps = [s for c in cases for s in c.steps]
    tasks = [s for s in steps if s.kind == "task"]
    timers = [s for s in steps if s.kind == "timer"]
    starts = [s for s in steps if s.kind == "start"]
    return {
        "cases": len(cases),
        "task_completions": len(tasks),
        "tasks_per_case": len(tasks) / len(cases) if cases else 0,
        "timers_per_case": len(timers) / len(cases) if cases else 0,
        "per_task_ms": summarize_ms([s.total for s in tasks]),
        "per_case_ms": summarize_ms([c.total for c in cases]),
        "start_ms": summarize_ms([s.total for s in starts]),
        "timer_ms": summarize_ms([s.total for s in timers]),
        "breakdown_per_task_ms": {
            "deserialize": summarize_ms([s.load for s in tasks])["mean"],
            "engine": summarize_ms([s.engine for s in tasks])["mean"],
            "serialize": summarize_ms([s.dump for s in tasks])["mean"],
        },
        "state_bytes": {
            "mean": sum(s.state_bytes for s in steps) / len(steps) if steps else 0,
            "max": max((s.state_bytes for s in steps), default=0),
        },
        "per_element_ms": {
            element: summarize_ms([s.total for s in tasks if s.element == element])["mean"]
            for element in PATH
        },
    }


def run_floor(
    workflows_dir: Path, cases: int, warmup: int = 2, progress: Callable[[str], None] = log
) -> dict[str, Any]:
    """Run ``warmup`` untimed cases then ``cases`` timed ones; returns the summary (milliseconds)."""
    library = load_library(workflows_dir)
    for n in range(warmup):
        run_case(library, -1 - n)
    done = [run_case(library, n) for n in range(max(1, cases))]
    summary = summarize_cases(done)
    # The same cases with the platform's stored form, in memory: what the engine costs per command now.
    for n in range(warmup):
        run_case(library, -1 - n, stored=True)
    stored = summarize_cases([run_case(library, n, stored=True) for n in range(max(1, cases))])
    summary["stored_form"] = {
        key: stored[key] for key in ("per_task_ms", "per_case_ms", "breakdown_per_task_ms", "state_bytes")
    }
    summary["meeting_process"] = MEETING_PROCESS
    summary["path"] = list(PATH)
    progress(
        f"floor: {summary['per_task_ms']['mean']:.2f} ms per task completion, "
        f"{summary['per_case_ms']['mean']:.1f} ms per case ({len(done)} cases)"
    )
    return summary
