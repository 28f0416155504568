"""JSON API for instance operations (all endpoints in this one module, so they convert to the schema-declared
OpenAPI together): list and get instances, retry an incident, suspend / resume / terminate with a reason,
migration dry run and run (one or bulk), and the diff of two versions.

Reading needs ``instance.read`` (administrators, auditors), operating ``instance.operate`` (administrators);
every endpoint is declared with ``web.api.operation`` (request models validated, responses checked, in the
OpenAPI document); errors are the API's ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from flask import g, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from ..core.errors import ValidationFailed
from ..web.api import operation
from ..web.blueprints import api_bp, require_permission
from ..web.requests import db, parse_id
from . import operations as ops

# --- the API's models (declared once: request validation, the response check and the document) ---------

_TAGS = ["instances"]
State = Literal["running", "suspended", "completed", "terminated", "error"]
Version = Annotated[int, Field(ge=1, le=2**31)]
Reason = Annotated[str, Field(max_length=ops.REASON_MAX)]


class InstanceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Version | None = None
    state: State | None = None
    incident: Literal["", "open", "none"] = Field(
        "", description="open: with an open incident; none: without"
    )
    limit: int = Field(100, ge=1, le=500)
    page: int = Field(1, ge=1, le=2**31)


class InstanceOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    case_id: str | None
    process_id: str
    version: int
    status: str
    open_incidents: int


class InstanceList(BaseModel):
    total: int
    items: list[InstanceOut]


class InstanceDetail(InstanceOut):
    """The instance with its position, ready tasks, incidents, history and operations (variables only for
    those who may see them)."""

    position: list[Any]
    incidents: list[dict[str, Any]]
    history: list[dict[str, Any]]
    operations: list[dict[str, Any]]


class OperationResult(BaseModel):
    model_config = ConfigDict(extra="allow")


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason | None = Field(None, description="required")


class RetryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    incident_id: uuid.UUID | None = Field(None, description="default: the instance's open incident")
    reason: Reason = ""


class MigrateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target_version: Version
    reason: Reason | None = Field(None, description="required")
    expected_version: Version | None = Field(None, description="the instance version a dry run reported")


class DryRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target_version: Version
    from_version: Version | None = None
    instance_ids: list[uuid.UUID] | None = Field(None, max_length=ops.MAX_BATCH)


class DryRunOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    target_version: int
    movable: int
    blocked: int
    items: list[dict[str, Any]]


class BulkItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: uuid.UUID
    expected_version: Version | None = None


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target_version: Version
    reason: Reason | None = Field(None, description="required")
    instances: list[BulkItem] = Field(min_length=1, max_length=ops.MAX_BATCH)


class DiffQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    process: str = Field("casework", min_length=1, max_length=100)


class VersionDiffOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    process_id: str
    from_version: int
    to_version: int


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if body is None and not request.data:
        return {}
    if not isinstance(body, dict):
        raise ValidationFailed("JSON オブジェクトを送ってください / send a JSON object")
    return body


def _int(value: Any, name: str, *, required: bool = False) -> int | None:
    if value is None or value == "":
        if required:
            raise ValidationFailed(f"{name} は必須です / '{name}' is required", details={name: ["required"]})
        return None
    if isinstance(value, bool):
        value = "x"
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(
            f"{name} は整数です / '{name}' must be an integer", details={name: ["integer"]}
        ) from None
    if number < 1 or number > 2**31:
        raise ValidationFailed(f"{name} が範囲外です / '{name}' is out of range", details={name: ["range"]})
    return number


def _uuid(value: Any, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed(
            f"{name} が不正です / '{name}' is not an id", details={name: ["uuid"]}
        ) from None


def instance_json(row: ops.InstanceRow) -> dict[str, Any]:
    i = row.instance
    return {
        "id": str(i.id),
        "case_id": str(i.case_id) if i.case_id else None,
        "process_id": i.process_id,
        "version": row.version,
        "deployment_id": str(i.deployment_id),
        "status": i.status,
        "stage": i.stage,
        "open_incidents": row.open_incidents,
        "lock_version": i.version,
        "created_at": i.created_at.isoformat(),
        "updated_at": i.updated_at.isoformat(),
    }


def parse_filters(args: Any) -> dict[str, Any]:
    state = args.get("state") or None
    if state is not None and state not in ops.STATES:
        raise ValidationFailed(
            "state が不正です / unknown state", details={"state": [f"one of {', '.join(ops.STATES)}"]}
        )
    incident_arg = args.get("incident") or ""
    if incident_arg not in ("", "open", "none"):
        raise ValidationFailed("incident は open か none です / incident: open or none")
    return {
        "version": _int(args.get("version"), "version"),
        "state": state,
        "incident": {"open": True, "none": False}.get(incident_arg),
    }


@api_bp.get("/instances")
@require_permission("instance.read")
@operation(query=InstanceQuery, resp={200: InstanceList}, errors=(403,), tags=_TAGS)
def list_instances() -> Any:
    limit = min(_int(request.args.get("limit"), "limit") or 100, 500)
    offset = (_int(request.args.get("page"), "page") or 1) - 1
    rows, total = ops.list_instances(db(), **parse_filters(request.args), limit=limit, offset=offset * limit)
    return jsonify({"total": total, "items": [instance_json(r) for r in rows]})


@api_bp.get("/instances/<instance_id>")
@require_permission("instance.read")
@operation(resp={200: InstanceDetail}, errors=(403, 404), tags=_TAGS)
def get_instance(instance_id: str) -> Any:
    detail = ops.instance_detail(db(), g.principal, parse_id(instance_id))
    i = detail.instance
    return jsonify(
        {
            **instance_json(
                ops.InstanceRow(i, detail.version, sum(1 for x in detail.incidents if not x.resolved_at))
            ),
            "position": detail.position,
            "ready_tasks": [
                {"id": str(t.id), "element": t.element, "title": t.title, "role": t.role}
                for t in detail.ready
            ],
            "incidents": [
                {
                    "id": str(x.id),
                    "element": x.element,
                    "element_name": x.context.get("element_name", ""),
                    "command": x.command,
                    "message": x.message,
                    "created_at": x.created_at.isoformat(),
                    "resolved_at": x.resolved_at.isoformat() if x.resolved_at else None,
                }
                for x in detail.incidents
            ],
            "history": [
                {"kind": e.kind, "element": e.element, "title": e.title, "at": e.at.isoformat()}
                for e in detail.history
            ],
            "operations": [operation_json(o) for o in detail.operations],
            # only for those who may see them (``operations.visible_variables``); absent otherwise
            **({"variables": detail.variables} if detail.variables is not None else {}),
        }
    )


def operation_json(o: Any) -> dict[str, Any]:
    return {
        "id": str(o.id),
        "action": o.action,
        "actor_id": str(o.actor_id) if o.actor_id else None,
        "reason": o.reason,
        "outcome": o.outcome,
        "message": o.message,
        "details": o.details,
        "at": o.at.isoformat(),
    }


@api_bp.post("/instances/<instance_id>/retry")
@require_permission("instance.operate")
@operation(json=RetryIn, resp={200: OperationResult}, errors=(403, 404, 409), tags=_TAGS)
def retry(instance_id: str) -> Any:
    body = _body()
    incident = _uuid(body["incident_id"], "incident_id") if body.get("incident_id") else None
    reason = ops.check_reason(body.get("reason", ""), required=False)
    return jsonify(ops.retry(db(), g.principal, parse_id(instance_id), incident, reason))


def _state_change(instance_id: str, action: str) -> Any:
    reason = ops.check_reason(_body().get("reason"))
    run = {"suspend": ops.suspend, "resume": ops.resume, "terminate": ops.terminate}[action]
    return jsonify(run(db(), g.principal, parse_id(instance_id), reason))


@api_bp.post("/instances/<instance_id>/suspend")
@require_permission("instance.operate")
@operation(json=ReasonIn, resp={200: OperationResult}, errors=(403, 404, 409), tags=_TAGS)
def suspend(instance_id: str) -> Any:
    return _state_change(instance_id, "suspend")


@api_bp.post("/instances/<instance_id>/resume")
@require_permission("instance.operate")
@operation(json=ReasonIn, resp={200: OperationResult}, errors=(403, 404, 409), tags=_TAGS)
def resume(instance_id: str) -> Any:
    return _state_change(instance_id, "resume")


@api_bp.post("/instances/<instance_id>/terminate")
@require_permission("instance.operate")
@operation(json=ReasonIn, resp={200: OperationResult}, errors=(403, 404, 409), tags=_TAGS)
def terminate(instance_id: str) -> Any:
    return _state_change(instance_id, "terminate")


@api_bp.post("/instances/<instance_id>/migrate")
@require_permission("instance.operate")
@operation(json=MigrateIn, resp={200: OperationResult}, errors=(403, 404, 409), tags=_TAGS)
def migrate_one(instance_id: str) -> Any:
    body = _body()
    target = _int(body.get("target_version"), "target_version", required=True)
    assert target is not None
    return jsonify(
        ops.migrate_one(
            db(),
            g.principal,
            parse_id(instance_id),
            target,
            ops.check_reason(body.get("reason")),
            expected_version=_int(body.get("expected_version"), "expected_version"),
        )
    )


def _ids(value: Any) -> list[uuid.UUID] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > ops.MAX_BATCH:
        raise ValidationFailed(f"instance_ids はID の配列です（{ops.MAX_BATCH}件まで） / a list of ids")
    return [_uuid(v, "instance_ids") for v in value]


@api_bp.post("/migrations/dry-run")
@require_permission("instance.read")
@operation(json=DryRunIn, resp={200: DryRunOut}, errors=(403, 404), tags=_TAGS)
def migration_dry_run() -> Any:
    body = _body()
    target = _int(body.get("target_version"), "target_version", required=True)
    assert target is not None
    rows = ops.dry_run(
        db(),
        g.principal,
        target,
        from_version=_int(body.get("from_version"), "from_version"),
        instance_ids=_ids(body.get("instance_ids")),
    )
    items = [r.as_dict() for r in rows]
    return jsonify(
        {
            "target_version": target,
            "movable": sum(1 for r in items if r["movable"]),
            "blocked": sum(1 for r in items if not r["movable"]),
            "items": items,
        }
    )


@api_bp.post("/migrations")
@require_permission("instance.operate")
@operation(json=BulkIn, resp={200: OperationResult}, errors=(403, 404, 409), tags=_TAGS)
def migration_run() -> Any:
    """Bulk: ``{"target_version", "reason", "instances": [{"id", "expected_version"}]}`` — typically the
    movable rows of a dry run, with the instance version the dry run reported."""
    body = _body()
    target = _int(body.get("target_version"), "target_version", required=True)
    assert target is not None
    reason = ops.check_reason(body.get("reason"))
    raw = body.get("instances")
    if not isinstance(raw, list) or not raw or len(raw) > ops.MAX_BATCH:
        raise ValidationFailed(
            "instances は1件以上の配列です / 'instances' must be a non-empty list",
            details={"instances": ["required"]},
        )
    items: list[tuple[uuid.UUID, int | None]] = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise ValidationFailed("instances の要素は {id, expected_version} です / {id, expected_version}")
        items.append((_uuid(entry.get("id"), "id"), _int(entry.get("expected_version"), "expected_version")))
    return jsonify(ops.migrate_bulk(db(), g.principal, target, items, reason).as_dict())


@api_bp.get("/definitions/<int:from_version>/diff/<int:to_version>")
@require_permission("instance.read")
@operation(query=DiffQuery, resp={200: VersionDiffOut}, errors=(403, 404), tags=_TAGS)
def version_diff(from_version: int, to_version: int) -> Any:
    process = request.args.get("process", "casework")[:100]
    diff = ops.version_diff(db(), from_version, to_version, process)
    return jsonify(
        {
            "process_id": diff.process_id,
            "from_version": from_version,
            "to_version": to_version,
            "added": diff.added,
            "removed": diff.removed,
            "changed": diff.changed,
        }
    )
