"""The designer pages (``/t/<slug>/admin/designer/...``): BPMN, DMN and form editors in the browser.

Thin views over ``drafts``: the index lists the files of the latest version, a designer page embeds the file
and what the engine accepts in it as JSON for the bundle, and four JSON endpoints serve the bundles (validate
a draft, check one expression, preview a form, deploy). Reading needs ``definition.read`` (administrators,
auditors), deploying ``definition.deploy`` (administrators).
"""

from __future__ import annotations

from typing import Any

from flask import flash, jsonify, render_template, request, url_for
from flask_babel import gettext as _

from ...audit import services as audit
from ...core.errors import Forbidden, ValidationFailed
from ...engine.errors import DefinitionError
from ...forms.render import render_form
from ...identity import permissions
from ...identity.csrf import csrf_token
from ...identity.principal import Principal
from ...web.pages import current_actor, tenant_pages
from ...web.requests import db, runtime
from . import drafts

bp = tenant_pages("designer", __name__)
bp.template_folder = "templates"

TEMPLATES = {"bpmn": "designer/bpmn.html", "dmn": "designer/dmn.html", "form": "designer/form.html"}


def _allowed(action: str) -> Principal:
    actor = current_actor()
    try:
        permissions.authorize(actor, action)
    except Forbidden:
        raise Forbidden(_("Only tenant administrators may use the designers.")) from None
    return actor


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed("JSON のオブジェクトを送ってください / send a JSON object")
    return body


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str):
        raise ValidationFailed(f"{key} がありません / '{key}' is missing", details={key: ["required"]})
    return value


def _base() -> drafts.Base:
    return drafts.current_base(db(), runtime().settings.workflows_dir)


@bp.get("/admin/designer/")
def index() -> str:
    actor = _allowed("definition.read")
    base = _base()
    return render_template(
        "designer/index.html",
        base=base,
        files=drafts.files_by_kind(base),
        deployments=drafts.deployments(db()),
        may_deploy=permissions.can(actor, "definition.deploy"),
    )


@bp.get("/admin/designer/edit/<path:name>")
def edit(name: str) -> str:
    actor = _allowed("definition.read")
    base = _base()
    data = drafts.designer_data(base, name)
    data["csrf"] = csrf_token()
    data["mayDeploy"] = permissions.can(actor, "definition.deploy")
    data["urls"] = {
        "validate": url_for("designer.validate"),
        "expression": url_for("designer.validate_expression"),
        "deploy": url_for("designer.deploy"),
        "preview": url_for("designer.form_preview"),
    }
    return render_template(TEMPLATES[data["kind"]], base=base, name=name, data=data)


@bp.post("/admin/designer/validate")
def validate() -> Any:
    _allowed("definition.read")
    body = _body()
    problems = drafts.validate_draft(_base(), _text(body, "file"), _text(body, "content"))
    return jsonify(ok=not problems, problems=[p.as_dict() for p in problems])


@bp.post("/admin/designer/validate-expression")
def validate_expression() -> Any:
    _allowed("definition.read")
    body = _body()
    kind = body.get("kind")
    message = drafts.check_expression(
        _text(body, "expression"), kind if isinstance(kind, str) else "formalExpression"
    )
    return jsonify(ok=message is None, message=message or "")


@bp.post("/admin/designer/form-preview")
def form_preview() -> Any:
    _allowed("definition.read")
    schema = drafts.preview_schema(_body().get("schema"))
    return render_template("designer/_form_preview.html", rendered=render_form(schema))


@bp.post("/admin/designer/deploy")
def deploy() -> Any:
    actor = _allowed("definition.deploy")
    body = _body()
    base_version = body.get("base_version")
    if not isinstance(base_version, int) or isinstance(base_version, bool):
        raise ValidationFailed("base_version がありません / 'base_version' is missing")
    name = _text(body, "file")
    try:
        row = drafts.deploy_draft(
            db(),
            _base(),
            name,
            _text(body, "content"),
            note=_text(body, "note"),
            base_version=base_version,
            user_id=actor.user_id,
        )
    except DefinitionError as exc:
        raise ValidationFailed(
            "定義に問題があります / the definitions are invalid",
            details={"problems": [p.as_dict() for p in exc.problems]},
        ) from exc
    audit.record(
        db(),
        actor,
        "definition.deploy",
        audit.Target("deployment", str(row.id)),
        details={"version": row.version, "source": "designer", "file": name},
    )
    flash(_("Deployed version %(version)s.", version=row.version), "success")
    return jsonify(version=row.version, redirect=url_for("designer.edit", name=name)), 201
