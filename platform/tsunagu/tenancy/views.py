"""The platform's tenant list, the tenant home page and the org-unit API."""

from __future__ import annotations

from typing import Any

from flask import g, render_template
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from ..core.errors import NotFound, ValidationFailed
from ..web.api import operation
from ..web.blueprints import api_bp, require_permission, tenant_bp
from ..web.etag import check_if_match, respond
from ..web.requests import db, parse_id, runtime
from .models import OrgUnit, Tenant
from .services import get_org_unit, list_active_tenants

_TAGS = ["org-units"]


def index() -> str:
    """``/``: the tenants served here (registered by ``app.create_app``)."""
    return render_template("index.html", tenants=list_active_tenants(runtime()))


class OrgUnitOut(BaseModel):
    id: str
    code: str
    name: str
    kind: str
    parent_id: str | None
    active: bool


class OrgUnitPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, description="the unit's display name")


def _org_unit_json(unit: OrgUnit) -> dict[str, Any]:
    return OrgUnitOut(
        id=str(unit.id),
        code=unit.code,
        name=unit.name,
        kind=unit.kind,
        parent_id=str(unit.parent_id) if unit.parent_id else None,
        active=unit.active,
    ).model_dump(mode="json")


@tenant_bp.get("/")
def home() -> str:
    tenant = db().get(Tenant, g.tenant.id)
    units = db().execute(select(OrgUnit).where(OrgUnit.active.is_(True)).order_by(OrgUnit.code)).scalars()
    return render_template("tenant_home.html", tenant=tenant, org_units=list(units))


@api_bp.get("/org-units")
@require_permission("org_unit.read")
@operation(resp={200: list[OrgUnitOut]}, tags=_TAGS)
def list_org_units() -> Any:
    """The tenant's org units (wards, departments), by code."""
    units = db().execute(select(OrgUnit).order_by(OrgUnit.code)).scalars()
    return [_org_unit_json(u) for u in units]


def _unit(unit_id: str) -> OrgUnit:
    unit = get_org_unit(db(), parse_id(unit_id))
    if unit is None:
        raise NotFound("組織が見つかりません / org unit not found")
    return unit


@api_bp.get("/org-units/<unit_id>")
@require_permission("org_unit.read")
@operation(resp={200: OrgUnitOut}, errors=(404,), tags=_TAGS)
def show_org_unit(unit_id: str) -> Any:
    return respond(_org_unit_json(_unit(unit_id)))


@api_bp.patch("/org-units/<unit_id>")
@require_permission("org_unit.update")
@operation(
    json=OrgUnitPatch, resp={200: OrgUnitOut}, errors=(403, 404, 412), tags=_TAGS, headers=["If-Match"]
)
def update_org_unit(unit_id: str, json: OrgUnitPatch) -> Any:
    """Rename an org unit (tenant admins); send the ``ETag`` read in ``If-Match`` (412 when stale)."""
    unit = _unit(unit_id)
    check_if_match(_org_unit_json(unit))
    name = json.name.strip()
    if not name:
        raise ValidationFailed(
            "入力内容に誤りがあります / invalid data", details={"name": ["1〜200文字で入力してください"]}
        )
    unit.name = name
    db().flush()
    return respond(_org_unit_json(unit))
