"""Security events identity reports — sign-ins, failed sign-ins, sign-outs, permission denials — without knowing
who records them. The audit trail subscribes from the app's wiring (``audit.web``); identity sits below it and
never imports it. With no subscriber an event is only logged, as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SecurityEvent:
    #: ``auth.sign_in`` | ``auth.sign_in_failed`` | ``auth.sign_out`` | ``permission.denied``
    action: str
    user_id: uuid.UUID | None = None
    #: who, readable (an e-mail address; ``anonymous`` before anyone is known)
    label: str = ""
    details: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[SecurityEvent], None]
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> None:
    """Call ``listener`` with every event from now on (once however often it subscribes)."""
    if listener not in _listeners:
        _listeners.append(listener)


def emit(event: SecurityEvent) -> None:
    for listener in list(_listeners):
        listener(event)


def principal_event(action: str, principal: Any, **details: Any) -> SecurityEvent:
    return SecurityEvent(
        action,
        getattr(principal, "user_id", None),
        str(getattr(principal, "email", "") or getattr(principal, "user_id", "") or "anonymous"),
        details,
    )
