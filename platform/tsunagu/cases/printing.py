"""The standard forms as print (帳票の印刷): 相談受付・申込票, プラン兼事業等利用申込書 and 評価シート as PDF in the
MHLW layout, filled from what the case recorded, through the sharing decision (issue #17).

Each printout is built from the case's own record of its steps (the ``task_completed`` events' submissions:
the latest of each step) and the deployed form (its labels and option labels). What a viewer gets follows
``sharing.decide`` section by section, with the category of information each section holds:

* no legal basis for the case file (``anonymised``): only the anonymised summary and the form's blank
  layout, marked as such — no name, no dates, no free text;
* otherwise each section under its own decision: 世帯の状況 is household information, 相談内容 and the
  changes seen at evaluation may hold 要配慮個人情報 (health, DV, …); a viewer whose basis does not cover a
  section's category sees that section withheld, with the reason.

A viewer who may not read the case at all never gets here (``case.read``: 404/403 first). Every print is
audited (``audit.record_access``, action ``case.print``) with the form printed.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select

from ..engine import services as engine
from ..forms.schema import FormSchema, FormSchemaError, load_form
from ..sharing import services as sharing
from ..tenancy.models import OrgUnit
from .information import summary_of
from .models import Case, CaseEvent, HumanTask, Person

__all__ = ["FORMS", "PrintForm", "Printout", "build_printout"]


@dataclass(frozen=True)
class PrintForm:
    kind: str
    title: str  # the MHLW form's name (Japanese: the form is a Japanese document)
    template: str
    #: the steps whose records fill the form: (form key, BPMN element) — the form key is what counts
    steps: tuple[tuple[str, str], ...]
    #: section → category of information (``sharing.Category``)
    sections: Mapping[str, str]


G, S, H = sharing.Category.GENERAL.value, sharing.Category.SENSITIVE.value, sharing.Category.HOUSEHOLD.value

FORMS: dict[str, PrintForm] = {
    "intake": PrintForm(
        "intake",
        "相談受付・申込票",
        "cases/print/intake.html",
        (("intake", "intake"), ("consent", "consent")),
        {"reception": G, "person": G, "household": H, "consultation": S, "screening": G, "application": G},
    ),
    "plan": PrintForm(
        "plan",
        "プラン兼事業等利用申込書",
        "cases/print/plan.html",
        (("plan", "plan_draft"),),
        {"plan": G, "goals": G, "support": G, "programmes": G, "agreement": G},
    ),
    "evaluation": PrintForm(
        "evaluation",
        "評価シート",
        "cases/print/evaluation.html",
        (("evaluation", "evaluation"),),
        {"evaluation": G, "changes": S, "outcome": G},
    ),
}


@dataclass
class Printout:
    form: PrintForm
    case: Case
    file: sharing.Decision
    summary: dict[str, Any]
    sections: dict[str, sharing.Decision] = field(default_factory=dict)
    person: Person | None = None
    unit_name: str = ""
    #: the latest submission of each step, by form key (empty unless the file may be seen)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)
    recorded_on: dict[str, date] = field(default_factory=dict)
    schemas: dict[str, FormSchema] = field(default_factory=dict)

    @property
    def full(self) -> bool:
        return self.file.full

    def shows(self, section: str) -> bool:
        decision = self.sections.get(section)
        return self.full and decision is not None and decision.full

    def value(self, form_key: str, key: str) -> Any:
        current: Any = self.data.get(form_key) or {}
        for part in key.split("."):
            if not isinstance(current, Mapping):
                return None
            current = current.get(part)
        return current

    def label(self, form_key: str, key: str) -> str:
        schema = self.schemas.get(form_key)
        if schema is not None:
            try:
                return schema.field(key).label
            except KeyError:
                pass
        return key

    def option(self, form_key: str, key: str, value: Any) -> str:
        """An option's label as the form shows it (``debt`` → 債務のこと)."""
        schema = self.schemas.get(form_key)
        if schema is not None:
            try:
                for option in schema.field(key).options or ():
                    if option.value == value:
                        return option.label
            except KeyError:
                pass
        return "" if value is None else str(value)

    def options(self, form_key: str, key: str) -> list[tuple[Any, str]]:
        schema = self.schemas.get(form_key)
        try:
            spec = schema.field(key) if schema is not None else None
        except KeyError:
            spec = None
        return [(o.value, o.label) for o in (spec.options or ())] if spec is not None else []


def _submissions(
    session: Any, case: Case, form: PrintForm
) -> tuple[dict[str, dict[str, Any]], dict[str, date]]:
    """The latest recorded submission of each step of ``form``, by form key (matched by the task's form
    key, or by the element when the task row is gone)."""
    keys = {key for key, _element in form.steps}
    elements = {element: key for key, element in form.steps}
    rows = session.execute(
        select(CaseEvent, HumanTask.form_key)
        .outerjoin(
            HumanTask, (HumanTask.tenant_id == CaseEvent.tenant_id) & (HumanTask.id == CaseEvent.task_id)
        )
        .where(CaseEvent.case_id == case.id, CaseEvent.kind == "task_completed")
        .order_by(CaseEvent.at, CaseEvent.id)
    ).all()
    data: dict[str, dict[str, Any]] = {}
    recorded: dict[str, date] = {}
    for event, form_key in rows:
        key = form_key if form_key in keys else elements.get(event.element)
        if key is not None and isinstance(event.submission, dict):
            data[key] = event.submission
            recorded[key] = event.at.date()
    return data, recorded


def _schemas(session: Any, case: Case, form: PrintForm) -> dict[str, FormSchema]:
    if case.process_instance_id is None:
        return {}
    instance = engine.get_instance(session, case.process_instance_id)
    if instance is None:
        return {}
    out: dict[str, FormSchema] = {}
    for key, _element in form.steps:
        raw = engine.form_schema(session, instance.deployment_id, key)
        if raw:
            try:
                out[key] = load_form(raw)
            except FormSchemaError:  # an older deployment's form that no longer loads: codes, not labels
                continue
    return out


def build_printout(session: Any, case: Case, principal: Any, kind: str) -> Printout:
    """What ``principal`` may see of the case on form ``kind`` (the caller checked ``case.read``)."""
    form = FORMS[kind]
    viewer = sharing.viewer_for(session, principal)
    facts = sharing.case_facts(session, case.id, case.org_unit_id)
    person = session.get(Person, (case.tenant_id, case.person_id))
    file = sharing.decide(viewer, sharing.Item(source=sharing.Source.PERSON.value), facts)
    unit = session.get(OrgUnit, (case.tenant_id, case.org_unit_id)) if case.org_unit_id else None
    out = Printout(
        form=form,
        case=case,
        file=file,
        summary=summary_of(session, case, person),
        unit_name=unit.name if unit else "",
        schemas=_schemas(session, case, form),
    )
    if not file.full:
        return out  # the anonymised summary only: nothing of the person is loaded into the page
    out.person = person
    out.sections = {
        name: sharing.decide(
            viewer, sharing.Item(category=category, source=sharing.Source.PERSON.value), facts
        )
        for name, category in form.sections.items()
    }
    out.data, out.recorded_on = _submissions(session, case, form)
    return out


def print_id(case: Case, kind: str) -> str:
    """A short reference printed on the form (the case id's first block and the form)."""
    return f"{kind}-{uuid.UUID(str(case.id)).hex[:8]}"
