"""The case list page (ケース一覧) and the change of a case's responsible consultant (担当相談支援員の変更).

The list searches what staff have at hand on the phone — the 事例番号 (``R8-00012``), the person's name or
kana — and narrows by org unit, stage, responsible consultant, "in its meeting" and overdue; newest first,
20 a page (cursor). Each row shows the person only as ``sharing.decide`` allows the viewer (the anonymised
summary otherwise), decided for the whole page at once (``information.file_decisions``). Registered on the
cases pages blueprint (``pages.bp``).
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any
from urllib.parse import urlencode

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from ..core.errors import AppError, ValidationFailed
from ..identity import permissions
from ..identity.auth import login_required
from ..identity.models import Membership, User
from ..tenancy.models import OrgUnit
from ..web.i18n import current_language
from ..web.pages import current_actor, in_language, parse_id
from ..web.requests import db
from . import information, numbering, ownership, queries, services
from .pages import _allowed, bp

PAGE_SIZE = 20
STATES = ("open", "closed", "all")


def _visible_units() -> list[OrgUnit]:
    """The org units whose cases the viewer may see (all of them tenant-wide), by code."""
    actor = current_actor()
    stmt = select(OrgUnit).where(OrgUnit.active.is_(True)).order_by(OrgUnit.code)
    if not permissions.is_tenant_wide(actor):
        stmt = stmt.where(OrgUnit.id.in_(sorted(actor.org_unit_ids)))
    return list(db().execute(stmt).scalars())


def consultants(unit_ids: set[uuid.UUID] | None) -> list[tuple[uuid.UUID, str]]:
    """(id, name) of the active users holding ``consultant`` in one of ``unit_ids`` (any unit: ``None``)."""
    rows = db().execute(
        select(User, Membership)
        .join(Membership, (Membership.tenant_id == User.tenant_id) & (Membership.user_id == User.id))
        .where(User.active.is_(True))
        .order_by(User.display_name, User.email)
    )
    found: dict[uuid.UUID, str] = {}
    for user, membership in rows:
        if ownership.OWNER_ROLE in (membership.roles or []) and (
            unit_ids is None or membership.org_unit_id in unit_ids
        ):
            found[user.id] = user.display_name or user.email
    return list(found.items())


def _filters(args: Any, actor: Any, units: list[OrgUnit]) -> tuple[queries.CaseFilters, dict[str, str]]:
    """The filters from the query string (lenient: unknown values fall back, a shared link never breaks)."""
    values = {k: (args.get(k) or "").strip()[:100] for k in ("q", "org_unit", "stage", "responsible")}
    values["state"] = args.get("state") if args.get("state") in STATES else "open"
    values["in_meeting"] = "1" if args.get("in_meeting") == "1" else ""
    values["overdue"] = "1" if args.get("overdue") == "1" else ""
    if values["org_unit"] not in {u.code for u in units}:
        values["org_unit"] = ""
    responsible: uuid.UUID | None = None
    if values["responsible"] == "me":
        responsible = actor.user_id
    elif values["responsible"]:
        try:
            responsible = uuid.UUID(values["responsible"])
        except ValueError:
            values["responsible"] = ""
    q = values["q"]
    number = numbering.normalise_query(q) if q else None
    cursor = (args.get("cursor") or "")[:200] or None
    if cursor:
        try:
            queries.decode_cursor(cursor)
        except ValidationFailed:
            cursor = None
    filters = queries.CaseFilters(
        org_unit=values["org_unit"] or None,
        state=None if values["state"] == "all" else values["state"],
        stage=values["stage"] or None,
        number=number,
        person=q if q and number is None else None,
        responsible=responsible,
        in_meeting=bool(values["in_meeting"]),
        overdue=bool(values["overdue"]),
        limit=PAGE_SIZE,
        cursor=cursor,
    )
    return filters, {k: v for k, v in values.items() if v and not (k == "state" and v == "open")}


@bp.get("/cases")
@login_required
def case_list() -> tuple[str, int]:
    actor = _allowed("case.read")
    session = db()
    units = _visible_units()
    filters, shown = _filters(request.args, actor, units)
    rows, cursor = queries.search_cases(session, actor, filters)
    decisions = information.file_decisions(session, [r.case for r in rows], actor)
    items = [
        {
            "row": r,
            "full": decisions[r.case.id].full,
            "summary": None
            if decisions[r.case.id].full
            else information.list_summary(r.person, r.org_unit_name),
        }
        for r in rows
    ]
    base = url_for("cases.case_list")
    unit_ids = None if permissions.is_tenant_wide(actor) else {u.id for u in units}
    return (
        render_template(
            "cases/list.html",
            items=items,
            total=queries.count_cases(session, actor, dataclasses.replace(filters, cursor=None)),
            values={"state": "open", **shown},
            units=units,
            stages=queries.stage_options(session, actor),
            consultants=consultants(unit_ids),
            next_url=(base + "?" + urlencode({**shown, "cursor": cursor})) if cursor else None,
            first_url=(base + ("?" + urlencode(shown) if shown else "")) if filters.cursor else None,
            actor=actor,
        ),
        200,
    )


@bp.post("/cases/<case_id>/responsible")
@login_required
def change_responsible(case_id: str) -> Any:
    """担当相談支援員の変更 from the case workspace (recorded in the history and the audit trail)."""
    session = db()
    case = services.get_case(session, parse_id(case_id))
    actor = _allowed("case.read", case)
    raw = request.form.get("responsible") or ""
    try:
        user_id = uuid.UUID(raw)
    except ValueError:
        flash(_("Choose the consultant to hand the case to."), "error")
        return redirect(url_for("cases.show", case_id=case.id))
    try:
        with session.begin_nested():
            ownership.change_responsible(session, actor, case, user_id, request.form.get("reason", ""))
    except AppError as exc:
        flash(in_language(exc.message, current_language()), "error")
        return redirect(url_for("cases.show", case_id=case.id))
    flash(_("Changed the case's consultant."), "success")
    return redirect(url_for("cases.show", case_id=case.id))
