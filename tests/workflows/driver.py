"""In-memory driver for the standard workflow library (SpiffWorkflow 3.2, no database).

Reusable by tests and benchmarks::

    from tests.workflows.driver import CaseDriver, FakeClock

    with FakeClock() as clock:
        case = CaseDriver(meeting="meeting_scheduled", clock=clock)
        case.complete("intake", INTAKE_DATA)
        ...
        clock.advance(days=31)
        case.refresh()

Rules it follows, mirroring the platform contract:

* every user task is completed through its form: the submission is checked with
  ``tsunagu.forms.validate_submission`` and only the cleaned data reaches task data;
* the ``meeting`` call activity alias is mapped to the chosen meeting definition;
* service tasks never leave the process: calls are recorded in ``service_calls`` and answered with a canned
  JSON result;
* timers are made due by moving a fake clock (:class:`FakeClock`), which replaces ``datetime`` inside
  SpiffWorkflow's timer module, so durations computed later stay consistent with the moved time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from tsunagu.forms import FormSchema, load_form, validate_submission

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / "workflows"
MEETING_DEFINITIONS = ("meeting_scheduled", "meeting_adhoc", "meeting_hybrid")
MEETING_ALIAS = "meeting"

_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


# ---- script engine ------------------------------------------------------------------------------------
def _base_engine() -> tuple[type, str]:
    """Use the platform's safe engine when it exists; Spiff's PythonScriptEngine otherwise."""
    try:
        from tsunagu.engine.spiff import SafeScriptEngine  # type: ignore[import-not-found]
    except ImportError:
        return PythonScriptEngine, "SpiffWorkflow PythonScriptEngine"
    return SafeScriptEngine, "tsunagu.engine.spiff.SafeScriptEngine"


BASE_ENGINE, ENGINE_NAME = _base_engine()


@dataclass
class ServiceCall:
    operation: str
    params: dict[str, Any]
    task_id: str


CANNED_RESULTS: dict[str, dict[str, Any]] = {
    "notify": {"status": "queued"},
    "add_to_agenda": {"status": "added", "agenda_item_id": "agenda-1", "meeting_date": "2026-07-01"},
    "schedule_meeting": {"status": "scheduled", "meeting_id": "meeting-1"},
    "record_statistic": {"status": "recorded"},
    "export_case": {"status": "queued"},
}


def _check_params(operation_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Check parameters against the platform's operation allowlist when the engine module exists."""
    try:
        from tsunagu.engine.operations import get_operation
    except ImportError:
        if operation_name not in CANNED_RESULTS:
            raise ValueError(f"service operation '{operation_name}' is not on the allowlist") from None
        return params
    checked: dict[str, Any] = get_operation(operation_name).coerce_params(params)
    return checked


def make_script_engine(calls: list[ServiceCall]) -> Any:
    """A script engine that records service-task calls instead of executing them."""

    def call_service(self: Any, task: Task, operation_name: str, operation_params: dict, **_: Any) -> str:
        params = {name: p["value"] for name, p in operation_params.items()}
        params = _check_params(operation_name, params)
        calls.append(ServiceCall(operation_name, params, task.task_spec.bpmn_id))
        return json.dumps(CANNED_RESULTS[operation_name])

    engine_cls = type("DriverScriptEngine", (BASE_ENGINE,), {"call_service": call_service})
    return engine_cls()


