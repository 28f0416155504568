"""JSON API of the notification centre under ``/t/<slug>/api/v1/notifications`` (bearer tokens).

Plain views: the JSON API issue's schema mechanism (schemas in code, a generated OpenAPI document) had not
landed when these were written; they use the one error shape ``{"error": {...}}`` of ``core.errors``.
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request

from ..core.errors import ValidationFailed
from ..identity.models import ALL_ROLES
from ..web.blueprints import api_bp, require_roles
from ..web.requests import db, parse_id
from . import centre


def _item_json(item: centre.Item) -> dict[str, Any]:
    return {
        "id": str(item.id),
        "kind": item.kind.key,
        "label": {"ja": item.kind.label_ja, "en": item.kind.label_en},
        "created_at": item.created_at.isoformat(),
        "read": item.read,
        "link": item.link,
        "subject": {"title": item.subject.title, "detail": item.subject.detail} if item.subject else None,
        "counts": item.counts,
    }


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(request.args.get(name, str(default))), low), high)
    except ValueError:
        raise ValidationFailed(
            f"{name} must be a number", details={name: ["数値で指定してください"]}
        ) from None


@api_bp.get("/notifications")
@require_roles(*ALL_ROLES)
def list_notifications() -> Any:
    principal = g.principal
    items = centre.list_items(
        db(),
        principal,
        unread_only=request.args.get("show") == "unread",
        limit=_int_arg("limit", 30, 1, 200),
        offset=_int_arg("offset", 0, 0, 1_000_000),
    )
    return jsonify(
        {"unread": centre.unread_count(db(), principal.user_id), "items": [_item_json(i) for i in items]}
    )


@api_bp.post("/notifications/<notification_id>/read")
@require_roles(*ALL_ROLES)
def mark_notification_read(notification_id: str) -> Any:
    principal = g.principal
    centre.mark_read(db(), principal.user_id, parse_id(notification_id))
    return jsonify(
        {"id": notification_id, "read": True, "unread": centre.unread_count(db(), principal.user_id)}
    )


@api_bp.post("/notifications/read-all")
@require_roles(*ALL_ROLES)
def mark_all_notifications_read() -> Any:
    principal = g.principal
    return jsonify({"marked": centre.mark_all_read(db(), principal.user_id), "unread": 0})


@api_bp.get("/notifications/preferences")
@require_roles(*ALL_ROLES)
def get_notification_preferences() -> Any:
    chosen = centre.preferences(db(), g.principal.user_id)
    return jsonify({key: mode.value for key, mode in chosen.items()})


@api_bp.put("/notifications/preferences")
@require_roles(*ALL_ROLES)
def put_notification_preferences() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not all(isinstance(v, str) for v in body.values()):
        raise ValidationFailed(
            'body must be {"<kind>": "in_app" | "email" | "digest", ...}',
            details={"body": ["JSON オブジェクトが必要です"]},
        )
    chosen = centre.set_preferences(db(), g.principal.user_id, body)
    return jsonify({key: mode.value for key, mode in chosen.items()})
