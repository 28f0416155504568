"""Case lists for the API and the case list page: search by 事例番号, person (name or kana), org unit, state,
stage, responsible consultant, "in its meeting", overdue and due date, with cursor pagination.

Only the cases the principal may see (``identity.permissions.case_scope``: their org units, or the whole
tenant), newest first. The cursor is the last row's ``(created_at, id)``, opaque to clients (URL-safe base64).
One statement per page: the stage, the next due date, the org unit's name and the responsible consultant's
name come with the rows (no per-row queries).

How a person is found by name or kana lives in ONE function, :func:`person_filter`, through the blind
index (``cases.people``: names and kana are sealed, issue #16).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select

from ..core.errors import ValidationFailed
from ..core.session import TenantSession
from ..engine import services as engine
from ..identity.models import User
from ..identity.permissions import case_scope
from ..identity.principal import Principal
from ..tenancy.models import OrgUnit
from .models import Case, HumanTask, Person
from .numbering import normalise_query
from .people import person_match, person_search

_JST = timezone(timedelta(hours=9))


@dataclass(frozen=True)
class CaseFilters:
    org_unit: str | None = None
    state: str | None = None
    stage: str | None = None
    kana: str | None = None
    due_before: date | None = None
    limit: int = 50
    cursor: str | None = None
    #: 事例番号, as typed (``R8-12``, full-width …): exact after normalising
    number: str | None = None
    #: the person's name or kana, partial
    person: str | None = None
    #: the responsible consultant's user id
    responsible: uuid.UUID | None = None
    #: only cases sitting in their 支援調整会議
    in_meeting: bool = False
    #: only cases with a ready task past its due date
    overdue: bool = False


@dataclass(frozen=True)
class CaseRow:
    case: Case
    person: Person
    stage: str
    next_due_at: datetime | None
    org_unit_name: str = ""
    responsible_name: str = ""


def encode_cursor(created_at: datetime, case_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(case_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, case_id = json.loads(raw)
        return datetime.fromisoformat(at), uuid.UUID(case_id)
    except (ValueError, TypeError):
        raise ValidationFailed(
            "cursor が正しくありません / the cursor is invalid",
            details={"cursor": ["前のページの Next-Cursor をそのまま指定してください"]},
        ) from None


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def person_filter(session: TenantSession, text: str, *, kana_prefix: bool = False) -> ColumnElement[bool]:
    """THE way a person is found by what staff type. Names and kana are sealed (issue #16), so this goes
    through the blind index (``cases.people``): ``kana_prefix`` — the kana starts with ``text`` (the API's
    ``kana``); otherwise ``text`` starts the name or kana or its surname or given name, in any kana form (the
    list page's box). Spaces (half- or full-width) are ignored at both ends."""
    text = text.strip().strip("\u3000")
    if kana_prefix:
        return person_match(session, kana=text)
    return Person.id.in_(person_search(session.require_tenant_id(), text))


def _overdue(now: datetime) -> ColumnElement[bool]:
    return (
        select(HumanTask.id)
        .where(HumanTask.case_id == Case.id, HumanTask.state == "ready", HumanTask.due_at < now)
        .correlate(Case)
        .exists()
    )


def _filtered(session: TenantSession, actor: Principal, filters: CaseFilters, stmt: Any) -> Any | None:
    """``stmt`` narrowed to what ``actor`` may see and ``filters`` ask; ``None`` when nothing can match."""
    scope = case_scope(actor, Case.org_unit_id)
    if scope is not None:
        stmt = stmt.where(scope)
    if filters.org_unit:
        unit = session.execute(select(OrgUnit.id).where(OrgUnit.code == filters.org_unit)).scalar()
        if unit is None:
            return None  # an unknown code matches no case
        stmt = stmt.where(Case.org_unit_id == unit)
    if filters.state:
        stmt = stmt.where(Case.status == filters.state)
    if filters.stage:
        stmt = stmt.where(engine.ProcessInstance.stage == filters.stage)
    if filters.kana:
        stmt = stmt.where(person_filter(session, filters.kana, kana_prefix=True))
    if filters.person:
        stmt = stmt.where(person_filter(session, filters.person))
    if filters.number:
        number = normalise_query(filters.number)
        if number is None:
            return None  # not a case number: matches no case
        stmt = stmt.where(Case.number == number)
    if filters.responsible:
        stmt = stmt.where(Case.responsible_id == filters.responsible)
    if filters.in_meeting:
        stmt = stmt.where(Case.in_meeting.is_(True), Case.status == "open")
    if filters.overdue:
        from ..core.db import utcnow

        stmt = stmt.where(_overdue(utcnow()))
    if filters.due_before:
        end = datetime.combine(filters.due_before + timedelta(days=1), time(0), _JST).astimezone(UTC)
        stmt = stmt.where(
            select(HumanTask.id)
            .where(HumanTask.case_id == Case.id, HumanTask.state == "ready", HumanTask.due_at < end)
            .correlate(Case)
            .exists()
        )
    return stmt


def _with_instance(stmt: Any) -> Any:
    return stmt.join(Person, and_(Person.tenant_id == Case.tenant_id, Person.id == Case.person_id)).outerjoin(
        engine.ProcessInstance,
        and_(
            engine.ProcessInstance.tenant_id == Case.tenant_id,
            engine.ProcessInstance.id == Case.process_instance_id,
        ),
    )


def count_cases(session: TenantSession, actor: Principal, filters: CaseFilters) -> int:
    """How many cases match (for the list page's summary)."""
    stmt = _filtered(session, actor, filters, _with_instance(select(Case.id).select_from(Case)))
    if stmt is None:
        return 0
    return int(session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())


def search_cases(
    session: TenantSession, actor: Principal, filters: CaseFilters
) -> tuple[list[CaseRow], str | None]:
    """One page of the cases ``actor`` may see that match ``filters``, and the cursor of the next page."""
    next_due = (
        select(func.min(HumanTask.due_at))
        .where(HumanTask.case_id == Case.id, HumanTask.state == "ready")
        .correlate(Case)
        .scalar_subquery()
    )
    stmt: Any = _with_instance(
        select(
            Case, Person, engine.ProcessInstance.stage, next_due, OrgUnit.name, User.display_name, User.email
        ).select_from(Case)
    )
    stmt = stmt.outerjoin(
        OrgUnit, and_(OrgUnit.tenant_id == Case.tenant_id, OrgUnit.id == Case.org_unit_id)
    ).outerjoin(User, and_(User.tenant_id == Case.tenant_id, User.id == Case.responsible_id))
    stmt = _filtered(session, actor, filters, stmt)
    if stmt is None:
        return [], None
    if filters.cursor:
        at, last_id = decode_cursor(filters.cursor)
        stmt = stmt.where(or_(Case.created_at < at, and_(Case.created_at == at, Case.id < last_id)))
    stmt = stmt.order_by(Case.created_at.desc(), Case.id.desc()).limit(filters.limit + 1)
    rows = [
        CaseRow(
            case=c,
            person=p,
            stage=stage or "",
            next_due_at=due,
            org_unit_name=unit or "",
            responsible_name=(shown or email or "") if c.responsible_id else "",
        )
        for c, p, stage, due, unit, shown, email in session.execute(stmt)
    ]
    more = len(rows) > filters.limit
    rows = rows[: filters.limit]
    cursor = encode_cursor(rows[-1].case.created_at, rows[-1].case.id) if more and rows else None
    return rows, cursor


def open_tasks(session: TenantSession, case_id: uuid.UUID) -> list[HumanTask]:
    return list(
        session.execute(
            select(HumanTask)
            .where(HumanTask.case_id == case_id, HumanTask.state == "ready")
            .order_by(HumanTask.created_at)
        ).scalars()
    )


def stage_options(session: TenantSession, actor: Principal) -> list[str]:
    """The stages the open cases ``actor`` may see are at (for the case list's stage filter)."""
    stmt = _filtered(
        session,
        actor,
        CaseFilters(state="open"),
        _with_instance(select(engine.ProcessInstance.stage).select_from(Case)).distinct(),
    )
    return sorted({s for s in session.execute(stmt).scalars() if s}) if stmt is not None else []


def numbers_of(session: TenantSession, case_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """``{case id: 事例番号}`` for a page of tasks (one query; the inbox shows the number on every row)."""
    wanted = sorted({c for c in case_ids if c is not None})
    if not wanted:
        return {}
    rows = session.execute(select(Case.id, Case.number).where(Case.id.in_(wanted)))
    return {case_id: number for case_id, number in rows if number}