# ---- fake clock ---------------------------------------------------------------------------------------
class FakeClock:
    """Moves SpiffWorkflow's notion of 'now' (only its timer module reads the clock)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)
        self._saved: Any = None

    def advance(self, **delta: float) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when

    def __enter__(self) -> FakeClock:
        clock = self

        class _ClockDatetime(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
                return clock.now if tz is None else clock.now.astimezone(tz)

        self._saved = spiff_timer.datetime
        spiff_timer.datetime = _ClockDatetime  # type: ignore[misc]
        return self

    def __exit__(self, *exc: object) -> None:
        spiff_timer.datetime = self._saved


# ---- definitions --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Definition:
    name: str
    folder: Path
    spec: Any
    subprocess_specs: dict[str, Any]
    process_ids: frozenset[str]  # the main process and its embedded (event) subprocesses


def parse_definition(name: str, folder: Path | None = None) -> Definition:
    """Parse every *.dmn and *.bpmn of one library folder with SpiffBpmnParser (schema-validated)."""
    folder = folder or WORKFLOWS / name
    parser = SpiffBpmnParser(validator=VALIDATOR)
    for path in sorted(folder.glob("*.dmn")):
        parser.add_dmn_xml(etree.parse(str(path), _XML_PARSER).getroot(), filename=path.name)
    for path in sorted(folder.glob("*.bpmn")):
        parser.add_bpmn_xml(etree.parse(str(path), _XML_PARSER), filename=path.name)
    spec = parser.get_spec(name)
    subprocess_specs = parser.get_subprocess_specs(name, require_call_activity_specs=False)
    own = {name} | {k for k in subprocess_specs if k != MEETING_ALIAS}
    return Definition(name, folder, spec, subprocess_specs, frozenset(own))


@cache
def definition(name: str) -> Definition:
    return parse_definition(name)


@cache
def forms_of(name: str) -> dict[str, FormSchema]:
    return {p.stem: load_form(p) for p in sorted((WORKFLOWS / name / "forms").glob("*.form"))}


def casework_specs(meeting: str) -> tuple[Any, dict[str, Any]]:
    """casework's spec plus subprocess specs with the 'meeting' alias bound to ``meeting``."""
    case = definition("casework")
    chosen = definition(meeting)
    subs = {k: v for k, v in case.subprocess_specs.items() if k != MEETING_ALIAS}
    subs[MEETING_ALIAS] = chosen.spec
    subs.update(chosen.subprocess_specs)
    return case.spec, subs


def default_start_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "case_id": "case-0001",
        "tenant_slug": "kunitachi",
        "org_unit": "main",
        "monitoring_interval": "P30D",
        "referral": None,
        "person": {"name": "山田 花子"},
    }
    data.update(overrides)
    return data


class FormRejected(AssertionError):
    def __init__(self, task_id: str, errors: dict[str, list[str]]) -> None:
        super().__init__(f"form for '{task_id}' rejected: {errors}")
        self.errors = errors


