"""本人情報 on a form: the person's name, kana and birth date edited on a case's task update ``Person``.

``Person`` is the one source of truth for who the case is about: the case header, the task page, the inbox
and the case list all show it. A form whose fields are keyed ``name``, ``name_kana`` and ``birth_date`` (the
standard intake form, 相談受付・申込票) carries the person's own details; when a completed submission
differs from the person, the person is updated in the same transaction, the case's task rows (the inbox's
copy of the name) follow, and the case history says which fields changed (not their values).

The same rules as at case creation apply (``inputs``: one line, the length limits, a birth date between 1900
and today); a value that breaks them is a 422 on that field, before anything changes.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date
from typing import Any

from sqlalchemy import update

from ..core.db import utcnow
from ..core.errors import ValidationFailed
from ..core.session import TenantSession
from .inputs import parse_person
from .models import HumanTask
from .projection import TaskContext
from .tasks import LockedTask

#: form field key → Person attribute
PERSON_FIELDS = {"name": "name", "name_kana": "name_kana", "birth_date": "birth_date"}


def apply_submission(
    session: TenantSession,
    locked: LockedTask,
    cleaned: dict[str, Any],
    ctx: TaskContext,
    actor_id: uuid.UUID | None,
) -> TaskContext:
    """Update the person from ``cleaned`` where it carries person fields; returns the context new tasks get."""
    person, case = locked.person, locked.case
    if person is None or case is None or not any(k in cleaned for k in PERSON_FIELDS):
        return ctx
    current = {
        "name": person.name,
        "name_kana": person.name_kana,
        "birth_date": person.birth_date.isoformat() if person.birth_date else None,
    }
    wanted = dict(current)
    for key in PERSON_FIELDS:
        if key in cleaned and cleaned[key] not in (None, ""):
            value = cleaned[key]
            wanted[key] = value.isoformat() if isinstance(value, date) else value
    changed = sorted(k for k in PERSON_FIELDS if wanted[k] != current[k])
    if not changed:
        return ctx
    try:
        parsed = parse_person(wanted)
    except ValidationFailed as exc:
        raise ValidationFailed(
            "入力内容に誤りがあります / the data does not fit",
            details={k.removeprefix("person."): v for k, v in exc.details.items()},
        ) from None
    person.name, person.name_kana, person.birth_date = parsed.name, parsed.name_kana, parsed.birth_date
    if "name" in changed or "name_kana" in changed:
        session.execute(
            update(HumanTask)
            .where(HumanTask.case_id == case.id)
            .values(person_name=parsed.name, person_kana=parsed.name_kana, updated_at=utcnow())
            .execution_options(synchronize_session="evaluate")
        )
    from .advance import record_event

    record_event(
        session,
        case.id,
        "person_updated",
        title="本人情報の更新",
        actor_id=actor_id,
        details={"fields": changed},
    )
    return dataclasses.replace(ctx, person_name=parsed.name, person_kana=parsed.name_kana)
