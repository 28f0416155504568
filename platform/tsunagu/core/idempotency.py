"""``Idempotency-Key``: a POST carried out once per key, however often a client retries it.

A client that timed out cannot know whether its POST (start a case, complete a task) happened. Sending the
same ``Idempotency-Key`` again is safe: the first request's answer is stored **in the same transaction as its
effect** (a row per tenant, user and key), so either both are committed or neither is, and a retry finds the
answer and gets it again instead of doing the work twice.

Concurrent retries: the second request's insert of the same ``(tenant, user, key)`` waits on the unique
index until the first request's transaction ends; then it either finds the stored answer (the first
committed) or takes over the key (the first failed and rolled back, storing nothing). The same key with a
different request (method, path or body) is refused with 409 ``idempotency_key_reused``. Errors are not
stored: a request that failed did nothing and may be retried as it is. Rows older than
:data:`RETENTION` are deleted by :func:`purge_expired` (beat).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, TenantScoped, UTCDateTime, new_id, utcnow
from .errors import AppError, Conflict
from .session import TenantSession

KEY_MAX = 200
RETENTION = timedelta(hours=24)


class IdempotencyRecord(TenantScoped, Base):
    """The answer to the first request made with an ``Idempotency-Key`` (per tenant and user)."""

    __tablename__ = "idempotency_key"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id", "key"),
        Index("ix_idempotency_key_created_at", "tenant_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column()
    key: Mapped[str] = mapped_column(String(KEY_MAX))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of method, path and body
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mimetype: Mapped[str] = mapped_column(String(100), default="application/json")
    etag: Mapped[str] = mapped_column(String(100), default="")
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    mimetype: str
    etag: str
    body: str


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), b"\0", path.encode(), b"\0", body):
        digest.update(part)
    return digest.hexdigest()


def check_key(raw: str) -> str:
    key = raw.strip()
    if not key or len(key) > KEY_MAX or any(ord(c) < 32 for c in key):
        raise AppError(
            f"Idempotency-Key は1〜{KEY_MAX}文字にしてください / the Idempotency-Key must be 1 to {KEY_MAX} characters",
            code="idempotency_key_invalid",
            details={"Idempotency-Key": [f"1〜{KEY_MAX}文字（制御文字なし）"]},
        )
    return key


def begin(
    session: TenantSession, user_id: uuid.UUID, key: str, print_: str
) -> tuple[IdempotencyRecord | None, StoredAnswer | None]:
    """Take ``key`` for this request (``(record, None)``: go on and :func:`finish` it), or find the answer
    of the request that took it first (``(None, answer)``: send that again). 409 when the key was used for
    another request."""
    tenant_id = session.require_tenant_id()
    record = IdempotencyRecord(tenant_id=tenant_id, user_id=user_id, key=key, fingerprint=print_)
    savepoint = session.begin_nested()
    try:
        session.add(record)
        session.flush()  # waits here while a concurrent request with the same key is in its transaction
    except IntegrityError:
        savepoint.rollback()
    else:
        savepoint.commit()
        return record, None
    first = session.execute(
        select(IdempotencyRecord).where(IdempotencyRecord.user_id == user_id, IdempotencyRecord.key == key)
    ).scalar_one()
    if first.fingerprint != print_:
        raise Conflict(
            "この Idempotency-Key は別のリクエストに使われています"
            " / this Idempotency-Key was used for a different request",
            code="idempotency_key_reused",
        )
    if first.status_code is None or first.body is None:  # pragma: no cover - stored with the effect
        raise Conflict(
            "同じ Idempotency-Key のリクエストを処理中です / a request with this key is still in progress",
            code="idempotency_in_progress",
        )
    return None, StoredAnswer(first.status_code, first.mimetype, first.etag, first.body)


def finish(
    session: TenantSession, record: IdempotencyRecord, status_code: int, mimetype: str, etag: str, body: str
) -> None:
    """Store the answer with the request's effect (called before the request's one commit)."""
    record.status_code = status_code
    record.mimetype = mimetype[:100]
    record.etag = etag[:100]
    record.body = body
    session.flush()


def purge_expired(session: TenantSession, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - RETENTION
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
