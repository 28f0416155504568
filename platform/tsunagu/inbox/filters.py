"""Inbox filters, sorting, paging, counts and saved views, built on :func:`services.task_query`.

The query string of the inbox page *is* the filter: ``?scope=role&due=overdue&q=ヤマダ&sort=due``. A saved
view stores that dict on the server (``SavedView.filters``) so it can be reused and shared in the tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select

from ..cases.services import Case, HumanTask, person_search
from ..core.db import utcnow
from ..core.errors import Forbidden, NotFound, ValidationFailed
from ..core.session import TenantSession
from ..identity.permissions import authorize
from ..identity.services import Principal
from .models import SavedView
from .services import task_query

SCOPES = ("mine", "role", "all")
DUE = ("", "overdue", "soon", "none")
SORTS = {
    "due": HumanTask.due_at,
    "created": HumanTask.created_at,
    "priority": HumanTask.priority,
    "updated": HumanTask.updated_at,
}
ORDERS = ("asc", "desc")
DUE_SOON_DAYS = 3
PAGE_SIZE = 20
MAX_VIEW_NAME = 100


@dataclass(frozen=True)
class InboxFilters:
    scope: str = "mine"  # mine: assigned to me; role: unclaimed for my roles in my units; all: all I may see
    due: str = ""  # overdue | soon (within DUE_SOON_DAYS) | none (no due date)
    step: str = ""  # BPMN element id (process step)
    case: str = ""  # case id
    org_unit: str = ""  # org unit id
    q: str = ""  # person name or kana, partial match
    sort: str = "due"
    order: str = "asc"

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> InboxFilters:
        """Lenient: unknown or malformed values fall back to the defaults (a shared link never breaks)."""

        def pick(name: str, allowed: tuple[str, ...] | None = None, limit: int = 100) -> str:
            value = raw.get(name)
            text = value.strip()[:limit] if isinstance(value, str) else ""
            if allowed is not None and text not in allowed:
                return str(getattr(cls, name))
            return text

        def ident(name: str) -> str:
            value = pick(name)
            try:
                return str(uuid.UUID(value)) if value else ""
            except ValueError:
                return ""

        return cls(
            scope=pick("scope", SCOPES),
            due=pick("due", DUE),
            step=pick("step", limit=200),
            case=ident("case"),
            org_unit=ident("org_unit"),
            q=pick("q"),
            sort=pick("sort", tuple(SORTS)),
            order=pick("order", ORDERS),
        )

    def to_dict(self) -> dict[str, str]:
        """Only the values that differ from the defaults, for URLs and saved views."""
        defaults = InboxFilters()
        return {k: v for k, v in asdict(self).items() if v != getattr(defaults, k)}

    def with_(self, **changes: str) -> InboxFilters:
        return replace(self, **changes)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filtered_query(actor: Principal, filters: InboxFilters) -> Select[Any]:
    stmt = task_query(actor, filters.scope, "ready")
    now = utcnow()
    if filters.due == "overdue":
        stmt = stmt.where(HumanTask.due_at < now)
    elif filters.due == "soon":
        stmt = stmt.where(HumanTask.due_at >= now, HumanTask.due_at < now + timedelta(days=DUE_SOON_DAYS))
    elif filters.due == "none":
        stmt = stmt.where(HumanTask.due_at.is_(None))
    if filters.step:
        stmt = stmt.where(HumanTask.element == filters.step)
    if filters.case:
        stmt = stmt.where(HumanTask.case_id == uuid.UUID(filters.case))
    if filters.org_unit:
        stmt = stmt.where(HumanTask.org_unit_id == uuid.UUID(filters.org_unit))
    if filters.q:
        # the person's name and kana are sealed (issue #16): prefixes through the blind index
        people = person_search(actor.tenant_id, filters.q)
        stmt = stmt.where(HumanTask.case_id.in_(select(Case.id).where(Case.person_id.in_(people))))
    column = SORTS[filters.sort]
    primary = column.desc() if filters.order == "desc" else column.asc()
    return stmt.order_by(None).order_by(primary.nulls_last(), HumanTask.created_at, HumanTask.id)


def count(session: TenantSession, actor: Principal, filters: InboxFilters) -> int:
    sub = filtered_query(actor, filters).order_by(None).subquery()
    return int(session.execute(select(func.count()).select_from(sub)).scalar_one())


@dataclass(frozen=True)
class Page:
    tasks: list[HumanTask]
    total: int
    page: int
    pages: int


def page_of(session: TenantSession, actor: Principal, filters: InboxFilters, page: int) -> Page:
    total = count(session, actor, filters)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    stmt = filtered_query(actor, filters).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    return Page(tasks=list(session.execute(stmt).scalars()), total=total, page=page, pages=pages)


#: built-in views: (key, filters); their labels live in the template so they can be translated
BUILTIN_VIEWS: tuple[tuple[str, InboxFilters], ...] = (
    ("mine", InboxFilters(scope="mine")),
    ("role", InboxFilters(scope="role")),
    ("overdue", InboxFilters(scope="all", due="overdue")),
    ("soon", InboxFilters(scope="all", due="soon")),
)


def step_options(session: TenantSession, actor: Principal) -> list[tuple[str, str]]:
    """(element id, title) of the process steps among the ready tasks the actor may see."""
    stmt = (
        task_query(actor, "all", "ready")
        .order_by(None)
        .with_only_columns(HumanTask.element, HumanTask.title)
        .distinct()
    )
    rows = session.execute(stmt).all()
    return sorted({(r[0], r[1]) for r in rows}, key=lambda r: r[1])


# ---- saved views ----------------------------------------------------------------------------------------
def visible_views(session: TenantSession, actor: Principal) -> list[SavedView]:
    stmt = (
        select(SavedView)
        .where(or_(SavedView.owner_id == actor.user_id, SavedView.shared.is_(True)))
        .order_by(SavedView.name, SavedView.id)
    )
    return list(session.execute(stmt).scalars())


def get_view(session: TenantSession, actor: Principal, view_id: uuid.UUID) -> SavedView:
    view = session.get(SavedView, (session.require_tenant_id(), view_id))
    if view is None or not (view.shared or view.owner_id == actor.user_id):
        raise NotFound("保存したビューが見つかりません / saved view not found")
    return view


def save_view(
    session: TenantSession, actor: Principal, name: str, filters: InboxFilters, *, shared: bool
) -> SavedView:
    """Create a view, or update the actor's own view of the same name."""
    name = name.strip()
    if not name or len(name) > MAX_VIEW_NAME:
        raise ValidationFailed(
            "ビュー名は1〜100文字です / the view name must be 1 to 100 characters",
            details={"name": [f"1〜{MAX_VIEW_NAME}文字で入力してください"]},
        )
    existing = session.execute(
        select(SavedView).where(SavedView.owner_id == actor.user_id, SavedView.name == name)
    ).scalar_one_or_none()
    if shared or (existing is not None and existing.shared):
        authorize(actor, "saved_view.share")  # creating, changing or unsharing a tenant-wide view
    if existing is None:
        existing = SavedView(tenant_id=session.require_tenant_id(), owner_id=actor.user_id, name=name)
        session.add(existing)
    existing.filters = filters.to_dict()
    existing.shared = shared
    existing.updated_at = utcnow()
    session.flush()
    return existing


def delete_view(session: TenantSession, actor: Principal, view_id: uuid.UUID) -> None:
    view = get_view(session, actor, view_id)
    if view.owner_id != actor.user_id and not actor.is_admin:
        raise Forbidden("自分のビューのみ削除できます / only the owner can delete a view")
    if view.shared:
        authorize(actor, "saved_view.share")
    session.delete(view)
    session.flush()


def filters_of(view: SavedView) -> InboxFilters:
    return InboxFilters.from_mapping(view.filters or {})


FILTER_FIELDS = tuple(f.name for f in fields(InboxFilters))
