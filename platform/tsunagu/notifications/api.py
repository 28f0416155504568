"""JSON API of the notification centre under ``/t/<slug>/api/v1/notifications`` (bearer tokens).

Declared with ``web.api.operation`` (models below), so they are validated and in the OpenAPI document.
"""

from __future__ import annotations

from typing import Any, Literal

from flask import g
from pydantic import BaseModel, ConfigDict, Field, RootModel

from ..identity.models import ALL_ROLES
from ..web.api import operation
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


class Label(BaseModel):
    ja: str
    en: str


class Subject(BaseModel):
    title: str
    detail: str


class NotificationOut(BaseModel):
    id: str
    kind: str
    label: Label
    created_at: str
    read: bool
    link: str
    subject: Subject | None
    counts: dict[str, int] | None


class NotificationList(BaseModel):
    unread: int
    items: list[NotificationOut]


class NotificationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    show: Literal["all", "unread"] = "all"
    limit: int = Field(30, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)


class MarkedRead(BaseModel):
    id: str
    read: bool
    unread: int


class MarkedAll(BaseModel):
    marked: int
    unread: int


Channel = Literal["in_app", "email", "digest"]


class Preferences(RootModel[dict[str, Channel]]):
    """Channel per notification kind: ``in_app``, ``email`` (at once) or ``digest``."""


_TAGS = ["notifications"]


@api_bp.get("/notifications")
@require_roles(*ALL_ROLES)
@operation(query=NotificationQuery, resp={200: NotificationList}, tags=_TAGS)
def list_notifications(query: NotificationQuery) -> Any:
    """The caller's notifications, newest first, and the unread count."""
    principal = g.principal
    items = centre.list_items(
        db(), principal, unread_only=query.show == "unread", limit=query.limit, offset=query.offset
    )
    return {"unread": centre.unread_count(db(), principal.user_id), "items": [_item_json(i) for i in items]}


@api_bp.post("/notifications/<notification_id>/read")
@require_roles(*ALL_ROLES)
@operation(resp={200: MarkedRead}, errors=(404,), tags=_TAGS)
def mark_notification_read(notification_id: str) -> Any:
    principal = g.principal
    centre.mark_read(db(), principal.user_id, parse_id(notification_id))
    return {"id": notification_id, "read": True, "unread": centre.unread_count(db(), principal.user_id)}


@api_bp.post("/notifications/read-all")
@require_roles(*ALL_ROLES)
@operation(resp={200: MarkedAll}, tags=_TAGS)
def mark_all_notifications_read() -> Any:
    principal = g.principal
    return {"marked": centre.mark_all_read(db(), principal.user_id), "unread": 0}


@api_bp.get("/notifications/preferences")
@require_roles(*ALL_ROLES)
@operation(resp={200: Preferences}, tags=_TAGS)
def get_notification_preferences() -> Any:
    chosen = centre.preferences(db(), g.principal.user_id)
    return {key: mode.value for key, mode in chosen.items()}


@api_bp.put("/notifications/preferences")
@require_roles(*ALL_ROLES)
@operation(json=Preferences, resp={200: Preferences}, tags=_TAGS)
def put_notification_preferences(json: Preferences) -> Any:
    """Set the channel of some kinds (the others keep theirs); an unknown kind is 422."""
    chosen = centre.set_preferences(db(), g.principal.user_id, dict(json.root))
    return {key: mode.value for key, mode in chosen.items()}
