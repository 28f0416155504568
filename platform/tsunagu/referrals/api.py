"""JSON API of referrals under ``/t/<slug>/api/v1/`` for partner systems and the receiving unit.

A partner system calls with the bearer token of one of its users (外部参加者, ``tsunagu tokens create``):
``GET/POST referrals``, ``GET referrals/<id>`` (its own only; another partner's is 404, as is any case),
``GET cooperation-requests``, ``POST cooperation-requests/<id>/response``, ``POST department-flags``. The
receiving unit: ``POST referrals/<id>/accept`` and ``POST cases/<id>/cooperation-requests``.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from flask import current_app, g, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from ..cases import services as cases
from ..core.errors import NotFound, ValidationFailed
from ..identity import permissions
from ..tenancy.models import Tenant
from ..web.api import operation
from ..web.blueprints import api_bp, require_permission
from ..web.requests import db, parse_id
from . import inputs
from . import services as referrals
from .models import CooperationRequest, Referral

_TAGS = ["referrals"]
Topic = Literal[inputs.TOPICS]  # type: ignore[valid-type]


class ReferralPersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)
    name_kana: str = Field(max_length=200)
    birth_date: str | None = Field(None, max_length=10, description="YYYY-MM-DD")


class ReferralConsentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["obtained", "not_yet", "refused"]
    given_on: str | None = Field(None, max_length=10, description="YYYY-MM-DD; required when obtained")
    channel: Literal["signed_form", "verbal_witnessed"] | None = None
    categories: list[Literal["general", "sensitive", "tax", "household"]] = Field(
        default_factory=list, max_length=4
    )
    feedback: bool = Field(False, description="the person agrees that the referrer is told who took it on")


class ReferralIn(BaseModel):
    """相談のつなぎ. Without consent (``consent.status`` other than ``obtained``) the referral is anonymous and
    must carry no ``person``."""

    model_config = ConfigDict(extra="forbid")
    anonymous: bool = False
    person: ReferralPersonIn | None = None
    topics: list[Topic] = Field(min_length=1, max_length=16)
    main_topic: Topic | None = None
    urgency: Literal["high", "normal", "low"] = "normal"
    reason: str = Field(min_length=1, max_length=2000)
    actions_taken: str = Field("", max_length=2000)
    consent: ReferralConsentIn
    contact_name: str = Field("", max_length=100)
    contact_phone: str = Field("", max_length=20)


class ReferralOut(BaseModel):
    """A referral as its partner sees it: what it sent and the feedback its consent allows."""

    model_config = ConfigDict(extra="allow")
    id: str
    status: Literal["received", "in_progress", "closed"]
    anonymous: bool
    topics: list[str]
    urgency: str
    created_at: str
    feedback: dict[str, Any]


class ReferralAcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    join_case_id: uuid.UUID | None = Field(
        None, description="a case the duplicate check found (409 lists them)"
    )
    new_case: bool = Field(False, description="start a new case although the duplicate check found some")
    person: ReferralPersonIn | None = Field(
        None, description="for an anonymous referral, once the person consented"
    )


class ReferralAccepted(BaseModel):
    referral_id: str
    case_id: str
    joined_existing: bool


class CooperationRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    partner: str = Field(min_length=1, max_length=64, description="the partner's key")
    request: str = Field(min_length=1, max_length=2000)
    due_on: str | None = Field(None, max_length=10, description="YYYY-MM-DD")


class CooperationRequestOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    status: Literal["sent", "accepted", "declined", "reported"]
    request: str
    due_on: str | None
    response: str
    report: str


class CooperationResponseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["accept", "decline", "report"]
    text: str = Field("", max_length=2000)


class DepartmentFlagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signs: list[Topic] = Field(min_length=1, max_length=16)
    summary: str = Field(min_length=1, max_length=1000)
    no_tax_information: bool = Field(
        description="must be true: tax information is consent-only (地方税法22条)"
    )


class DepartmentFlagOut(BaseModel):
    id: str
    meeting_id: str | None
    meeting_key: str


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed("a JSON object is required", details={"body": ["JSON オブジェクトが必要です"]})
    return body


def _partner() -> Any:
    return referrals.require_partner(db(), g.principal)


def referral_json(referral: Referral) -> dict[str, Any]:
    told = referrals.feedback(db(), referral)
    return {
        "id": str(referral.id),
        "status": told["status"],
        "anonymous": referral.anonymous,
        "topics": referral.topics,
        "main_topic": referral.main_topic or None,
        "urgency": referral.urgency,
        "created_at": referral.created_at.isoformat(),
        "feedback": told,
    }


def cooperation_json(row: CooperationRequest) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "case_id": str(row.case_id) if not referrals.partner_of(db(), g.principal) else None,
        "status": row.status,
        "request": row.request,
        "due_on": row.due_on.isoformat() if row.due_on else None,
        "response": row.response,
        "report": row.report,
    }


@api_bp.get("/referrals")
@require_permission("referral.read")
@operation(resp={200: list[ReferralOut]}, errors=(403,), tags=_TAGS)
def list_referrals() -> Any:
    """A partner's own referrals, newest first (another partner's are never listed); the receiving unit's
    staff: the referrals waiting for them."""
    session = db()
    referrals.sync_partners(session)
    partner = referrals.partner_of(session, g.principal)
    if partner is not None:
        rows = referrals.referrals_for_partner(session, partner)
    else:
        rows = referrals.pending_for(session, g.principal)
    return jsonify([referral_json(r) for r in rows])


@api_bp.post("/referrals")
@require_permission("referral.submit")
@operation(json=ReferralIn, resp={201: ReferralOut}, errors=(403,), tags=_TAGS)
def create_referral(json: ReferralIn) -> Any:
    session = db()
    referrals.sync_partners(session)
    partner = _partner()
    data = inputs.parse_referral(_body())
    referral = referrals.submit_referral(session, partner, data, actor_id=g.principal.user_id)
    return referral_json(referral), 201


@api_bp.get("/referrals/<referral_id>")
@require_permission("referral.read")
@operation(resp={200: ReferralOut}, errors=(403, 404), tags=_TAGS)
def get_referral(referral_id: str) -> Any:
    session = db()
    partner = referrals.partner_of(session, g.principal)
    referral = referrals.get_referral(session, parse_id(referral_id), partner=partner)
    if partner is None:
        permissions.authorize(g.principal, "referral.read", referral)  # another unit's: 404
    return jsonify(referral_json(referral))


@api_bp.post("/referrals/<referral_id>/accept")
@require_permission("referral.accept")
@operation(json=ReferralAcceptIn, resp={200: ReferralAccepted}, errors=(403, 404, 409), tags=_TAGS)
def accept_referral(referral_id: str, json: ReferralAcceptIn) -> Any:
    """受付: join the duplicate check's case (``join_case_id``) or start a new case; 409 ``possible_duplicate``
    names the candidates when neither was chosen."""
    session = db()
    referral = referrals.get_referral(session, parse_id(referral_id), partner=None)
    permissions.authorize(g.principal, "referral.accept", referral)
    tenant = session.get(Tenant, g.tenant.id)
    assert tenant is not None
    case = referrals.accept_referral(
        session,
        tenant,
        current_app.extensions["tsunagu"].settings.workflows_dir,
        referral,
        g.principal,
        inputs.parse_accept(_body()),
    )
    return jsonify(
        {
            "referral_id": str(referral.id),
            "case_id": str(case.id),
            "joined_existing": referral.joined_existing,
        }
    )


@api_bp.get("/cooperation-requests")
@require_permission("cooperation.respond")
@operation(resp={200: list[CooperationRequestOut]}, errors=(403,), tags=_TAGS)
def list_cooperation_requests() -> Any:
    """The partner's requests for cooperation, newest first."""
    return jsonify([cooperation_json(r) for r in referrals.cooperation_for_partner(db(), _partner())])


