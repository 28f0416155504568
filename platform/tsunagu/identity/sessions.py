"""Server-side sessions behind Flask's ``session``.

The cookie carries a random session id (256 bits); the store keeps only its SHA-256 hash with the data, so
``flask.session`` (and Authlib's state, nonce and PKCE verifier kept in it) never travels to the browser.

* **Realms.** Each tenant has its own sessions (cookie ``tsunagu_<slug>``, stored under the tenant: the
  ``user_session`` table with row-level security); platform operators have theirs (``/operator/``). A
  session of tenant A is unknown at tenant B: there is no way to carry one across. The JSON API never opens a
  session (it authenticates bearer tokens).
* **Store.** PostgreSQL, in production as in the demo (:mod:`~tsunagu.identity.session_stores` says why):
  a Redis outage signs nobody out. When the database itself cannot be reached the request is answered 503
  and the session is left as it was — never treated as signed out.
* **Timeouts.** Idle (``TSUNAGU_SESSION_IDLE_MINUTES``) and absolute (``TSUNAGU_SESSION_ABSOLUTE_HOURS``),
  checked on every request against :func:`~tsunagu.identity.state.now`, which tests can move.
* **Rotation.** Sign-in starts a new session under a new id (:func:`start_user_session`); the anonymous one
  that carried the sign-in state is deleted, so a session id planted before sign-in is worthless after it.
* **Cookies.** HttpOnly, SameSite=Lax, Secure (and the ``__Host-`` prefix) in production; no expiry date
  (the browser forgets it when closed; the server forgets it at the timeouts).

The store is in :mod:`tsunagu.identity.session_stores`; this module is the Flask session interface, the
timeouts and the functions views call.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask, Request, g, session
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict
from werkzeug.wrappers import Response

from ..core.db import new_id
from ..core.runtime import Runtime
from .session_stores import (
    DatabaseSessionStore,
    Realm,
    SessionRecord,
    SessionStore,
    make_store,
)

__all__ = [
    "TOUCH_EVERY",
    "DatabaseSessionStore",
    "Realm",
    "ServerSession",
    "SessionRecord",
    "SessionStore",
    "TenantSessionInterface",
    "end_current_session",
    "end_user_sessions",
    "hash_session_id",
    "make_store",
    "purge_expired_sessions",
    "session_expired",
    "session_record_id",
    "start_user_session",
]

log = logging.getLogger("tsunagu.identity.sessions")

#: Refresh ``last_seen_at`` at most this often (a write per request would be wasteful).
TOUCH_EVERY = timedelta(seconds=60)
_TENANT_PATH = re.compile(r"^/t/([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:/(.*))?$")


def hash_session_id(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


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
        from ..core.db import is_database_unavailable
        from ..web.requests import note_database_unavailable

        try:
            return self._open(request)
        except Exception as exc:
            if is_database_unavailable(exc):
                # Not "signed out": the request is answered 503 before any view runs (web.requests), and the
                # session is neither read nor written, so it is still there when the database returns.
                log.warning("cannot open the session, database unavailable: %s", exc)
                note_database_unavailable()
            else:
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
        from ..web.requests import database_unavailable_seen
        from .state import now

        if not isinstance(session, ServerSession) or database_unavailable_seen():
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
    """Delete the realm's sessions past a timeout."""
    from .state import identity_state, now

    state = identity_state()
    timeouts = state.sessions.timeouts
    at = now()
    realm = Realm(tenant_id=tenant_id, slug=None)
    return state.store.purge_expired(realm, at - timeouts.idle, at - timeouts.absolute)
