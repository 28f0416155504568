"""What the designers edit and how a draft becomes the next version (下書き → 検証 → 差分 → 配備).

A draft is one file of the tenant's latest deployment (``engine.models.Deployment``), edited in the browser.
Validating it runs the server's own check (``engine.validation.validate_bundle``) on the latest deployment's
files with the draft in place of the file; deploying stores those files as the next version
(``engine.definitions.deploy``), with a required change note. Before a tenant's first deployment the
standard library (``workflows/``) is the base, shown as version 0. Running cases keep their version.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ...cases.services import LANE_ROLES
from ...core.errors import Conflict, NotFound, ValidationFailed
from ...core.session import TenantSession
from ...engine.operations import OPERATIONS
from ...engine.policy import BPMN_NS, expression_problems
from ...engine.services import (
    DefinitionError,
    Deployment,
    Problem,
    deploy,
    lock_deployments,
    parse_xml,
    read_library,
    validate_bundle,
)
from ...engine.spiff import DEFAULT_ALIASES
from ...forms.schema import FormSchema, FormSchemaError, load_form
from ...identity.models import ROLE_LABELS_JA, Role

KINDS = {".bpmn": "bpmn", ".dmn": "dmn", ".form": "form"}
NOTE_MAX = 500

#: Information categories of a form field (``properties.category``), used by the sharing rules.
FIELD_CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("general", "一般", "General"),
    ("sensitive", "要配慮", "Sensitive (要配慮個人情報)"),
    ("tax", "税情報", "Tax information"),
    ("household", "世帯", "Household"),
)

#: Expression positions the as-you-type check knows (the BPMN element the text sits in).
EXPRESSION_KINDS = frozenset(
    {"formalExpression", "conditionExpression", "timeDuration", "timeDate", "timeCycle"}
)


@dataclass(frozen=True)
class Base:
    """The files a draft starts from: the latest deployment, or the library before the first one."""

    version: int  # 0: the standard library, not deployed yet
    files: Mapping[str, str]
    note: str = ""


def current_base(session: TenantSession, workflows_dir: Path) -> Base:
    latest = session.execute(
        select(Deployment).order_by(Deployment.version.desc()).limit(1)
    ).scalar_one_or_none()
    if latest is None:
        return Base(0, read_library(workflows_dir), "standard library")
    return Base(latest.version, dict(latest.files), latest.note)


def deployments(session: TenantSession, limit: int = 20) -> list[Deployment]:
    return list(
        session.execute(select(Deployment).order_by(Deployment.version.desc()).limit(limit)).scalars()
    )


def kind_of(name: str) -> str:
    kind = KINDS.get(PurePosixPath(name).suffix)
    if kind is None:
        raise NotFound("このファイルは編集できません / this file cannot be edited in a designer")
    return kind


def file_of(base: Base, name: str) -> str:
    kind_of(name)
    if name not in base.files:
        raise NotFound(f"ファイル {name} はありません / file {name} is not in version {base.version}")
    return base.files[name]


def files_by_kind(base: Base) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {"bpmn": [], "dmn": [], "form": []}
    for name in sorted(base.files):
        kind = KINDS.get(PurePosixPath(name).suffix)
        if kind:
            grouped[kind].append(name)
    return grouped


def _ids(base: Base, suffix: str, local_name: str, attribute: str = "id") -> list[str]:
    found: set[str] = set()
    for name, body in base.files.items():
        if not name.endswith(suffix):
            continue
        try:
            root = parse_xml(body.encode("utf-8"), filename=name)
        except DefinitionError:
            continue  # a broken file cannot have been deployed; the library is checked by its tests
        for element in root.iter():
            if isinstance(element.tag, str) and etree.QName(element).localname == local_name:
                value = element.get(attribute)
                if value:
                    found.add(value)
    return sorted(found)


def designer_data(base: Base, name: str) -> dict[str, Any]:
    """The JSON the page embeds for its bundle: the file, and what the engine accepts in it."""
    others = Base(base.version, {k: v for k, v in base.files.items() if k != name})
    return {
        "kind": kind_of(name),
        "file": name,
        "version": base.version,
        "source": file_of(base, name),
        "operations": [
            {
                "name": op.name,
                "description": op.description,
                "params": [
                    {"name": p.name, "type": p.type, "required": p.required, "description": p.description}
                    for p in op.params
                ],
            }
            for op in OPERATIONS.values()
        ],
        "roles": [{"key": role.value, "label": ROLE_LABELS_JA[role]} for role in Role],
        "forms": sorted({PurePosixPath(n).stem for n in base.files if n.endswith(".form")}),
        "decisions": _ids(base, ".dmn", "decision"),
        "processes": _ids(others, ".bpmn", "process"),
        "aliases": sorted(DEFAULT_ALIASES),
        "messages": _ids(base, ".bpmn", "message", "name"),
        "categories": [{"key": k, "ja": ja, "en": en} for k, ja, en in FIELD_CATEGORIES],
    }


def _form_problem(name: str, content: str) -> Problem | None:
    """The engine checks a form is JSON; the task page also needs components the server can render."""
    try:
        load_form(json.loads(content))
    except (FormSchemaError, ValueError) as exc:
        return Problem(name, None, None, f"フォームを使えません: {exc} / the form cannot be used: {exc}")
    return None


def validate_draft(base: Base, name: str, content: str) -> list[Problem]:
    """Every problem the deploy would refuse, for the base's files with ``content`` as ``name``."""
    file_of(base, name)
    files = dict(base.files)
    files[name] = content
    problems = validate_bundle({k: v.encode("utf-8") for k, v in files.items()}, lanes=LANE_ROLES)
    if name.endswith(".form") and not any(p.file == name for p in problems):
        problem = _form_problem(name, content)
        if problem is not None:
            problems.append(problem)
    return problems


