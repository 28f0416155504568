"""Where server-side sessions are kept: Redis when ``TSUNAGU_REDIS_URL`` is set (production), the database
otherwise (the demo).

A store knows nothing of cookies or timeouts: it keeps records under a realm and the SHA-256 hash of the
session id, and :mod:`tsunagu.identity.sessions` decides what is valid against the application's clock.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, or_, select, update

from ..core.runtime import Runtime
from ..core.session import transaction
from .models import OperatorSession, UserSession

__all__ = [
    "DatabaseSessionStore",
    "Realm",
    "RedisSessionStore",
    "SessionRecord",
    "SessionStore",
    "make_store",
]


def _aware(value: datetime) -> datetime:
    # SQLite (the demo) hands timestamps back without a time zone; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Realm:
    """Whose sessions: a tenant's (``tenant_id``) or the platform operators' (``tenant_id=None``)."""

    tenant_id: uuid.UUID | None
    slug: str | None

    @property
    def key(self) -> str:
        return f"t:{self.tenant_id}" if self.tenant_id else "operator"


@dataclass
class SessionRecord:
    id: uuid.UUID
    user_id: uuid.UUID | None
    data: dict[str, Any]
    created_at: datetime
    last_seen_at: datetime


# --- stores ---------------------------------------------------------------------------------------------


class SessionStore(Protocol):
    def load(self, realm: Realm, session_hash: str) -> SessionRecord | None: ...

    def create(self, realm: Realm, session_hash: str, record: SessionRecord, ttl: timedelta) -> None: ...

    def save(self, realm: Realm, session_hash: str, record: SessionRecord) -> None: ...

    def touch(self, realm: Realm, session_hash: str, at: datetime) -> None: ...

    def delete(self, realm: Realm, session_hash: str) -> None: ...

    def delete_for_user(self, realm: Realm, user_id: uuid.UUID) -> int: ...

    def purge_expired(self, realm: Realm, idle_before: datetime, created_before: datetime) -> int: ...


class DatabaseSessionStore:
    """``user_session`` / ``operator_session``: each call is its own short transaction."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def _model(self, realm: Realm) -> type[UserSession] | type[OperatorSession]:
        return UserSession if realm.tenant_id else OperatorSession

    def load(self, realm: Realm, session_hash: str) -> SessionRecord | None:
        model = self._model(realm)
        with transaction(self.runtime.sessions, realm.tenant_id) as db:
            row: Any = db.execute(
                select(model).where(model.session_hash == session_hash)
            ).scalar_one_or_none()
            if row is None:
                return None
            return SessionRecord(
                id=row.id,
                user_id=getattr(row, "user_id", None),
                data=dict(row.data or {}),
                created_at=_aware(row.created_at),
                last_seen_at=_aware(row.last_seen_at),
            )

    def create(self, realm: Realm, session_hash: str, record: SessionRecord, ttl: timedelta) -> None:
        with transaction(self.runtime.sessions, realm.tenant_id) as db:
            if realm.tenant_id:
                db.add(
                    UserSession(
                        tenant_id=realm.tenant_id,
                        id=record.id,
                        session_hash=session_hash,
                        user_id=record.user_id,
                        data=record.data,
                        created_at=record.created_at,
                        last_seen_at=record.last_seen_at,
                    )
                )
            else:
                db.add(
                    OperatorSession(
                        id=record.id,
                        session_hash=session_hash,
                        data=record.data,
                        created_at=record.created_at,
                        last_seen_at=record.last_seen_at,
                    )
                )

    def save(self, realm: Realm, session_hash: str, record: SessionRecord) -> None:
        model = self._model(realm)
        with transaction(self.runtime.sessions, realm.tenant_id) as db:
            db.execute(
                update(model)
                .where(model.session_hash == session_hash)
                .values(data=record.data, last_seen_at=record.last_seen_at)
            )

    def touch(self, realm: Realm, session_hash: str, at: datetime) -> None:
        model = self._model(realm)
        with transaction(self.runtime.sessions, realm.tenant_id) as db:
            db.execute(update(model).where(model.session_hash == session_hash).values(last_seen_at=at))

    def delete(self, realm: Realm, session_hash: str) -> None:
        model = self._model(realm)
        with transaction(self.runtime.sessions, realm.tenant_id) as db:
            db.execute(delete(model).where(model.session_hash == session_hash))

    def delete_for_user(self, realm: Realm, user_id: uuid.UUID) -> int:
        if realm.tenant_id is None:
            return 0
        with transaction(self.runtime.sessions, realm.tenant_id) as db:
            result = db.execute(delete(UserSession).where(UserSession.user_id == user_id))
            return int(getattr(result, "rowcount", 0) or 0)

    def purge_expired(self, realm: Realm, idle_before: datetime, created_before: datetime) -> int:
        model = self._model(realm)
        with transaction(self.runtime.sessions, realm.tenant_id) as db:
            result = db.execute(
                delete(model).where(or_(model.last_seen_at < idle_before, model.created_at < created_before))
            )
            return int(getattr(result, "rowcount", 0) or 0)


