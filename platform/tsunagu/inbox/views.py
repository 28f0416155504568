"""JSON API for the inbox: list, show, claim, complete."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from ..cases import services as cases
from ..core.errors import ValidationFailed
from ..engine import services as engine
from ..identity.services import ALL_ROLES, Principal
from ..web.blueprints import api_bp, require_roles
from ..web.requests import db, parse_id
from . import services


def _actor() -> Principal:
    principal: Principal = g.principal
    return principal


@api_bp.get("/tasks")
@require_roles(*ALL_ROLES)
def list_tasks() -> Any:
    scope = request.args.get("scope", "mine")
    state = request.args.get("state", "ready")
    if state not in ("ready", "completed", "cancelled"):
        raise ValidationFailed("unknown state", details={"state": ["ready, completed or cancelled"]})
    try:
        limit = min(max(int(request.args.get("limit", "100")), 1), 500)
        offset = max(int(request.args.get("offset", "0")), 0)
    except ValueError:
        raise ValidationFailed("limit and offset must be numbers") from None
    tasks = services.list_tasks(db(), _actor(), scope, state, limit, offset)
    return jsonify([services.task_json(t) for t in tasks])


@api_bp.get("/tasks/<task_id>")
@require_roles(*ALL_ROLES)
def show_task(task_id: str) -> Any:
    session = db()
    task = services.get_task(session, _actor(), parse_id(task_id))
    body = services.task_json(task)
    schema = None
    if task.form_key:
        instance = engine.get_instance(session, task.process_instance_id)
        if instance is not None:
            schema = engine.form_schema(session, instance.deployment_id, task.form_key)
    body["form_schema"] = schema
    return jsonify(body)


@api_bp.post("/tasks/<task_id>/claim")
@require_roles(*ALL_ROLES)
def claim(task_id: str) -> Any:
    task = services.claim_task(db(), _actor(), parse_id(task_id))
    return jsonify(services.task_json(task))


@api_bp.post("/tasks/<task_id>/complete")
@require_roles(*ALL_ROLES)
def complete(task_id: str) -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("data", {}), dict):
        raise ValidationFailed(
            'body must be {"data": {...}}', details={"data": ["JSON オブジェクトが必要です"]}
        )
    task = cases.complete_task(db(), _actor(), parse_id(task_id), body.get("data") or {})
    return jsonify(services.task_json(task))
