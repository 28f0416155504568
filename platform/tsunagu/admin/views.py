"""JSON API for definitions: list deployments, read a version and its files, deploy a new version.

A screen over the engine, so it lives above it: the engine knows no view.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, request
from pydantic import BaseModel
from sqlalchemy import select

from ..audit import services as audit
from ..cases.services import LANE_ROLES
from ..core.errors import NotFound, ValidationFailed
from ..engine.services import DEFINITION_SUFFIXES, DefinitionError, Deployment, deploy, latest_deployment
from ..web.api import operation
from ..web.blueprints import api_bp, require_permission
from ..web.etag import respond
from ..web.requests import db

_TAGS = ["definitions"]


class DeploymentOut(BaseModel):
    id: str
    version: int
    source: str
    process_ids: list[str]
    files: list[str]
    note: str
    created_at: str


_UPLOAD = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["files"],
                "properties": {
                    "files": {
                        "type": "array",
                        "items": {"type": "string", "contentMediaType": "application/octet-stream"},
                        "description": ".bpmn, .dmn and .form files (UTF-8), named by their path in the bundle",
                    },
                    "note": {"type": "string", "maxLength": 500, "description": "change note"},
                },
            }
        }
    },
}


def _deployment_json(row: Deployment) -> dict[str, Any]:
    return DeploymentOut(
        id=str(row.id),
        version=row.version,
        source=row.source,
        process_ids=list(row.process_ids),
        files=sorted(row.files),
        note=row.note,
        created_at=row.created_at.isoformat(),
    ).model_dump(mode="json")


@api_bp.get("/definitions")
@require_permission("definition.read")
@operation(resp={200: list[DeploymentOut]}, errors=(403,), tags=_TAGS)
def list_definitions() -> Any:
    """The tenant's deployed versions, newest first."""
    rows = db().execute(select(Deployment).order_by(Deployment.version.desc())).scalars()
    return [_deployment_json(r) for r in rows]


def _version(version: int) -> Deployment:
    row = db().execute(select(Deployment).where(Deployment.version == version)).scalar_one_or_none()
    if row is None:
        raise NotFound("定義のバージョンが見つかりません / no such version")
    return row


@api_bp.get("/definitions/<int:version>")
@require_permission("definition.read")
@operation(resp={200: DeploymentOut}, errors=(403, 404), tags=_TAGS)
def show_definition(version: int) -> Any:
    """One deployed version: its processes, files and change note."""
    return respond(_deployment_json(_version(version)))


@api_bp.get("/definitions/<int:version>/files/<path:name>")
@require_permission("definition.read")
@operation(resp={200: None}, errors=(403, 404), tags=_TAGS)
def show_definition_file(version: int, name: str) -> Any:
    """One file of a version as deployed: BPMN/DMN XML or form-js JSON (``name`` as listed in ``files``)."""
    files = _version(version).files
    if name not in files:
        raise NotFound("ファイルが見つかりません / no such file in this version")
    mimetype = "application/json" if name.endswith(".form") else "application/xml"
    return Response(files[name], mimetype=mimetype, headers={"X-Content-Type-Options": "nosniff"})


@api_bp.post("/definitions")
@require_permission("definition.deploy")
@operation(resp={201: DeploymentOut}, errors=(400, 403, 413, 415, 422), tags=_TAGS, request_body=_UPLOAD)
def create_definition() -> Any:
    """Deploy the uploaded files over the latest version as the next version (422 with each problem's file,
    line and element)."""
    uploads = request.files.getlist("files")
    if not uploads:
        raise ValidationFailed(
            "ファイルがありません / no files uploaded",
            details={"files": ["BPMN / DMN / フォームのファイルを選んでください"]},
        )
    files: dict[str, str] = {}
    for upload in uploads:
        name = (upload.filename or "").replace("\\", "/").lstrip("/")
        if not name.endswith(DEFINITION_SUFFIXES) or ".." in name.split("/"):
            raise ValidationFailed(
                "対応していないファイルです / unsupported file",
                details={"files": [f"{name}: .bpmn, .dmn, .form のみ"]},
            )
        raw = upload.read()
        try:
            files[name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed(
                "UTF-8 ではありません / not UTF-8", details={"files": [f"{name}: UTF-8 ではありません"]}
            ) from None
    session = db()
    latest = latest_deployment(session)
    base = dict(latest.files) if latest else {}
    try:
        row = deploy(
            session,
            files,
            lanes=LANE_ROLES,
            source="upload",
            note=request.form.get("note", "")[:500],
            created_by=g.principal.user_id,
            base_files=base,
        )
    except DefinitionError as exc:
        problems = [p.as_dict() for p in exc.problems]  # file, line, element, message each
        raise ValidationFailed(
            "定義に問題があります / the definitions are invalid", details={"problems": problems}
        ) from exc
    audit.record(
        session,
        g.principal,
        "definition.deploy",
        audit.Target("deployment", str(row.id)),
        details={"version": row.version, "source": "upload", "files": sorted(files)[:50]},
    )
    return _deployment_json(row), 201
