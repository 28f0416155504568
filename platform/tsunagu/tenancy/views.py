"""The platform's tenant list, the tenant home page and the org-unit API."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, render_template, request
from sqlalchemy import select

from ..core.errors import NotFound, ValidationFailed
from ..web.blueprints import api_bp, require_permission, tenant_bp
from ..web.requests import db, parse_id, runtime
from .models import OrgUnit, Tenant
from .services import get_org_unit, list_active_tenants


def index() -> str:
    """``/``: the tenants served here (registered by ``app.create_app``)."""
    return render_template("index.html", tenants=list_active_tenants(runtime()))


def _org_unit_json(unit: OrgUnit) -> dict[str, Any]:
    return {
        "id": str(unit.id),
        "code": unit.code,
        "name": unit.name,
        "kind": unit.kind,
        "parent_id": str(unit.parent_id) if unit.parent_id else None,
        "active": unit.active,
    }


@tenant_bp.get("/")
def home() -> str:
    tenant = db().get(Tenant, g.tenant.id)
    units = db().execute(select(OrgUnit).where(OrgUnit.active.is_(True)).order_by(OrgUnit.code)).scalars()
    return render_template("tenant_home.html", tenant=tenant, org_units=list(units))


@api_bp.get("/org-units")
@require_permission("org_unit.read")
def list_org_units() -> Any:
    units = db().execute(select(OrgUnit).order_by(OrgUnit.code)).scalars()
    return jsonify([_org_unit_json(u) for u in units])


@api_bp.get("/org-units/<unit_id>")
@require_permission("org_unit.read")
def show_org_unit(unit_id: str) -> Any:
    unit = get_org_unit(db(), parse_id(unit_id))
    if unit is None:
        raise NotFound("org unit not found")
    return jsonify(_org_unit_json(unit))


@api_bp.patch("/org-units/<unit_id>")
@require_permission("org_unit.update")
def update_org_unit(unit_id: str) -> Any:
    unit = get_org_unit(db(), parse_id(unit_id))
    if unit is None:
        raise NotFound("org unit not found")
    payload = request.get_json(silent=True) or {}
    name = payload.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise ValidationFailed("invalid data", details={"name": ["1〜200文字で入力してください"]})
    unit.name = name.strip()
    db().flush()
    return jsonify(_org_unit_json(unit))
