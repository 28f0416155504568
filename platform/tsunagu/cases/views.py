"""JSON API for cases."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, jsonify, request

from ..audit import services as audit
from ..core.errors import ValidationFailed
from ..identity.auth import current_principal
from ..identity.permissions import authorize
from ..identity.services import Role
from ..tenancy.models import Tenant
from ..web.blueprints import api_bp, require_roles
from ..web.openapi import register_schema
from ..web.requests import db, parse_id
from . import services
from .inputs import check_message_payload, parse_org_unit
from .referral import REFERRAL_SCHEMA, parse_referral

register_schema("Referral", REFERRAL_SCHEMA)

_WRITERS = (Role.TENANT_ADMIN, Role.CONSULTANT, Role.MUNICIPAL_STAFF)
_READERS = (*_WRITERS, Role.MEETING_SECRETARIAT, Role.AUDITOR, Role.PROVIDER)


@api_bp.post("/cases")
@require_roles(*_WRITERS)
def create_case() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed("a JSON object is required", details={"body": ["JSON オブジェクトが必要です"]})
    person = services.parse_person(body.get("person"))
    referral = parse_referral(body.get("referral"))  # issue #10: a schema, not any object of any size
    org_unit = parse_org_unit(body.get("org_unit"))
    session = db()
    tenant = session.get(Tenant, g.tenant.id)
    assert tenant is not None
    case = services.start_case(
        session,
        tenant,
        current_app.extensions["tsunagu"].settings.workflows_dir,
        person,
        org_unit_code=org_unit,
        referral=referral,
        actor_id=g.principal.user_id,
        actor=g.principal,
    )
    return jsonify(
        {
            "id": str(case.id),
            "process_instance_id": str(case.process_instance_id),
            "stage": services.stage_of(session, case),
        }
    ), 201


@api_bp.get("/cases/<case_id>")
@require_roles(*_READERS)
def show_case(case_id: str) -> Any:
    session = db()
    case = services.get_case(session, parse_id(case_id))
    principal = current_principal()
    authorize(principal, "case.read", case)  # another org unit's case: 404
    audit.record_access(session, principal, "case.api_read", case)
    return jsonify(services.case_detail(session, case))


@api_bp.post("/cases/<case_id>/messages")
@require_roles(Role.TENANT_ADMIN, Role.MEETING_SECRETARIAT, Role.MUNICIPAL_STAFF, Role.CONSULTANT)
def post_message(case_id: str) -> Any:
    body = request.get_json(silent=True) or {}
    name = body.get("name")
    payload = body.get("payload") or {}
    if name not in services.MESSAGE_NAMES or not isinstance(payload, dict):
        raise ValidationFailed(
            "unknown message", details={"name": [f"one of {', '.join(services.MESSAGE_NAMES)}"]}
        )
    payload = check_message_payload(name, payload)  # bounded, and a referral fits its schema
    session = db()
    case = services.get_case(session, parse_id(case_id))
    authorize(current_principal(), "case.message", case)
    result = services.deliver_message(session, case, name, payload, actor_id=g.principal.user_id)
    return jsonify({"id": str(case.id), "stage": result.stage, "status": case.status})
