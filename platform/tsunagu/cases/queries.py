"""Case lists for the API: search by org unit, state, stage, person kana and due date, with cursor pagination.

Only the cases the principal may see (``identity.permissions.case_scope``: their org units, or the whole
tenant), newest first. The cursor is the last row's ``(created_at, id)``, opaque to clients (URL-safe base64).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import and_, func, or_, select

from ..core.errors import ValidationFailed
from ..core.session import TenantSession
from ..engine import services as engine
from ..identity.permissions import case_scope
from ..identity.principal import Principal
from ..tenancy.models import OrgUnit
from .models import Case, HumanTask, Person
from .people import person_match

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


@dataclass(frozen=True)
class CaseRow:
    case: Case
    person: Person
    stage: str
    next_due_at: datetime | None


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
    stmt: Any = (
        select(Case, Person, engine.ProcessInstance.stage, next_due)
        .join(Person, and_(Person.tenant_id == Case.tenant_id, Person.id == Case.person_id))
        .outerjoin(
            engine.ProcessInstance,
            and_(
                engine.ProcessInstance.tenant_id == Case.tenant_id,
                engine.ProcessInstance.id == Case.process_instance_id,
            ),
        )
    )
    scope = case_scope(actor, Case.org_unit_id)
    if scope is not None:
        stmt = stmt.where(scope)
    if filters.org_unit:
        unit = session.execute(select(OrgUnit.id).where(OrgUnit.code == filters.org_unit)).scalar()
        if unit is None:
            return [], None  # an unknown code matches no case
        stmt = stmt.where(Case.org_unit_id == unit)
    if filters.state:
        stmt = stmt.where(Case.status == filters.state)
    if filters.stage:
        stmt = stmt.where(engine.ProcessInstance.stage == filters.stage)
    if filters.kana:
        # the kana is sealed (issue #16): a prefix search through the blind index
        stmt = stmt.where(person_match(session, kana=filters.kana.strip()))
    if filters.due_before:
        end = datetime.combine(filters.due_before + timedelta(days=1), time(0), _JST).astimezone(UTC)
        stmt = stmt.where(
            select(HumanTask.id)
            .where(HumanTask.case_id == Case.id, HumanTask.state == "ready", HumanTask.due_at < end)
            .correlate(Case)
            .exists()
        )
    if filters.cursor:
        at, last_id = decode_cursor(filters.cursor)
        stmt = stmt.where(or_(Case.created_at < at, and_(Case.created_at == at, Case.id < last_id)))
    stmt = stmt.order_by(Case.created_at.desc(), Case.id.desc()).limit(filters.limit + 1)
    rows = [
        CaseRow(case=c, person=p, stage=stage or "", next_due_at=due)
        for c, p, stage, due in session.execute(stmt)
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
