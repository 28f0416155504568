"""JSON API for cases."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, jsonify, request

from ..core.errors import ValidationFailed
from ..identity.auth import current_principal
from ..identity.permissions import authorize
from ..identity.services import Role
from ..sharing import services as sharing
from ..tenancy.models import Tenant
from ..web.blueprints import api_bp, require_roles
from ..web.openapi import register_schema
from ..web.requests import db, parse_id
from . import information, services, workspace
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
    info = information.case_information(session, case, principal, workspace.case_topics(session, case))
    detail = services.case_detail(session, case)
    if not info.file_full:
        # No legal basis for the case file: the anonymised summary, and the history as process steps only
        # (which step, when) — without what was submitted or who did it.
        detail["person"] = info.summary
        detail["history"] = [
            {
                "kind": h["kind"],
                "element": h["element"],
                "title": h["title"],
                "task_id": h["task_id"],
                "at": h["at"],
            }
            for h in detail["history"]
        ]
    detail["information"] = information.information_json(session, info)
    return jsonify(detail)


def _case_for(action: str, case_id: str) -> Any:
    case = services.get_case(db(), parse_id(case_id))
    authorize(current_principal(), action, case)
    return case


def _body() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed("a JSON object is required", details={"body": ["JSON オブジェクトが必要です"]})
    return body


@api_bp.post("/cases/<case_id>/consents")
@require_roles(*_WRITERS)
def record_consent(case_id: str) -> Any:
    """同意の記録 (the case team of the case's unit)."""
    session = db()
    case = _case_for("case.consent", case_id)
    consent = information.record_consent(session, case, _body(), g.principal.user_id)
    return jsonify(sharing.consent_json(session, consent)), 201


@api_bp.post("/cases/<case_id>/consents/<consent_id>/withdraw")
@require_roles(*_WRITERS)
def withdraw_consent(case_id: str, consent_id: str) -> Any:
    """同意の撤回: ``{"full": true}`` or ``{"categories"|"org_units"|"roles": [...]}``; effective at once."""
    session = db()
    case = _case_for("case.consent", case_id)
    kind = information.withdraw_consent(session, case, parse_id(consent_id), _body(), g.principal.user_id)
    consent = sharing.get_consent(session, case.id, parse_id(consent_id))
    return jsonify(
        {"withdrawal": kind, "consent": sharing.consent_json(session, consent), "status": case.status}
    )


@api_bp.post("/cases/<case_id>/progress")
@require_roles(Role.TENANT_ADMIN, Role.CONSULTANT, Role.MUNICIPAL_STAFF, Role.PROVIDER)
def add_progress(case_id: str) -> Any:
    """支援経過記録 with its provenance: ``category``, ``source`` and, from a 支援会議, ``meeting_key``."""
    session = db()
    case = _case_for("case.record", case_id)
    body = _body()
    fields = {
        k: str(body.get(k) or "")
        for k in ("record_date", "method", "staff_name", "content", "category", "source", "meeting_key")
    }
    fields["category"] = fields["category"] or "general"
    fields["source"] = fields["source"] or "consultant"
    record = workspace.add_progress_record(session, case, actor_id=g.principal.user_id, **fields)
    return jsonify({"id": str(record.id)}), 201


@api_bp.post("/cases/<case_id>/progress/<record_id>/promote")
@require_roles(*_WRITERS)
def promote_progress(case_id: str, record_id: str) -> Any:
    """Move a 支援会議 record into the case file: ``{"reason": "..."}``; who and why are recorded."""
    session = db()
    case = _case_for("case.read", case_id)
    record = information.promote(
        session, case, parse_id(record_id), str(_body().get("reason") or ""), g.principal
    )
    return jsonify(
        {"id": str(record.id), "promoted_at": record.promoted_at.isoformat() if record.promoted_at else None}
    )


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
