"""Server-side sessions behind Flask's ``session``.

The cookie carries a random session id (256 bits); the store keeps only its SHA-256 hash with the data, so
``flask.session`` (and Authlib's state, nonce and PKCE verifier kept in it) never travels to the browser.

* **Realms.** Each tenant has its own sessions (cookie ``tsunagu_<slug>``, stored under the tenant: the
  ``user_session`` table with row-level security, or Redis keys carrying the tenant id); platform operators
  have theirs (``/operator/``). A session of tenant A is unknown at tenant B: there is no way to carry one
  across. The JSON API never opens a session (it authenticates bearer tokens).
* **Stores.** Redis when ``TSUNAGU_REDIS_URL`` is set (production), the database otherwise (the demo).
* **Timeouts.** Idle (``TSUNAGU_SESSION_IDLE_MINUTES``) and absolute (``TSUNAGU_SESSION_ABSOLUTE_HOURS``),
  checked on every request against :func:`~tsunagu.identity.state.now`, which tests can move.
* **Rotation.** Sign-in starts a new session under a new id (:func:`start_user_session`); the anonymous one
  that carried the sign-in state is deleted, so a session id planted before sign-in is worthless after it.
* **Cookies.** HttpOnly, SameSite=Lax, Secure (and the ``__Host-`` prefix) in production; no expiry date
  (the browser forgets it when closed; the server forgets it at the timeouts).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from flask import Flask, Request, g, session
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete, or_, select, update
from werkzeug.datastructures import CallbackDict
from werkzeug.wrappers import Response

from ..core.db import new_id
from ..core.runtime import Runtime
from ..core.session import transaction
from .models import OperatorSession, UserSession

log = logging.getLogger("tsunagu.identity.sessions")

#: Refresh ``last_seen_at`` at most this often (a write per request would be wasteful).
TOUCH_EVERY = timedelta(seconds=60)
_TENANT_PATH = re.compile(r"^/t/([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:/(.*))?$")


def _aware(value: datetime) -> datetime:
    # SQLite (the demo) hands timestamps back without a time zone; they were written in UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def hash_session_id(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


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


# --- the Flask session -------------------------------------------------------------------------------------


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """``flask.session`` of a realm: a dict whose content lives in the store."""

    def __init__(
        self,
        realm: Realm,
        record: SessionRecord | None = None,
        session_hash: str | None = None,
        *,
        expired: bool = False,
    ) -> None:
        def on_update(this: CallbackDict[str, Any]) -> None:
            this.modified = True  # type: ignore[attr-defined]
            this.accessed = True  # type: ignore[attr-defined]

        super().__init__(record.data if record else {}, on_update)
        self.realm = realm
        self.record = record
        self.session_hash = session_hash if record else None
        self.modified = False
        self.accessed = False
        #: A cookie came in but its session had ended or timed out (the sign-in page says so).
        self.expired = expired
        self.had_cookie = session_hash is not None
        self.rotate_requested = False
        self.end_requested = False
        self.new_user_id: uuid.UUID | None = None

    @property
    def record_id(self) -> uuid.UUID | None:
        return self.record.id if self.record else None

    @property
    def user_id(self) -> uuid.UUID | None:
        return self.record.user_id if self.record else None


@dataclass(frozen=True)
class _Timeouts:
    idle: timedelta
    absolute: timedelta


class TenantSessionInterface(SessionInterface):
    """Opens the realm's server-side session for ``/t/<slug>/...`` pages and ``/operator/...``."""

    def __init__(self, runtime: Runtime, store: SessionStore) -> None:
        self.runtime = runtime
        self.store = store
        settings = runtime.settings
        self.secure = settings.env == "production"
        self.timeouts = _Timeouts(
            idle=timedelta(minutes=settings.session_idle_minutes),
            absolute=timedelta(hours=settings.session_absolute_hours),
        )

    def cookie_name_for(self, realm: Realm) -> str:
        base = f"tsunagu_{realm.slug}" if realm.slug else "tsunagu_operator"
        # ``__Host-``: the browser accepts it only from this exact host, over HTTPS, for path "/".
        return f"__Host-{base}" if self.secure else base

    def realm_for(self, request: Request) -> Realm | None:
        path = request.path
        if path == "/operator" or path.startswith("/operator/"):
            return Realm(tenant_id=None, slug=None)
        match = _TENANT_PATH.match(path)
        if not match:
            return None
        rest = match.group(2) or ""
        if rest == "api" or rest.startswith("api/"):
            return None  # the JSON API authenticates bearer tokens, never cookies
        from ..tenancy.services import resolve_active_tenant

        ref = resolve_active_tenant(self.runtime, match.group(1))
        if ref is None:
            return None
        return Realm(tenant_id=ref.id, slug=ref.slug)

    def open_session(self, app: Flask, request: Request) -> ServerSession | None:  # type: ignore[override]
        try:
            return self._open(request)
        except Exception:
            # The store (database or Redis) is unreachable: serve the request without a session, so the
            # error page can still be rendered; nobody is signed in meanwhile.
            log.exception("cannot open the session")
            return None

    def _open(self, request: Request) -> ServerSession | None:
        from .state import now

        realm = self.realm_for(request)
        if realm is None:
            return None
        sid = request.cookies.get(self.cookie_name_for(realm))
        if not sid or len(sid) > 128:
            return ServerSession(realm)
        session_hash = hash_session_id(sid)
        record = self.store.load(realm, session_hash)
        if record is None:
            return ServerSession(realm, session_hash=session_hash, expired=True)
        current = now()
        if (
            current - record.last_seen_at > self.timeouts.idle
            or current - record.created_at > self.timeouts.absolute
        ):
            self.store.delete(realm, session_hash)
            return ServerSession(realm, session_hash=session_hash, expired=True)
        if current - record.last_seen_at >= TOUCH_EVERY:
            record.last_seen_at = current
            self.store.touch(realm, session_hash, current)
        return ServerSession(realm, record, session_hash)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:  # type: ignore[override]
        from .state import now

        if not isinstance(session, ServerSession):
            return
        realm = session.realm
        name = self.cookie_name_for(realm)
        if session.end_requested or session.rotate_requested:
            if session.record is not None and session.session_hash:
                self.store.delete(realm, session.session_hash)
            session.record = None
            session.session_hash = None
        if session.end_requested:
            if session.had_cookie:
                response.delete_cookie(name, path="/", secure=self.secure, httponly=True, samesite="Lax")
            return
        if session.record is None:
            if not dict(session):
                if session.expired and session.had_cookie:
                    response.delete_cookie(name, path="/", secure=self.secure, httponly=True, samesite="Lax")
                return
            current = now()
            if session.rotate_requested:
                # A sign-in: a good moment to forget the realm's timed-out sessions (after the request's
                # commit, so SQLite's single writer is free).
                self.store.purge_expired(
                    realm, current - self.timeouts.idle, current - self.timeouts.absolute
                )
            sid = secrets.token_urlsafe(32)
            record = SessionRecord(
                id=new_id(),
                user_id=session.new_user_id,
                data=dict(session),
                created_at=current,
                last_seen_at=current,
            )
            self.store.create(realm, hash_session_id(sid), record, self.timeouts.absolute)
            response.set_cookie(name, sid, path="/", secure=self.secure, httponly=True, samesite="Lax")
            response.vary.add("Cookie")
            return
        if session.modified and session.session_hash:
            session.record.data = dict(session)
            self.store.save(realm, session.session_hash, session.record)