@api_bp.post("/cooperation-requests/<cooperation_id>/response")
@require_permission("cooperation.respond")
@operation(json=CooperationResponseIn, resp={200: CooperationRequestOut}, errors=(403, 404, 409), tags=_TAGS)
def respond_to_cooperation(cooperation_id: str, json: CooperationResponseIn) -> Any:
    """Accept or decline a request (依頼済), or report on an accepted one."""
    session = db()
    partner = _partner()
    row = referrals.get_cooperation(session, parse_id(cooperation_id), partner=partner)
    action, text = inputs.parse_response(_body())
    referrals.respond_to_cooperation(session, row, partner, action, text, g.principal.user_id)
    return jsonify(cooperation_json(row))


@api_bp.post("/cases/<case_id>/cooperation-requests")
@require_permission("cooperation.request")
@operation(json=CooperationRequestIn, resp={201: CooperationRequestOut}, errors=(403, 404), tags=_TAGS)
def create_cooperation_request(case_id: str, json: CooperationRequestIn) -> Any:
    """支援の依頼: ask a partner (by key) for support on a case; it lands on the case's timeline."""
    session = db()
    try:
        case = cases.get_case(session, parse_id(case_id))
    except NotFound:
        raise
    referrals.sync_partners(session)
    row = referrals.request_cooperation(session, case, inputs.parse_cooperation(_body()), g.principal)
    return cooperation_json(row), 201


@api_bp.post("/department-flags")
@require_permission("referral.submit")
@operation(json=DepartmentFlagIn, resp={201: DepartmentFlagOut}, errors=(403, 409), tags=_TAGS)
def create_department_flag(json: DepartmentFlagIn) -> Any:
    """早期把握: a department's flag without consent, put on the next 支援会議 (409 when none is set up)."""
    session = db()
    referrals.sync_partners(session)
    flag = referrals.flag_for_support_meeting(
        session, _partner(), inputs.parse_flag(_body()), g.principal.user_id
    )
    return {
        "id": str(flag.id),
        "meeting_id": str(flag.meeting_id) if flag.meeting_id else None,
        "meeting_key": flag.meeting_key,
    }, 201
