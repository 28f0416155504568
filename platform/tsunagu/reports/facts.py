"""The statistics projection: facts written when a step completes, from what the step's form declares.

The library's forms tag the fields the national report counts with form-js custom properties (``properties``
in the form-js JSON, editable in the form designer), so the meaning travels with the field — a tenant who
renames ``got_work`` keeps counting it. Tags:

* ``"report": "<kind>"`` — the field's value is truthy (a ticked checkbox, a non-empty checklist, a date):
  one fact of ``kind``. On a date field the date is also the day the form's facts count on. ``"report":
  "date"`` only names that day.
* ``"report:<value>": "<kind>"`` — the field's value is ``<value>`` (or a checklist contains it): one fact.

Without a date the facts count on the day of the step (JST). One fact per (case, kind, plan cycle): a form
submitted again in the same cycle (a plan sent back and drafted again) replaces its facts, and a fact its
form no longer yields is withdrawn. ``plan_made`` opens the next cycle, so a re-plan counts again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from ..cases.services import CompletedStep
from ..core.db import utcnow
from ..core.session import TenantSession
from .models import ReportFact

JST = ZoneInfo("Asia/Tokyo")

#: What the report counts (the national 支援状況調査 figures and the meeting facts of the dashboards).
KINDS = (
    "consultation_received",  # 新規相談受付
    "advice_only",  # 相談・情報提供のみで終了
    "referred",  # 他制度・他機関へのつなぎ
    "plan_made",  # プラン作成 (支援決定・確認)
    "work_support_target",  # 就労支援対象者
    "got_work",  # 就労
    "income_rose",  # 増収
    "evaluated",  # 評価 (plan holders evaluated)
    "improved",  # 状態像の改善 at evaluation
    "meeting_held",  # 支援調整会議で協議
    "after_the_fact",  # 事後報告
)
_DATE = "date"
PLAN_MADE = "plan_made"


@dataclass(frozen=True)
class Declaration:
    """What one form declares: which field yields which fact, and which field dates them."""

    #: (field key, value or None for "truthy", kind)
    rules: tuple[tuple[str, str | None, str], ...]
    date_field: str | None

    @property
    def kinds(self) -> set[str]:
        return {kind for _, _, kind in self.rules}


def _fields(components: list[Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for c in components:
        if not isinstance(c, dict):
            continue
        if c.get("key"):
            found.append(c)
        found.extend(_fields(c.get("components") or []))
    return found


def declaration(form: dict[str, Any] | None) -> Declaration:
    """The report tags of a form-js schema (unknown kinds are ignored: they count nothing)."""
    rules: list[tuple[str, str | None, str]] = []
    date_field = None
    for field in _fields((form or {}).get("components") or []):
        props = field.get("properties") or {}
        if not isinstance(props, dict):
            continue
        key = str(field["key"])
        for name, kind in props.items():
            if name == "report":
                if field.get("type") == "datetime" and date_field is None:
                    date_field = key
                if kind in KINDS:
                    rules.append((key, None, str(kind)))
            elif isinstance(name, str) and name.startswith("report:") and kind in KINDS:
                rules.append((key, name.removeprefix("report:"), str(kind)))
    return Declaration(tuple(rules), date_field)


def _truthy(value: Any) -> bool:
    return bool(value) and value != "false"


def _matches(value: Any, wanted: str) -> bool:
    if isinstance(value, list):
        return wanted in [str(v) for v in value]
    return value is not None and str(value) == wanted


def _on(value: Any, fallback: date) -> date:
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return fallback
    return fallback


def today_jst(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(JST).date()


def facts_of(decl: Declaration, data: dict[str, Any], today: date) -> tuple[date, set[str]]:
    """The day and the kinds a submission yields."""
    on = _on(data.get(decl.date_field), today) if decl.date_field else today
    kinds = set()
    for key, value, kind in decl.rules:
        got = data.get(key)
        if (value is None and _truthy(got)) or (value is not None and _matches(got, value)):
            kinds.add(kind)
    return on, kinds


def project(session: TenantSession, step: CompletedStep) -> None:
    """The listener ``cases`` calls on the advance path (registered by ``reports.init_app``)."""
    case_id = step.task.case_id
    if case_id is None or not step.form:
        return
    decl = declaration(step.form)
    if not decl.rules:
        return
    on, kinds = facts_of(decl, step.data, today_jst())
    tenant_id = session.require_tenant_id()
    # One read: the case's facts are few (a handful per plan cycle); the cycle is how many plans it had.
    known = list(session.execute(select(ReportFact).where(ReportFact.case_id == case_id)).scalars())
    cycle = sum(1 for f in known if f.kind == PLAN_MADE)
    existing = {f.kind: f for f in known if f.cycle == cycle and f.kind in decl.kinds}
    org_unit_id = step.case.org_unit_id if step.case is not None else step.task.org_unit_id
    source = step.task.form_key
    for kind in sorted(decl.kinds):
        fact = existing.get(kind)
        if kind in kinds:
            if fact is None:
                fact = ReportFact(tenant_id=tenant_id, case_id=case_id, kind=kind, cycle=cycle)
                session.add(fact)
            fact.org_unit_id = org_unit_id
            fact.month = on.strftime("%Y-%m")
            fact.occurred_on = on
            fact.source = source
            fact.task_id = step.task.id
            fact.recorded_at = utcnow()
        elif fact is not None and fact.source == source:
            session.delete(fact)  # the form re-submitted no longer yields it


def record_fact(
    session: TenantSession,
    case_id: uuid.UUID,
    kind: str,
    on: date,
    *,
    org_unit_id: uuid.UUID | None,
    cycle: int = 0,
    source: str = "",
) -> ReportFact:
    """One fact written directly (tests, the benchmark's generator)."""
    fact = ReportFact(
        tenant_id=session.require_tenant_id(),
        case_id=case_id,
        kind=kind,
        cycle=cycle,
        org_unit_id=org_unit_id,
        month=on.strftime("%Y-%m"),
        occurred_on=on,
        source=source,
    )
    session.add(fact)
    return fact