class RedisSessionStore:
    """``tsunagu:<realm>:session:<hash>`` → JSON; ``tsunagu:<realm>:user:<id>:sessions`` → set of hashes.

    Keys expire (real time) at the absolute timeout; the timeouts themselves are checked by the application
    against its clock, like the database store.
    """

    def __init__(self, url: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)

    @staticmethod
    def _key(realm: Realm, session_hash: str) -> str:
        return f"tsunagu:{realm.key}:session:{session_hash}"

    @staticmethod
    def _user_key(realm: Realm, user_id: uuid.UUID) -> str:
        return f"tsunagu:{realm.key}:user:{user_id}:sessions"

    @staticmethod
    def _dump(record: SessionRecord) -> str:
        return json.dumps(
            {
                "id": str(record.id),
                "user_id": str(record.user_id) if record.user_id else None,
                "data": record.data,
                "created_at": record.created_at.isoformat(),
                "last_seen_at": record.last_seen_at.isoformat(),
            }
        )

    def load(self, realm: Realm, session_hash: str) -> SessionRecord | None:
        raw = self.redis.get(self._key(realm, session_hash))
        if raw is None:
            return None
        value = json.loads(raw)
        return SessionRecord(
            id=uuid.UUID(value["id"]),
            user_id=uuid.UUID(value["user_id"]) if value.get("user_id") else None,
            data=value.get("data") or {},
            created_at=_aware(datetime.fromisoformat(value["created_at"])),
            last_seen_at=_aware(datetime.fromisoformat(value["last_seen_at"])),
        )

    def create(self, realm: Realm, session_hash: str, record: SessionRecord, ttl: timedelta) -> None:
        seconds = max(int(ttl.total_seconds()), 1)
        pipe = self.redis.pipeline()
        pipe.set(self._key(realm, session_hash), self._dump(record), ex=seconds)
        if record.user_id:
            user_key = self._user_key(realm, record.user_id)
            pipe.sadd(user_key, session_hash)
            pipe.expire(user_key, seconds)
        pipe.execute()

    def save(self, realm: Realm, session_hash: str, record: SessionRecord) -> None:
        self.redis.set(self._key(realm, session_hash), self._dump(record), keepttl=True, xx=True)

    def touch(self, realm: Realm, session_hash: str, at: datetime) -> None:
        record = self.load(realm, session_hash)
        if record is not None:
            record.last_seen_at = at
            self.save(realm, session_hash, record)

    def delete(self, realm: Realm, session_hash: str) -> None:
        record = self.load(realm, session_hash)
        pipe = self.redis.pipeline()
        pipe.delete(self._key(realm, session_hash))
        if record is not None and record.user_id:
            pipe.srem(self._user_key(realm, record.user_id), session_hash)
        pipe.execute()

    def delete_for_user(self, realm: Realm, user_id: uuid.UUID) -> int:
        user_key = self._user_key(realm, user_id)
        hashes = [h.decode() if isinstance(h, bytes) else str(h) for h in self.redis.smembers(user_key)]
        if not hashes:
            return 0
        removed = int(self.redis.delete(*(self._key(realm, h) for h in hashes)))
        self.redis.delete(user_key)
        return removed

    def purge_expired(self, realm: Realm, idle_before: datetime, created_before: datetime) -> int:
        return 0  # keys expire by themselves


def make_store(runtime: Runtime) -> SessionStore:
    if runtime.settings.redis_url:
        return RedisSessionStore(runtime.settings.redis_url)
    return DatabaseSessionStore(runtime)
