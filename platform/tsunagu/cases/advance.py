"""The one "advance a case" path: complete a task, fire a timer, deliver a message — with one error policy.

Each command: lock the instance row (PostgreSQL ``FOR UPDATE``; commands on one case queue) → run the engine
command → apply its result (the HumanTask projection, the case's history and closure, the outbox side
effects) in the caller's transaction. :func:`advance` maps what can go wrong, the same way for all three:

* **a lost race** (``StaleDataError`` from the instance's optimistic ``version`` — SQLite has no row locks,
  and it is PostgreSQL's safety net): the unit of work is rolled back and the command retried once, then
  answered 409 ``conflict``;
* **an engine error** (a condition that raises, a DMN table with no matching rule, an expression error): the
  command's changes are rolled back — the task stays ready, the case unchanged — an :class:`Incident` is
  recorded on the instance in a transaction of its own (element, command, what failed, what to retry), and
  the caller gets 422 ``workflow_error`` with the element and the error. Never a 500.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from ..core.db import utcnow
from ..core.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from ..core.outbox import enqueue
from ..core.runtime import Runtime
from ..core.session import TenantSession, independent_transaction, transaction
from ..engine import services as engine
from ..forms.schema import FormSchema, load_form
from ..forms.validation import validate_submission
from ..identity.services import Principal
from . import person_fields, projection
from .models import Case, CaseEvent, HumanTask, Person
from .tasks import lock_for_completion

log = logging.getLogger("tsunagu.cases.advance")

T = TypeVar("T")


class WorkflowFailed(Unprocessable):
    """422: the workflow failed at an element; an incident was recorded, nothing else changed."""

    code = "workflow_error"

    def __init__(self, fault: engine.EngineFault, incident_id: uuid.UUID | None) -> None:
        where = fault.element_name or fault.element or "?"
        super().__init__(
            f"「{where}」の処理でエラーが発生しました。管理者に連絡してください: {fault.error}"
            f" / the workflow failed at '{where}': {fault.error}",
            details={
                "element": fault.element,
                "element_name": fault.element_name,
                "command": fault.command,
                "error": fault.error,
                "incident_id": str(incident_id) if incident_id else None,
            },
        )
        self.fault = fault
        self.incident_id = incident_id


@dataclass
class Attempt:
    """What a command tells the policy as it learns it: which instance an incident belongs to, and how to
    retry. Reset for every try."""

    instance_id: uuid.UUID | None = None
    #: the element the command is about (when the failure itself names none, e.g. a state that won't load)
    element: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    park_timer: uuid.UUID | None = None


def advance(session: TenantSession, command: Callable[[Attempt], T]) -> T:
    """Run ``command`` under the one error policy (see the module docstring)."""
    for attempt_number in (1, 2):
        attempt = Attempt()
        try:
            outcome = command(attempt)
            session.flush()
            return outcome
        except (StaleDataError, IntegrityError, OperationalError) as exc:
            if not isinstance(exc, StaleDataError) and session.get_bind().dialect.name != "sqlite":
                raise  # PostgreSQL's row locks make these real errors there (or an outage: 503)
            # SQLite: a concurrent command got in first despite ``take_write_lock`` (a locked database, the
            # same next task inserted twice) — a lost race like any other
            session.rollback()
            log.info("lost an optimistic-lock race (try %d)", attempt_number)
            if attempt_number == 2:
                raise Conflict(
                    "他の操作と競合しました。再読み込みしてください / a concurrent change won; reload",
                    code="conflict",
                ) from exc
        except engine.EngineFault as fault:
            session.rollback()
            raise WorkflowFailed(fault, _record_incident(session, attempt, fault)) from fault
    raise AssertionError("unreachable")  # pragma: no cover


def _record_incident(session: TenantSession, attempt: Attempt, fault: engine.EngineFault) -> uuid.UUID | None:
    log.warning("engine error in %s: %s", fault.command, fault)
    if attempt.instance_id is None:
        return None  # nothing saved yet (a case whose start failed): nothing to attach it to
    if not fault.element:
        fault.element = attempt.element
    with independent_transaction(session) as own:
        incident = engine.record_incident(own, attempt.instance_id, fault, attempt.context)
        if attempt.park_timer is not None:
            engine.park_timer(own, attempt.park_timer, utcnow())
        return incident.id


#: the casework process calls its 支援調整会議 through this alias (``calledElement="meeting"``)
MEETING_CALL = "meeting"


# --- applying a result --------------------------------------------------------------------------------------


def record_event(
    session: TenantSession,
    case_id: uuid.UUID,
    kind: str,
    *,
    element: str = "",
    title: str = "",
    actor_id: uuid.UUID | None = None,
    task_id: uuid.UUID | None = None,
    details: dict[str, Any] | None = None,
    submission: dict[str, Any] | None = None,
) -> CaseEvent:
    event = CaseEvent(
        tenant_id=session.require_tenant_id(),
        case_id=case_id,
        kind=kind,
        element=element,
        title=title,
        actor_id=actor_id,
        task_id=task_id,
        details=details or {},
        submission=submission,
        at=utcnow(),
    )
    session.add(event)
    return event


def context_of(session: TenantSession, case: Case | None) -> projection.TaskContext:
    if case is None:
        return projection.TaskContext(case_id=None, org_unit_id=None)
    person = session.get(Person, (case.tenant_id, case.person_id))
    return projection.TaskContext(
        case_id=case.id,
        org_unit_id=case.org_unit_id,
        person_name=person.name if person else "",
        person_kana=person.name_kana if person else "",
        responsible_id=case.responsible_id,
    )


def apply_result(
    session: TenantSession,
    case: Case | None,
    result: engine.CommandResult,
    ctx: projection.TaskContext,
    *,
    completed: HumanTask | None = None,
) -> None:
    """The projection, the case's closure and the outbox side effects of one command."""
    projection.apply(session, result, ctx, completed=completed)
    if case is not None:
        in_meeting = MEETING_CALL in engine.running_calls(result.workflow)
        if case.in_meeting != in_meeting:
            case.in_meeting = in_meeting
    if case is not None and result.ended and case.status == "open":
        case.status = "closed"
        case.closed_at = utcnow()
        case.outcome = result.end_event
        record_event(session, case.id, "closed", title="終了", details={"outcome": case.outcome})
    for effect in result.side_effects:
        enqueue(
            session,
            "engine.service_task",
            {
                "case_id": str(case.id) if case else None,
                "process_instance_id": str(result.instance.id),
                **effect,
            },
        )


