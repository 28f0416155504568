"""Where server-side sessions are kept: PostgreSQL (the ``user_session`` table, under row-level security, and
``operator_session``), in production as in the demo.

Not Redis: a Redis outage used to sign every browser user out and make sign-in answer 500, and a Redis
restart without persistence lost every session. In the database a session lives exactly as long as the data
it gives access to, and the web process needs nothing but PostgreSQL to serve a signed-in user; Redis carries
only background work and sign-in rate limits, both of which degrade without it.

A store knows nothing of cookies or timeouts: it keeps records under a realm and the SHA-256 hash of the
session id, and :mod:`tsunagu.identity.sessions` decides what is valid against the application's clock.
"""

from __future__ import annotations

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


def make_store(runtime: Runtime) -> SessionStore:
    return DatabaseSessionStore(runtime)
