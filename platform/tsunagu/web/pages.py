"""Helpers shared by the HTML pages of every module: tenant blueprints, the acting user, flash messages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from ..core.errors import Unauthorized
from .blueprints import _add_tenant, _resolve_tenant
from .hooks import hooks
from .requests import parse_id

__all__ = ["current_actor", "in_language", "parse_id", "tenant_pages"]


def tenant_pages(name: str, import_name: str) -> Blueprint:
    """A blueprint under ``/t/<tenant>/`` whose endpoints are named ``<name>.<view>`` (e.g. ``inbox.index``)."""
    bp = Blueprint(name, import_name, url_prefix="/t/<tenant>")
    bp.url_value_preprocessor(_resolve_tenant)
    bp.url_defaults(_add_tenant)
    return bp


def current_actor() -> Any:
    """The signed-in principal (``identity.principal.Principal``) of this request; 401 when nobody is."""
    principal = hooks().current_principal()
    if principal is None:
        raise Unauthorized("サインインしてください / please sign in")
    return principal


def in_language(message: str, lang: str) -> str:
    """Service messages read ``"日本語 / English"``; keep the half for the page's language."""
    if " / " not in message:
        return message
    japanese, _, english = message.partition(" / ")
    return english.strip() if lang == "en" else japanese.strip()
