"""HTML pages of the inbox (受信箱) and the task page. Endpoints: ``inbox.index``, ``inbox.task``, ...

Thin views: parse the request, call :mod:`tsunagu.inbox.services` / :mod:`tsunagu.inbox.filters` — the same
services the JSON API uses — and render. Every page works without JavaScript; htmx only refreshes the list.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from ..cases import services as cases
from ..cases.models import Case, HumanTask, Person
from ..core.errors import AppError, Conflict, Forbidden, ValidationFailed
from ..identity import permissions
from ..identity.auth import login_required
from ..identity.models import Membership, User
from ..tenancy.models import OrgUnit
from ..web.i18n import current_language
from ..web.labels import ROLE_LABELS
from ..web.pages import current_actor, in_language, parse_id, tenant_pages
from ..web.paths import safe_tenant_path
from ..web.requests import db
from . import filters as inbox_filters
from . import services

bp = tenant_pages("inbox", __name__)


# ---- helpers ---------------------------------------------------------------------------------------------
def _safe_next(default: str) -> str:
    """Where to go after a POST: a path inside this tenant only (no open redirects)."""
    return safe_tenant_path(request.form.get("next"), g.tenant.slug) or default  # issue #10: no CR/LF


def _current_filters() -> tuple[inbox_filters.InboxFilters, Any]:
    session = db()
    actor = current_actor()
    view = None
    if request.args.get("view"):
        view = inbox_filters.get_view(session, actor, parse_id(request.args.get("view")))
        return inbox_filters.filters_of(view), view
    return inbox_filters.InboxFilters.from_mapping(request.args), None


def _inbox_url(filters: inbox_filters.InboxFilters, **extra: str) -> str:
    args = {**filters.to_dict(), **extra}
    base = url_for("inbox.index")
    return base + ("?" + urlencode(args) if args else "")


def _assignable_users() -> list[tuple[uuid.UUID, str, str]]:
    """(id, name, roles) of active users holding a role that can work tasks."""
    session = db()
    rows = session.execute(
        select(User, Membership)
        .join(Membership, (Membership.tenant_id == User.tenant_id) & (Membership.user_id == User.id))
        .where(User.active.is_(True))
        .order_by(User.display_name, User.email)
    ).all()
    people: dict[uuid.UUID, tuple[str, set[str]]] = {}
    for user, membership in rows:
        roles = {r for r in (membership.roles or []) if r != "auditor"}
        if not roles:
            continue
        _label, held = people.setdefault(user.id, (user.display_name or user.email, set()))
        held.update(roles)
    return [
        (uid, name, "・".join(str(ROLE_LABELS.get(r, r)) for r in sorted(roles)))
        for uid, (name, roles) in people.items()
    ]


def _names(ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    from ..identity.services import display_names as user_names

    return user_names(db(), ids)


def _list_context(filters: inbox_filters.InboxFilters, view: Any) -> dict[str, Any]:
    session = db()
    actor = current_actor()
    try:
        page_number = max(int(request.args.get("page", "1")), 1)
    except ValueError:
        page_number = 1
    page = inbox_filters.page_of(session, actor, filters, page_number)
    builtin = [
        (key, f, inbox_filters.count(session, actor, f), _inbox_url(f))
        for key, f in inbox_filters.BUILTIN_VIEWS
    ]
    saved = [
        (
            v,
            inbox_filters.count(session, actor, inbox_filters.filters_of(v)),
            _inbox_url(inbox_filters.InboxFilters(), view=str(v.id)),
        )
        for v in inbox_filters.visible_views(session, actor)
    ]
    extra = {"view": str(view.id)} if view is not None else {}
    list_args = {**filters.to_dict(), **extra}
    if page.page > 1:
        list_args["page"] = str(page.page)
    return {
        "filters": filters,
        "view": view,
        "page": page,
        "builtin_views": builtin,
        "saved_views": saved,
        "assignees": _names({t.assignee_id for t in page.tasks if t.assignee_id}),
        "case_numbers": cases.numbers_of(session, {t.case_id for t in page.tasks if t.case_id}),
        "actor": actor,
        "list_url": url_for("inbox.list_fragment") + ("?" + urlencode(list_args) if list_args else ""),
        "self_url": _inbox_url(filters, **extra),
        "page_url": lambda n: _inbox_url(filters, **extra, page=str(n)),
        "sort_url": lambda key: _inbox_url(
            filters.with_(
                sort=key, order="desc" if filters.sort == key and filters.order == "asc" else "asc"
            ),
            **extra,
        ),
    }


# ---- the inbox -------------------------------------------------------------------------------------------
@bp.get("/inbox")
@login_required
def index() -> str:
    filters, view = _current_filters()
    session = db()
    actor = current_actor()
    context = _list_context(filters, view)
    context.update(
        steps=inbox_filters.step_options(session, actor),
        org_units=list(
            session.execute(select(OrgUnit).where(OrgUnit.active.is_(True)).order_by(OrgUnit.code)).scalars()
        ),
        users=_assignable_users(),
        due_soon_days=inbox_filters.DUE_SOON_DAYS,
        panels=services.panels(session, actor),  # e.g. referrals waiting to be accepted (issue #20)
    )
    return render_template("inbox/index.html", **context)


@bp.get("/inbox/list")
@login_required
def list_fragment() -> str:
    """The task list alone, for htmx's periodic refresh (and the view counts, swapped out of band)."""
    filters, view = _current_filters()
    context = _list_context(filters, view)
    context["users"] = _assignable_users()
    return render_template("inbox/_list.html", oob=True, **context)


