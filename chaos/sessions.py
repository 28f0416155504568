"""A signed-in browser session, to see whether it survives a fault (issue #10, item 8: "Redis down signs
everyone out").

Signing in goes through a tenant's OpenID provider, which the suite does not run; so the session is written
the way the sign-in callback writes it — through the product's own session store (``make_store``: Redis in
production) under the tenant's realm, the SHA-256 hash of a random id as its key, the user's id in it — and
the browser's part is the cookie with the random id. The probe then asks for the inbox page with that cookie:
signed in means the page itself (200), signed out means the redirect to the sign-in page.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .load import request


@dataclass(frozen=True)
class BrowserSession:
    cookie_name: str
    sid: str
    slug: str

    @property
    def header(self) -> str:
        return f"{self.cookie_name}={self.sid}"


def sign_in(runtime: Any, tenant_id: uuid.UUID, slug: str, user_id: uuid.UUID) -> BrowserSession:
    """A session for ``user_id`` in the tenant's realm, as the sign-in callback starts one."""
    import tsunagu.models  # noqa: F401 - every mapper, as the web process has them (a session row refers to its tenant)
    from tsunagu.core.db import utcnow
    from tsunagu.identity.auth import SESSION_USER_KEY
    from tsunagu.identity.session_stores import Realm, SessionRecord, make_store
    from tsunagu.identity.sessions import hash_session_id

    settings = runtime.settings
    realm = Realm(tenant_id=tenant_id, slug=slug)
    sid = secrets.token_urlsafe(32)
    now = utcnow()
    record = SessionRecord(
        id=uuid.uuid4(),
        user_id=user_id,
        data={SESSION_USER_KEY: str(user_id)},
        created_at=now,
        last_seen_at=now,
    )
    make_store(runtime).create(
        realm, hash_session_id(sid), record, timedelta(hours=settings.session_absolute_hours)
    )
    base = f"tsunagu_{slug}"
    name = f"__Host-{base}" if settings.env == "production" else base
    return BrowserSession(name, sid, slug)


@dataclass(frozen=True)
class Answer:
    signed_in: bool
    #: the response told the browser to forget the cookie (a browser would be signed out for good)
    cookie_deleted: bool
    text: str


def ask(port: int, session: BrowserSession, timeout: float = 5.0) -> Answer:
    """The inbox page with the session's cookie: signed in (200) or not, and whether the cookie was deleted."""
    try:
        response = request(
            port,
            "GET",
            f"/t/{session.slug}/inbox",
            timeout=timeout,
            headers={"Cookie": session.header, "Accept": "text/html"},
        )
    except OSError as exc:
        return Answer(False, False, type(exc).__name__)
    cookie = response.headers.get("set-cookie", "")
    deleted = cookie.startswith(session.cookie_name + "=") and (
        "Max-Age=0" in cookie or "expires=Thu, 01 Jan 1970" in cookie
    )
    location = response.headers.get("location", "")
    text = f"{response.status} {location}".strip() + (" (cookie deleted)" if deleted else "")
    return Answer(response.status == 200, deleted, text)