# --- helpers for views ---------------------------------------------------------------------------------


def _server_session() -> ServerSession | None:
    try:
        current = session._get_current_object()  # type: ignore[attr-defined]
    except (AssertionError, RuntimeError):  # no request, or opening the session itself failed
        return None
    return current if isinstance(current, ServerSession) else None


def session_record_id() -> uuid.UUID | None:
    current = _server_session()
    return current.record_id if current is not None else None


def session_expired() -> bool:
    current = _server_session()
    return current is not None and current.expired


def start_user_session(user_id: uuid.UUID | None, data: dict[str, Any]) -> None:
    """Sign-in: drop the anonymous session and start a new one, under a new id, holding ``data``."""
    current = _server_session()
    if current is None:
        raise RuntimeError("no server-side session in this request")
    current.clear()
    current.rotate_requested = True
    current.new_user_id = user_id
    current.update(data)
    g.pop("principal", None)


def end_current_session() -> None:
    """Sign-out (or a deactivated user): the session ends now, server-side, and the cookie is removed."""
    current = _server_session()
    if current is not None:
        current.clear()
        current.end_requested = True
    g.principal = None


def end_user_sessions(tenant_id: uuid.UUID, user_id: uuid.UUID) -> int:
    """Every session of a user (deactivation): they end at once, wherever the browsers are."""
    from .state import identity_state

    return identity_state().store.delete_for_user(Realm(tenant_id=tenant_id, slug=None), user_id)


def purge_expired_sessions(tenant_id: uuid.UUID | None) -> int:
    """Delete the realm's sessions past a timeout (the database store; Redis keys expire by themselves)."""
    from .state import identity_state, now

    state = identity_state()
    timeouts = state.sessions.timeouts
    at = now()
    realm = Realm(tenant_id=tenant_id, slug=None)
    return state.store.purge_expired(realm, at - timeouts.idle, at - timeouts.absolute)