# ---- the driver ---------------------------------------------------------------------------------------
@dataclass
class CaseDriver:
    """Runs one process instance in memory. ``process`` is a library definition name."""

    process: str = "casework"
    meeting: str = "meeting_scheduled"
    start_data: Mapping[str, Any] | None = None
    clock: FakeClock | None = None
    service_calls: list[ServiceCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.process == "casework":
            spec, subs = casework_specs(self.meeting)
            self._owners = {pid: "casework" for pid in definition("casework").process_ids}
            self._owners.update({pid: self.meeting for pid in definition(self.meeting).process_ids})
            self._owners[MEETING_ALIAS] = self.meeting
        else:
            d = definition(self.process)
            spec, subs = d.spec, d.subprocess_specs
            self._owners = {pid: self.process for pid in d.process_ids}
        self.workflow = BpmnWorkflow(spec, subs, script_engine=make_script_engine(self.service_calls))
        start = next(t for t in self.workflow.get_tasks(state=TaskState.READY) if t.task_spec.name == "Start")
        data = dict(default_start_data() if self.start_data is None else self.start_data)
        start.set_data(**data)
        self.workflow.do_engine_steps()

    # -- inspection --
    def ready_tasks(self) -> list[Task]:
        return [t for t in self.workflow.get_tasks(state=TaskState.READY) if t.task_spec.manual]

    def ready(self) -> list[str]:
        """bpmn ids of the READY user tasks, sorted."""
        return sorted(t.task_spec.bpmn_id for t in self.ready_tasks())

    def task(self, bpmn_id: str) -> Task:
        found = [t for t in self.ready_tasks() if t.task_spec.bpmn_id == bpmn_id]
        if len(found) != 1:
            raise AssertionError(f"expected one ready '{bpmn_id}', ready tasks are {self.ready()}")
        return found[0]

    def form_for(self, task: Task) -> FormSchema:
        form_key = task.task_spec.extensions["properties"]["formKey"]
        owner = self._owners[task.workflow.spec.name]
        return forms_of(owner)[form_key]

    def lane(self, bpmn_id: str) -> str | None:
        return self.task(bpmn_id).task_spec.lane

    @property
    def completed(self) -> bool:
        return self.workflow.completed

    @property
    def data(self) -> dict[str, Any]:
        """Data of the most recently completed task of the top-level process."""
        return self.workflow.last_task.data if self.workflow.last_task else {}

    def ended_at(self) -> list[str]:
        """bpmn ids of the end events reached, in the top-level process and its subprocesses."""
        # get_tasks() on the top workflow already walks the subprocesses
        return sorted(
            t.task_spec.bpmn_id
            for t in self.workflow.get_tasks(state=TaskState.COMPLETED)
            if isinstance(t.task_spec, EndEvent)
        )

    def waiting_timers(self) -> dict[str, datetime]:
        """Waiting timer events (bpmn id → due time, UTC) once Spiff has computed them."""
        result = {}
        for task in self.workflow.get_tasks(state=TaskState.WAITING):
            event_definition = getattr(task.task_spec, "event_definition", None)
            if isinstance(event_definition, spiff_timer.TimerEventDefinition):
                value = task._get_internal_data("event_value")
                if isinstance(value, str):
                    due = spiff_timer.TimerEventDefinition.get_datetime(value)
                    result[task.task_spec.bpmn_id] = due
        return result

    def waiting_messages(self) -> list[str]:
        return sorted(e.name for e in self.workflow.waiting_events() if e.event_type.startswith("Message"))

    # -- actions --
    def submit(self, bpmn_id: str, submission: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``submission`` with the task's form and return (cleaned, errors) without completing."""
        task = self.task(bpmn_id)
        cleaned, errors = validate_submission(self.form_for(task), dict(submission))
        if errors:
            raise FormRejected(bpmn_id, errors)
        return cleaned

    def complete(self, bpmn_id: str, submission: Mapping[str, Any]) -> dict[str, Any]:
        """Complete the ready user task ``bpmn_id`` with a form submission, then run engine steps."""
        cleaned = self.submit(bpmn_id, submission)
        task = self.task(bpmn_id)
        task.set_data(**cleaned)
        task.run()
        self.workflow.do_engine_steps()
        return cleaned

    def send_message(self, name: str, payload: Mapping[str, Any] | None = None) -> None:
        event = BpmnEvent(MessageEventDefinition(name), payload=dict(payload or {}))
        self.workflow.send_event(event)
        self.workflow.do_engine_steps()

    def refresh(self) -> None:
        """Let Spiff re-check timers against the (fake) clock and run what became ready."""
        self.workflow.refresh_timers()
        self.workflow.do_engine_steps()

    def advance(self, **delta: float) -> None:
        if self.clock is None:
            raise AssertionError("advance() needs a CaseDriver created with a FakeClock")
        self.clock.advance(**delta)
        self.refresh()

    def operations(self) -> list[str]:
        return [c.operation for c in self.service_calls]


# ---- library inventory --------------------------------------------------------------------------------
def library_folders() -> Iterator[Path]:
    for folder in sorted(WORKFLOWS.iterdir()):
        if folder.is_dir() and (folder / "definition.toml").exists():
            yield folder


# ---- scenario helpers (shared with the benchmark) -----------------------------------------------------
def drive_to_meeting(
    case: CaseDriver,
    *,
    intake: Mapping[str, Any] | None = None,
    assessment: Mapping[str, Any] | None = None,
    plan: Mapping[str, Any] | None = None,
) -> None:
    """Intake → consent → assessment (→ emergency support) → plan (→ early start): up to the meeting."""
    from . import samples

    case.complete("intake", samples.intake(**(intake or {})))
    case.complete("consent", samples.consent())
    assessment_data = samples.assessment(**(assessment or {}))
    case.complete("assessment", assessment_data)
    if case.ready() == ["emergency"]:
        case.complete("emergency", samples.emergency_support())
    case.complete("plan_draft", samples.plan(**(plan or {})))
    if case.ready() == ["early_start_delivery"]:
        case.complete("early_start_delivery", samples.progress_record())


def decide_meeting(case: CaseDriver, decision: str = "approve") -> None:
    """Finish whichever meeting process is running with ``decision``."""
    from . import samples

    ready = case.ready()
    if "after_the_fact_registration" in ready:
        case.complete("after_the_fact_registration", samples.after_the_fact_report())
        ready = case.ready()
    if "convene_adhoc" in ready:
        case.complete("convene_adhoc", samples.adhoc_convene())
    elif "convene_internal" in ready:
        case.complete("convene_internal", samples.adhoc_internal_convene())
    if case.ready() == ["record_meeting_result"]:
        case.complete("record_meeting_result", samples.meeting_result(decision))
    else:
        case.send_message("meeting_decided", {"decision": decision})


def drive_to_delivery(case: CaseDriver, **kw: Any) -> None:
    """Up to the running delivery/monitoring loop, with the meeting approving the plan."""
    from . import samples

    drive_to_meeting(case, **kw)
    decide_meeting(case, "approve")
    if case.ready() == ["support_decision"]:
        case.complete("support_decision", samples.support_decision())
    else:
        case.complete("support_confirmation", samples.support_confirmation())
    if case.ready() == ["delivery_start"]:
        case.complete("delivery_start", samples.progress_record())
