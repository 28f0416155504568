"""JSON API for definitions: list deployments, deploy a new version (tenant admins).

A screen over the engine, so it lives above it: the engine knows no view.
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from sqlalchemy import select

from ..audit import services as audit
from ..cases.services import LANE_ROLES
from ..core.errors import ValidationFailed
from ..engine.services import DEFINITION_SUFFIXES, DefinitionError, Deployment, deploy, latest_deployment
from ..identity.services import Role
from ..web.blueprints import api_bp, require_roles
from ..web.requests import db


def _deployment_json(row: Deployment) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "version": row.version,
        "source": row.source,
        "process_ids": row.process_ids,
        "files": sorted(row.files),
        "note": row.note,
        "created_at": row.created_at.isoformat(),
    }


@api_bp.get("/definitions")
@require_roles(Role.TENANT_ADMIN, Role.AUDITOR)
def list_definitions() -> Any:
    rows = db().execute(select(Deployment).order_by(Deployment.version.desc())).scalars()
    return jsonify([_deployment_json(r) for r in rows])


@api_bp.post("/definitions")
@require_roles(Role.TENANT_ADMIN)
def create_definition() -> Any:
    uploads = request.files.getlist("files")
    if not uploads:
        raise ValidationFailed(
            "no files uploaded", details={"files": ["BPMN / DMN / フォームのファイルを選んでください"]}
        )
    files: dict[str, str] = {}
    for upload in uploads:
        name = (upload.filename or "").replace("\\", "/").lstrip("/")
        if not name.endswith(DEFINITION_SUFFIXES) or ".." in name.split("/"):
            raise ValidationFailed(
                "unsupported file", details={"files": [f"{name}: .bpmn, .dmn, .form のみ"]}
            )
        raw = upload.read()
        try:
            files[name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed(
                "not UTF-8", details={"files": [f"{name}: UTF-8 ではありません"]}
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
        problems = [str(p) for p in exc.problems]
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
    return jsonify(_deployment_json(row)), 201
