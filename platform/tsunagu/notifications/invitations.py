"""The invitation e-mail of a user an administrator pre-registered (``identity.admin_views.admin_invite``).

Identity sits below this module and never imports it: it reports ``admin.change`` with ``change="invite"``
through ``identity.events``, and this listener notifies the new user in the same request's transaction (the
mail leaves through the outbox after the commit, like every other notification). The mail carries no personal
data beyond the address it goes to: the tenant, and the link to sign in.
"""

from __future__ import annotations

import uuid

from ..identity import events
from .kinds import Kind, register_kind
from .models import Mode

USER_INVITATION = register_kind(
    Kind(
        "user.invitation",
        "つなぐへの招待",
        "Invitation to Tsunagu",
        template="user_invitation",
        default_mode=Mode.EMAIL,
        modes=(Mode.EMAIL,),
        in_app=False,
    )
)


def on_identity_event(event: events.SecurityEvent) -> None:
    if event.action != "admin.change" or event.details.get("change") != "invite":
        return
    from ..web.requests import db
    from .services import notify

    user_id = uuid.UUID(str(event.details["user"]))
    notify(db(), USER_INVITATION.key, [user_id], "inbox", key=f"user.invitation:{user_id}")


def init_app() -> None:
    events.subscribe(on_identity_event)