def _task_ids() -> list[uuid.UUID]:
    if request.form.get("one"):  # a row's own button: that task only, whatever else is ticked
        return [parse_id(request.form["one"])]
    ids = [parse_id(v) for v in request.form.getlist("task")]
    if not ids:
        raise ValidationFailed(_("Select at least one task."))
    return ids


def _run_each(ids: list[uuid.UUID], command: Any) -> tuple[int, list[str]]:
    """Apply ``command`` to each task in its own savepoint, so one conflict does not undo the others."""
    session = db()
    done, problems = 0, []
    for task_id in ids:
        try:
            with session.begin_nested():
                command(task_id)
            done += 1
        except AppError as exc:
            problems.append(in_language(exc.message, current_language()))
    return done, problems


def _bulk(command: Callable[[uuid.UUID], Any], success: Callable[[int], str]) -> Response:
    """Run ``command`` on every ticked task, flash what happened, and go back to the inbox."""
    done, problems = _run_each(_task_ids(), command)
    if done:
        flash(success(done), "success")
    for problem in problems:
        flash(problem, "error")
    return redirect(_safe_next(url_for("inbox.index")))


@bp.post("/inbox/claim")
@login_required
def claim() -> Response:
    actor = current_actor()
    return _bulk(
        lambda tid: services.claim_task(db(), actor, tid), lambda n: _("Claimed %(n)d task(s).", n=n)
    )


@bp.post("/inbox/unclaim")
@login_required
def unclaim() -> Response:
    actor = current_actor()
    return _bulk(
        lambda tid: services.unclaim_task(db(), actor, tid), lambda n: _("Released %(n)d task(s).", n=n)
    )


@bp.post("/inbox/assign")
@login_required
def assign() -> Response:
    actor = current_actor()
    raw = request.form.get("assignee") or ""
    if not raw:
        flash(_("Choose the person to hand the tasks to."), "error")
        return redirect(_safe_next(url_for("inbox.index")))
    assignee = parse_id(raw)
    done, problems = _run_each(_task_ids(), lambda tid: services.assign_task(db(), actor, tid, assignee))
    if done:
        flash(_("Reassigned %(n)d task(s).", n=done), "success")
    for problem in problems:
        flash(problem, "error")
    return redirect(_safe_next(url_for("inbox.index")))


@bp.post("/inbox/views")
@login_required
def save_view() -> Response:
    actor = current_actor()
    filters = inbox_filters.InboxFilters.from_mapping(request.form)
    try:
        view = inbox_filters.save_view(
            db(), actor, request.form.get("name", ""), filters, shared=request.form.get("shared") == "true"
        )
    except ValidationFailed:
        flash(_("Give the view a name (up to 100 characters)."), "error")
        return redirect(_inbox_url(filters))
    flash(_("Saved the view “%(name)s”.", name=view.name), "success")
    return redirect(_inbox_url(inbox_filters.InboxFilters(), view=str(view.id)))


@bp.post("/inbox/views/<view_id>/delete")
@login_required
def delete_view(view_id: str) -> Response:
    inbox_filters.delete_view(db(), current_actor(), parse_id(view_id))
    flash(_("Deleted the view."), "success")
    return redirect(url_for("inbox.index"))


