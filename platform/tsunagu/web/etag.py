"""``ETag`` / ``If-Match`` for the API's single resources.

The tag is a digest of the resource's JSON representation, so it changes whenever anything a client can see
changes, with no version column to keep. A change request may send ``If-Match`` with the tag it read; when
the resource has changed since (someone else claimed the task, renamed the org unit), the change is refused
with 412 ``precondition_failed`` and nothing is written. ``If-Match: *`` and no header at all are accepted
(clients opt in).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Response, jsonify, request

from ..core.errors import PreconditionFailed


def etag_of(body: Any) -> str:
    raw = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return '"' + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32] + '"'


def respond(body: Any, status: int = 200) -> Response:
    """``body`` as JSON with its ``ETag``."""
    response = jsonify(body)
    response.status_code = status
    response.headers["ETag"] = etag_of(body)
    return response


def check_if_match(current: Any) -> None:
    """412 unless ``If-Match`` (when sent) names ``current``'s tag."""
    sent = request.headers.get("If-Match")
    if sent is None:
        return
    tags = [t.strip().removeprefix("W/") for t in sent.split(",")]
    if "*" in tags or etag_of(current) in tags:
        return
    raise PreconditionFailed(
        "ほかの変更が先に保存されました。読み直してからやり直してください"
        " / the resource changed since you read it; read it again and retry",
        details={"If-Match": [f"現在の ETag は {etag_of(current)} です"]},
        headers={"ETag": etag_of(current)},
    )
