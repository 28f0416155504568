"""Helpers shared by the HTML pages of every module: tenant blueprints, the acting user, flash messages."""

from __future__ import annotations

import re

from flask import Blueprint

from ..core.errors import Unauthorized
from ..identity.principal import Principal
from .blueprints import _add_tenant, _resolve_tenant
from .requests import parse_id

__all__ = ["current_actor", "in_language", "localize_errors", "parse_id", "tenant_pages"]


def tenant_pages(name: str, import_name: str) -> Blueprint:
    """A blueprint under ``/t/<tenant>/`` whose endpoints are named ``<name>.<view>`` (e.g. ``inbox.index``)."""
    bp = Blueprint(name, import_name, url_prefix="/t/<tenant>")
    bp.url_value_preprocessor(_resolve_tenant)
    bp.url_defaults(_add_tenant)
    return bp


def current_actor() -> Principal:
    """The signed-in principal of this request; 401 when nobody is signed in."""
    from ..identity.auth import current_principal

    principal = current_principal()
    if principal is None:
        raise Unauthorized("サインインしてください / please sign in")
    return principal


def localize_errors(errors: dict[str, list[str]], lang: str) -> dict[str, list[str]]:
    """Service messages are Japanese (the ``forms.validation`` wording); show them in the page's language."""
    from ..forms.validation import MESSAGES

    if lang == "ja" or lang not in MESSAGES:
        return errors
    patterns = []
    for code, template in MESSAGES["ja"].items():
        regex = re.escape(template)
        regex = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>.+?)", regex)
        patterns.append((re.compile(f"^{regex}$"), code))

    def one(message: str) -> str:
        for pattern, code in patterns:
            match = pattern.match(message)
            if match:
                return MESSAGES[lang][code].format(**match.groupdict())
        return message

    return {key: [one(m) for m in messages] for key, messages in errors.items()}


def in_language(message: str, lang: str) -> str:
    """Service messages read ``"日本語 / English"``; keep the half for the page's language."""
    if " / " not in message:
        return message
    japanese, _, english = message.partition(" / ")
    return english.strip() if lang == "en" else japanese.strip()