# --- listeners of completed steps ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CompletedStep:
    """A user task just completed on the advance path: what a listener (the statistics projection of
    ``reports``, registered at start-up) needs to write its own rows in the same transaction."""

    case: Case | None
    task: HumanTask
    #: the deployed form-js schema of the task (``None`` without a form): listeners read what its fields
    #: declare, not the field keys, so a tenant's renamed field keeps its meaning
    form: dict[str, Any] | None
    data: dict[str, Any]


_STEP_LISTENERS: list[Callable[[TenantSession, CompletedStep], None]] = []


def on_step_completed(listener: Callable[[TenantSession, CompletedStep], None]) -> None:
    """Register ``listener`` (once; registering it again does nothing). It runs inside the command, so what it
    writes commits or rolls back with the step; an exception from it fails the command."""
    if listener not in _STEP_LISTENERS:
        _STEP_LISTENERS.append(listener)


# --- the three commands -------------------------------------------------------------------------------------


#: Parsed forms by (deployment, form key): a deployment's files never change, and parsing the form-js document
#: on every completion cost about as much as validating the data against it.
_FORMS: dict[tuple[uuid.UUID, str], FormSchema] = {}
_FORMS_MAX = 512


def _form(deployment_id: uuid.UUID, form_key: str, schema: dict[str, Any]) -> FormSchema:
    key = (deployment_id, form_key)
    form = _FORMS.get(key)
    if form is None:
        form = load_form(schema)
        if len(_FORMS) >= _FORMS_MAX:
            _FORMS.pop(next(iter(_FORMS)))  # the oldest entry: enough to bound the cache
        _FORMS[key] = form
    return form


