"""Where a page may send the person next: a path inside the tenant, nothing else (issue #10).

``next`` comes from a query string or a form field and ends up in a ``Location`` header. Refused (the caller
falls back to the tenant's home): control characters and whitespace (CR/LF would inject a header; Werkzeug
answers 500 for them), a scheme or host (``https://``, ``//host``, ``\\``), dot segments — also percent-encoded,
which browsers resolve (``/t/a/%2e%2e/b/``) — and any path outside ``/t/<slug>/``.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

MAX_NEXT = 2000
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029\\]")


def safe_tenant_path(raw: str | None, slug: str) -> str | None:
    """``raw`` when it is a path of tenant ``slug`` (with its query), else ``None``."""
    if not raw or len(raw) > MAX_NEXT or not raw.startswith(f"/t/{slug}"):
        return None
    if _UNSAFE.search(raw):
        return None
    parts = urlsplit(raw)
    path = unquote(parts.path)  # what the browser resolves: %2e%2e is a dot segment there
    if parts.scheme or parts.netloc or "//" in parts.path or _UNSAFE.search(path):
        return None
    segments = path.split("/")
    if any(segment in (".", "..") for segment in segments):
        return None
    if not (parts.path == f"/t/{slug}" or parts.path.startswith(f"/t/{slug}/")):
        return None
    return raw