# ---- the task page -----------------------------------------------------------------------------------------
def _form_schema(task: HumanTask) -> Any:
    from ..engine import services as engine
    from ..forms.schema import load_form

    if not task.form_key:
        return None
    instance = engine.get_instance(db(), task.process_instance_id)
    if instance is None:
        return None
    raw = engine.form_schema(db(), instance.deployment_id, task.form_key)
    return load_form(raw) if raw else None


def _prefill(task: HumanTask) -> dict[str, Any]:
    """Start values: the draft if there is one, else what the case already knows (the person, the referral)."""
    if task.draft:
        return dict(task.draft)
    from ..core.db import utcnow
    from ..web.dates import to_local_date

    # 受付日 and the like: today in Japan unless something else is known (the form ignores unknown keys)
    values: dict[str, Any] = {"reception_date": to_local_date(utcnow()).isoformat()}  # type: ignore[union-attr]
    if task.case_id is None:
        return values
    case = db().get(Case, (task.tenant_id, task.case_id))
    person = db().get(Person, (task.tenant_id, case.person_id)) if case else None
    if person is not None:
        values.update(
            name=person.name,
            name_kana=person.name_kana,
            birth_date=person.birth_date.isoformat() if person.birth_date else "",
        )
    if case is not None and case.referral:
        values.update(contact_route="referral", referral_source=str(case.referral.get("source_agency", "")))
    return values


def _render_task(
    task: HumanTask,
    values: dict[str, Any],
    errors: dict[str, list[str]] | None = None,
    conflict: str | None = None,
    status: int = 200,
    failure: str | None = None,
) -> tuple[str, int]:
    from ..forms.render import render_form

    schema = _form_schema(task)
    rendered = render_form(schema, values, errors) if schema is not None else None
    case = db().get(Case, (task.tenant_id, task.case_id)) if task.case_id else None
    names = _names({i for i in (task.assignee_id, task.completed_by) if i})
    return (
        render_template(
            "inbox/task.html",
            task=task,
            case=case,
            form=rendered,
            conflict=conflict,
            failure=failure,
            actor=current_actor(),
            names=names,
            users=_assignable_users(),
            role_label=ROLE_LABELS.get(task.role, task.role),
            # an auditor (read only) or another role sees no claim, reassign or complete controls
            can_act=permissions.can(current_actor(), "task.act", task),
        ),
        status,
    )


@bp.get("/tasks/<task_id>")
@login_required
def task(task_id: str) -> tuple[str, int]:
    found = services.get_task(db(), current_actor(), parse_id(task_id))
    return _render_task(found, _prefill(found))


@bp.post("/tasks/<task_id>")
@login_required
def submit_task(task_id: str) -> Any:
    from ..forms.render import parse_submission
    from ..forms.validation import validate_submission

    session = db()
    actor = current_actor()
    found = services.get_task(session, actor, parse_id(task_id))
    schema = _form_schema(found)
    data = parse_submission(schema, request.form) if schema is not None else {}
    action = request.form.get("action", "complete")
    try:
        if action == "draft":
            services.save_draft(session, actor, found.id, data)
            flash(_("Saved a draft. You can come back to it later."), "success")
            return redirect(url_for("inbox.task", task_id=found.id))
        cases.complete_task(session, actor, found.id, data)
    except cases.WorkflowFailed as exc:
        session.rollback()
        fresh = services.get_task(session, actor, found.id)
        return _render_task(fresh, data, failure=in_language(exc.message, current_language()), status=422)
    except ValidationFailed as exc:
        errors = exc.details
        if schema is not None and current_language() != "ja":
            _cleaned, errors = validate_submission(schema, data, lang=current_language())
        return _render_task(found, data, errors=errors, status=422)
    except Forbidden as exc:
        # e.g. an auditor's stale tab: refused, and what was typed stays on the page
        session.rollback()
        return _render_task(found, data, conflict=in_language(exc.message, current_language()), status=403)
    except Conflict:
        session.rollback()
        fresh = services.get_task(session, actor, found.id)
        message = (
            _("Someone else completed this task while you were working on it.")
            if fresh.state != "ready"
            else _("Someone else has claimed this task.")
        )
        return _render_task(fresh, data, conflict=message, status=409)
    flash(_("Completed “%(title)s”.", title=found.title), "success")
    # The work follows the case: its next step, when it is this user's (the responsible consultant's lane),
    # opens at once; otherwise their inbox.
    if found.case_id is not None:
        following = cases.next_task_for(session, actor, found.case_id)
        if following is not None:
            return redirect(url_for("inbox.task", task_id=following.id))
    return redirect(url_for("inbox.index"))