def complete_task(
    session: TenantSession,
    actor: Principal,
    task_id: uuid.UUID,
    data: dict[str, Any],
    *,
    retry_of: uuid.UUID | None = None,
) -> HumanTask:
    """Validate ``data`` against the task's form and complete it. 409 if done or claimed by someone else.

    ``retry_of``: an administrator re-runs the completion an incident recorded (``cases.operate``); the
    claim of the user who submitted it does not stop them.
    """

    def command(attempt: Attempt) -> HumanTask:
        # serializes commands on the instance
        locked = lock_for_completion(session, actor, task_id, as_operator=retry_of is not None)
        task, instance = locked.task, locked.instance
        attempt.instance_id, attempt.element = instance.id, task.element
        attempt.context = {"task_id": str(task.id), "actor_id": str(actor.user_id)}
        cleaned: dict[str, Any] = dict(data)
        schema: dict[str, Any] | None = None
        if task.form_key:
            schema = engine.form_schema(session, instance.deployment_id, task.form_key)
            if schema is None:
                raise NotFound(f"form {task.form_key!r} is missing from the deployment")
            cleaned, errors = validate_submission(_form(instance.deployment_id, task.form_key, schema), data)
            if errors:
                raise ValidationFailed(
                    "入力内容に誤りがあります / the data does not fit the form", details=errors
                )
        # what a retry re-submits (the form data, already validated; the case keeps it in its history too)
        attempt.context["data"] = cleaned
        result = engine.complete_task(session, instance, task.id, cleaned)
        now = utcnow()
        task.state = "completed"
        task.completed_at = now
        task.completed_by = actor.user_id
        task.assignee_id = task.assignee_id or actor.user_id
        task.draft = None
        task.updated_at = now
        if task.case_id is not None:
            record_event(
                session,
                task.case_id,
                "task_completed",
                element=task.element,
                title=task.title,
                actor_id=actor.user_id,
                task_id=task.id,
                submission=cleaned,  # the case's own record of the step (the workflow state forgets it)
                details={"retry_of": str(retry_of)} if retry_of else None,
            )
        ctx = projection.TaskContext.of_task(task, locked.case.responsible_id if locked.case else None)
        if locked.person is not None:
            # 本人情報 corrected on the form (the intake's name, kana, birth date) update the Person — the one
            # source of truth for the header, the inbox and the case list — and the case's task rows.
            ctx = person_fields.apply_submission(session, locked, cleaned, ctx, actor.user_id)
        for listener in _STEP_LISTENERS:
            listener(session, CompletedStep(case=locked.case, task=task, form=schema, data=cleaned))
        # The task's successors belong to the same case and person: copied from its row, not read again.
        apply_result(session, locked.case, result, ctx, completed=task)
        return task

    return advance(session, command)


def fire_timer(runtime: Runtime, tenant_id: uuid.UUID, timer_id: uuid.UUID, now: datetime) -> bool:
    """Fire one timer if it is still due and nobody else holds it; ``True`` when it fired here.

    A lost race leaves the timer for the next poll; an engine error parks it behind an incident.
    """

    def command(session: TenantSession) -> Callable[[Attempt], bool]:
        def run(attempt: Attempt) -> bool:
            claimed = engine.claim_due_timer(session, timer_id, now)
            if claimed is None:
                return False
            timer, instance = claimed.timer, claimed.instance
            attempt.instance_id, attempt.element = instance.id, timer.element
            attempt.context = {"timer_id": str(timer.id)}
            attempt.park_timer = timer.id
            case = session.get(Case, (tenant_id, instance.case_id)) if instance.case_id else None
            result = engine.fire_timer(session, instance, timer, now)
            if case is not None:
                record_event(
                    session,
                    case.id,
                    "timer_fired",
                    element=timer.element,
                    title="タイマー",
                    details={"due_at": timer.due_at.isoformat()},
                )
            apply_result(session, case, result, context_of(session, case))
            return True

        return run

    try:
        with transaction(runtime.sessions, tenant_id) as session:
            return advance(session, command(session))
    except (WorkflowFailed, Conflict) as exc:
        log.warning("timer %s of tenant %s did not fire: %s", timer_id, tenant_id, exc.message)
        return False


def fire_due_timers(runtime: Runtime, now: datetime | None = None, limit: int = 100) -> int:
    """Fire every timer due at ``now`` (default: the current time). Returns how many fired here."""
    now = now or utcnow()
    return sum(
        1
        for tenant_id, timer_id in engine.due_timer_ids(runtime, now, limit)
        if fire_timer(runtime, tenant_id, timer_id, now)
    )


MESSAGE_NAMES = ("meeting_decided", "consent_withdrawn", "referral_received")


def deliver_message(
    session: TenantSession,
    case: Case,
    name: str,
    payload: dict[str, Any],
    actor_id: uuid.UUID | None = None,
) -> engine.CommandResult:
    """Correlate by case: the case's running instance catches the message, or 409 when nothing waits for it."""
    case_id, tenant_id = case.id, case.tenant_id

    def command(attempt: Attempt) -> engine.CommandResult:
        current = session.get(Case, (tenant_id, case_id))
        if current is None or current.process_instance_id is None:
            raise Conflict("このケースにはプロセスがありません / the case has no process", code="no_process")
        instance = engine.lock_instance(session, current.process_instance_id)
        if instance is None or instance.status != "running":
            raise Conflict(
                "このケースのプロセスは実行中ではありません / the case's process is not running",
                code="not_running",
            )
        attempt.instance_id, attempt.element = instance.id, name
        attempt.context = {"message": name}
        result = engine.deliver_message(session, instance, name, payload)
        if result is None:
            raise Conflict(
                f"このケースはメッセージ {name} を待っていません / nothing is waiting for {name}",
                code="not_waiting",
            )
        record_event(
            session, current.id, "message", element=name, title=name, actor_id=actor_id, details=payload
        )
        apply_result(session, current, result, context_of(session, current))
        return result

    return advance(session, command)
