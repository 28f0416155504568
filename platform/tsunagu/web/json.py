"""The app's JSON provider: every JSON body the app reads (``request.get_json`` in the API and in htmx
requests) goes through the bounded parser of ``core.limits`` — nested deeper than ``JSON_MAX_DEPTH`` or
holding more than ``JSON_MAX_ITEMS`` values is refused with 400 in the house error shape before anything is
parsed (``json`` itself would raise ``RecursionError`` near 1,000 levels: a 500). Malformed JSON stays a
``ValueError``, which ``get_json(silent=True)`` turns into ``None`` as before."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from ..core import limits


class BoundedJSONProvider(DefaultJSONProvider):
    ensure_ascii = False

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return limits.loads(s)


def init_app(app: Flask) -> None:
    app.json = BoundedJSONProvider(app)
