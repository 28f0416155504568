"""Deployments: the library in ``workflows/`` and tenant uploads, versioned per tenant, parsed once per process."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from ..core.errors import NotFound
from ..core.session import TenantSession
from .errors import DefinitionError
from .lanes import LaneRoles
from .models import Deployment

DEFINITION_SUFFIXES = (".bpmn", ".dmn", ".form")


#: ``<library>/tenants/<slug>/...``: a tenant's own versions of library files (e.g. its routing table)
TENANT_OVERRIDES = "tenants"


def read_library(root: Path, tenant: str | None = None) -> dict[str, str]:
    """Every definition file under ``root`` as ``{"casework/casework.bpmn": text}``; with ``tenant``, its
    overrides under ``root/tenants/<tenant>/`` replace the files of the same path."""
    files: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts and relative.parts[0] == TENANT_OVERRIDES:
            continue
        if path.is_file() and path.suffix in DEFINITION_SUFFIXES:
            files[relative.as_posix()] = path.read_text(encoding="utf-8")
    own = (
        root / TENANT_OVERRIDES / tenant
        if tenant and "/" not in tenant and tenant not in (".", "..")
        else None
    )
    if own is not None and own.is_dir():
        for path in sorted(own.rglob("*")):
            key = path.relative_to(own).as_posix()
            if path.is_file() and path.suffix in DEFINITION_SUFFIXES and key in files:
                files[key] = path.read_text(encoding="utf-8")
    return files


@dataclass(frozen=True)
class LoadedDeployment:
    """A parsed deployment: Spiff specs per process id and the forms by key."""

    id: uuid.UUID
    version: int
    bundle: Any  # tsunagu.engine.spiff.ParsedBundle
    forms: dict[str, dict[str, Any]]


_cache: OrderedDict[tuple[uuid.UUID, uuid.UUID], LoadedDeployment] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 256


def _forms_of(files: dict[str, str]) -> dict[str, dict[str, Any]]:
    import json

    forms: dict[str, dict[str, Any]] = {}
    for name, body in files.items():
        if name.endswith(".form"):
            forms[Path(name).stem] = json.loads(body)
    return forms


def parse_files(files: dict[str, str]) -> Any:
    from .spiff import load_definitions

    return load_definitions(
        {name: text.encode("utf-8") for name, text in files.items() if not name.endswith(".form")}
    )


def load_deployment(session: TenantSession, deployment_id: uuid.UUID) -> LoadedDeployment:
    tenant_id = session.require_tenant_id()
    key = (tenant_id, deployment_id)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    row = session.get(Deployment, (tenant_id, deployment_id))
    if row is None:
        raise NotFound("定義のバージョンが見つかりません / deployment not found")
    loaded = LoadedDeployment(
        id=row.id, version=row.version, bundle=parse_files(row.files), forms=_forms_of(row.files)
    )
    with _cache_lock:
        _cache[key] = loaded
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return loaded


def latest_deployment_for(session: TenantSession, process_id: str) -> Deployment | None:
    rows = session.execute(select(Deployment).order_by(Deployment.version.desc())).scalars()
    for row in rows:
        if process_id in row.process_ids:
            return row
    return None


def lock_deployments(session: TenantSession) -> None:
    """One deployment per tenant at a time: a transaction-scoped advisory lock (PostgreSQL), held until the
    caller commits, so a second deploy waits and then sees the version the first stored. SQLite (the demo)
    has a single writer. Taken by :func:`deploy` itself; callers that check the latest version before
    deploying take it first (it is re-entrant within a transaction)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('tsunagu.deploy.' || :t))"),
            {"t": str(session.require_tenant_id())},
        )


def deploy(
    session: TenantSession,
    files: dict[str, str],
    *,
    lanes: LaneRoles,
    source: str,
    note: str = "",
    created_by: uuid.UUID | None = None,
    base_files: dict[str, str] | None = None,
) -> Deployment:
    """Validate and store a new version. Invalid bundles raise :class:`DefinitionError` and store nothing.

    ``base_files`` are the files of the previous version the upload does not replace (an upload of one
    BPMN file keeps the other definitions and the forms of the latest deployment).
    """
    from .validation import validate_bundle

    all_files = dict(base_files or {})
    all_files.update(files)
    problems = validate_bundle({k: v.encode("utf-8") for k, v in all_files.items()}, lanes=lanes)
    if problems:
        raise DefinitionError(problems)
    bundle = parse_files(all_files)
    tenant_id = session.require_tenant_id()
    lock_deployments(session)
    current = session.execute(select(func.max(Deployment.version))).scalar_one_or_none() or 0
    row = Deployment(
        tenant_id=tenant_id,
        version=current + 1,
        source=source,
        files=all_files,
        process_ids=sorted(bundle.specs),
        note=note,
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row


def ensure_library_deployed(
    session: TenantSession, library_root: Path, lanes: LaneRoles, tenant: str | None = None
) -> Deployment:
    """A tenant starts from the standard library: deploy it as version 1 the first time it is needed.

    Concurrent first cases of a new tenant serialize on a transaction-scoped advisory lock (PostgreSQL), so
    the library is deployed once and neither request fails on the version's unique constraint.
    """
    lock_deployments(session)
    existing = session.execute(
        select(Deployment).order_by(Deployment.version.desc()).limit(1)
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    files = read_library(library_root, tenant)
    own = files != read_library(library_root)
    note = f"standard library with {tenant}'s own files" if own else "standard library"
    return deploy(session, files, lanes=lanes, source="library", note=note)
