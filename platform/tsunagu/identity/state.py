"""The identity module's per-application state: session store, OpenID clients, rate limiter, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app

from ..core.db import utcnow
from ..core.runtime import Runtime
from .oidc import ClientRegistry
from .ratelimit import RateLimiter
from .sessions import SessionStore, TenantSessionInterface

EXTENSION = "tsunagu.identity"


@dataclass
class IdentityState:
    runtime: Runtime
    store: SessionStore
    sessions: TenantSessionInterface
    clients: ClientRegistry
    limiter: RateLimiter
    #: "Now" for session timeouts; tests replace it (``set_clock``) to move time without waiting.
    clock: Callable[[], datetime] = utcnow


def identity_state(app: Flask | None = None) -> IdentityState:
    state: IdentityState = (app or current_app).extensions[EXTENSION]
    return state


def now() -> datetime:
    return identity_state().clock()


def set_clock(app: Flask, clock: Callable[[], datetime]) -> None:
    """Tests: make ``clock`` the application's notion of now (for session timeouts)."""
    identity_state(app).clock = clock