def check_expression(text: str, kind: str = "formalExpression") -> str | None:
    """The server's message for one expression in a designer field, or ``None`` when it is accepted.

    The text is checked exactly as the deploy checks it (``engine.policy.expression_problems``, which also
    knows the timer rules), by placing it in an element of that kind.
    """
    element = etree.Element(f"{{{BPMN_NS}}}{kind if kind in EXPRESSION_KINDS else 'formalExpression'}")
    element.text = text
    problems = expression_problems(element, "expression")
    return problems[0].message if problems else None


def deploy_draft(
    session: TenantSession,
    base: Base,
    name: str,
    content: str,
    *,
    note: str,
    base_version: int,
    user_id: uuid.UUID,
) -> Deployment:
    """Store the base's files with the draft as the next version; refuses a stale base or a missing note."""
    note = note.strip()
    if not note:
        raise ValidationFailed(
            "変更内容のメモを入力してください / a change note is required",
            details={"note": ["変更内容のメモを入力してください / a change note is required"]},
        )
    if len(note) > NOTE_MAX:
        raise ValidationFailed(
            f"メモは {NOTE_MAX} 文字以内です / the note is limited to {NOTE_MAX} characters",
            details={"note": [f"{NOTE_MAX} 文字以内 / at most {NOTE_MAX} characters"]},
        )
    lock_deployments(session)  # the latest version cannot move between this check and the deploy
    latest = session.execute(select(func.max(Deployment.version))).scalar_one_or_none() or 0
    if base_version != base.version or latest != base.version:
        raise Conflict(
            f"この間にバージョン {latest} が配備されました。最新を開き直してください / version "
            f"{latest} was deployed meanwhile; reopen the designer to edit the latest"
        )
    problems = validate_draft(base, name, content)
    if problems:
        raise DefinitionError(problems)
    try:
        return deploy(
            session,
            {name: content},
            lanes=LANE_ROLES,
            source="designer",
            note=note,
            created_by=user_id,
            base_files=dict(base.files),
        )
    except IntegrityError:
        # Two administrators deploying at once collide on (tenant, version). The request wrote nothing else,
        # so roll it back (the session stays usable for the error page) and tell the loser to reopen.
        session.rollback()
        raise Conflict(
            "同時に別の配備が行われました。最新を開き直してください / another deployment happened at the "
            "same time; reopen the designer to edit the latest"
        ) from None


def preview_schema(raw: Any) -> FormSchema:
    """The form-js schema the form designer sends for its preview, or ``ValidationFailed``."""
    try:
        return load_form(raw if isinstance(raw, Mapping) else json.loads(str(raw)))
    except (FormSchemaError, ValueError) as exc:
        raise ValidationFailed(f"フォームを表示できません: {exc} / the form cannot be shown: {exc}") from None
