"""Host-based tenant resolution: ``<slug>.<base domain>/x`` is served as ``/t/<slug>/x``.

Rewriting at the WSGI layer means every route exists once, under ``/t/<slug>/``, and both URL forms reach it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_UNTENANTED = ("/healthz", "/readyz", "/static/")
#: Where a host/path tenant mismatch is sent: nothing is served under it.
MISMATCH_PREFIX = "/__tenant_mismatch__"


class TenantHostMiddleware:
    def __init__(self, app: Callable[..., Iterable[bytes]], base_domain: str) -> None:
        self.app = app
        self.base_domain = base_domain.split(":")[0].lower()

    def tenant_from_host(self, host: str) -> str | None:
        host = host.split(":")[0].lower().rstrip(".")
        suffix = "." + self.base_domain
        if not host.endswith(suffix):
            return None
        label = host[: -len(suffix)]
        if "." in label or not _SLUG.match(label) or label == "www":
            return None
        return label

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        slug = self.tenant_from_host(environ.get("HTTP_HOST") or environ.get("SERVER_NAME", ""))
        if slug:
            path = environ.get("PATH_INFO", "") or "/"
            if path.startswith("/t/"):
                # A tenant host asking for another tenant's path form would be confusing at best: no route
                # serves it (404), and keeping the path tells the error handlers an API client asked (JSON).
                if not (path == f"/t/{slug}" or path.startswith(f"/t/{slug}/")):
                    environ["PATH_INFO"] = MISMATCH_PREFIX + path
            elif not path.startswith(_UNTENANTED):
                environ["PATH_INFO"] = f"/t/{slug}{path}"
        return self.app(environ, start_response)
