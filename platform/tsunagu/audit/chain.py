"""The chain's arithmetic: canonical form of an entry and its HMAC. No database here."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC
from typing import Any

from .models import AuditEntry

#: ``prev_hash`` of a tenant's first entry.
GENESIS = "0" * 64


def canonical(entry: AuditEntry) -> bytes:
    """The entry as sorted-key JSON (compact, UTF-8): every field the hash covers, its number included."""
    body: dict[str, Any] = {
        "seq": entry.seq,
        "id": str(entry.id),
        "tenant_id": str(entry.tenant_id),
        "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": str(entry.actor_id) if entry.actor_id else None,
        "actor_label": entry.actor_label,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "case_id": str(entry.case_id) if entry.case_id else None,
        "legal_basis": entry.legal_basis,
        "details": entry.details,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(key: bytes, prev_hash: str, entry: AuditEntry) -> str:
    return hmac.new(key, prev_hash.encode("ascii") + canonical(entry), hashlib.sha256).hexdigest()


def json_safe(details: dict[str, Any] | None) -> dict[str, Any]:
    """``details`` as it will read back from the JSON column (so the hash computed now is the one verified)."""
    if not details:
        return {}
    loaded: dict[str, Any] = json.loads(json.dumps(details, default=str, ensure_ascii=False))
    return loaded
