"""``/t/<tenant>/api/v1/openapi.json``: the API described for clients (OpenAPI 3.1), generated from the
operations declared in code (``web.api.operation``), with ``servers`` from ``TSUNAGU_PUBLIC_URL`` — never from
the request's Host header."""

from __future__ import annotations

from flask import Response, g, jsonify, render_template, url_for

from . import api
from .blueprints import tenant_bp
from .errors import ERROR_CODES
from .requests import runtime

DESCRIPTION = """生活困窮者自立支援 casework API of Tsunagu.

Authenticate with `Authorization: Bearer <token>` (tenant admins create tokens at `/t/<slug>/admin/tokens`
or with `POST users/{id}/tokens`).

**Errors** are always `{"error": {"code", "message", "details"}}` — `message` in the request's
`Accept-Language` (Japanese by default, English), `details` a list of `{field | file, line, element, code,
message}`. Not found and forbidden follow one rule: an object the caller may not know of (another ward's case
or task) is **404**, existence hidden; an action the caller's roles do not allow on an object they may see is
**403**.

**Concurrency**: single resources carry an `ETag`; send it back in `If-Match` on a change (a stale one: 412).
**Retries**: a POST with an `Idempotency-Key` header (1–200 characters) is carried out once; retrying it with
the same key and body answers the first answer again (`Idempotent-Replayed: true`).

**Lists** return at most `limit` items and, when there are more, a `Link: <…>; rel="next"` header and the
`Next-Cursor` header, whose value is passed back as `cursor`.

| code | meaning |
|---|---|
""" + "\n".join(f"| `{code}` | {meaning} |" for code, meaning in ERROR_CODES.items())


@tenant_bp.get("/api/docs")
def api_docs() -> str:
    """The API reference, rendered in the browser by Swagger UI from ``openapi.json`` (served locally)."""
    return render_template("api/docs.html", spec_url=url_for("tenant.openapi_json"))


@tenant_bp.get("/api/v1/openapi.json")
def openapi_json() -> Response:
    server = f"{runtime().settings.public_url}/t/{g.tenant.slug}/api/v1"
    return jsonify(api.document(server, description=DESCRIPTION))
