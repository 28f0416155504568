"""The kinds of notification: each registered once with its labels, its e-mail template and default channel.

A module that notifies about something new registers its kind (``register_kind``) next to the code that calls
``notify``; the kinds of this module are the ones every later capability shares: a task handed to someone, an
escalation, the daily digest, and meeting invitations (``.ics``) for the meetings module.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Mode

__all__ = [
    "DIGEST",
    "MEETING_CANCELLED",
    "MEETING_INVITATION",
    "TASK_ASSIGNED",
    "TASK_ESCALATED",
    "Kind",
    "all_kinds",
    "get_kind",
    "register_kind",
]


@dataclass(frozen=True)
class Kind:
    key: str
    label_ja: str
    label_en: str
    #: mail templates ``mail/<template>.subject.<lang>.txt`` and ``mail/<template>.body.<lang>.txt``
    template: str
    default_mode: Mode = Mode.EMAIL
    #: the modes a user may choose for this kind (the first is shown first)
    modes: tuple[Mode, ...] = (Mode.EMAIL, Mode.DIGEST, Mode.IN_APP)
    #: listed in the in-app centre and counted by the bell
    in_app: bool = True
    #: carries a calendar invitation (``calendar.py``)
    calendar: bool = False

    def label(self, lang: str) -> str:
        return self.label_en if lang == "en" else self.label_ja


_kinds: dict[str, Kind] = {}


def register_kind(kind: Kind) -> Kind:
    existing = _kinds.get(kind.key)
    if existing is not None and existing != kind:
        raise ValueError(f"notification kind {kind.key!r} is already registered differently")
    if kind.default_mode not in kind.modes:
        raise ValueError(f"notification kind {kind.key!r}: default mode {kind.default_mode} not in its modes")
    _kinds[kind.key] = kind
    return kind


def get_kind(key: str) -> Kind:
    try:
        return _kinds[key]
    except KeyError:
        known = ", ".join(sorted(_kinds))
        raise ValueError(f"unknown notification kind {key!r}; registered: {known}") from None


def all_kinds() -> list[Kind]:
    return list(_kinds.values())


TASK_ASSIGNED = register_kind(
    Kind(
        "task.assigned",
        "タスクが割り当てられました",
        "A task was assigned to you",
        template="task_assigned",
    )
)
TASK_ESCALATED = register_kind(
    Kind(
        "task.escalated",
        "期限を過ぎたタスクのエスカレーション",
        "An overdue task was escalated to you",
        template="task_escalated",
    )
)
#: The daily reminder e-mail itself: not listed in-app (the inbox is the list); "in-app only" turns it off.
DIGEST = register_kind(
    Kind(
        "digest",
        "毎朝のお知らせ（期限のタスク）",
        "Daily digest (tasks due)",
        template="digest",
        modes=(Mode.EMAIL, Mode.IN_APP),
        in_app=False,
    )
)
MEETING_INVITATION = register_kind(
    Kind(
        "meeting.invitation",
        "会議の招集",
        "Meeting invitation",
        template="meeting_invitation",
        modes=(Mode.EMAIL, Mode.IN_APP),
        calendar=True,
    )
)
MEETING_CANCELLED = register_kind(
    Kind(
        "meeting.cancelled",
        "会議の取消",
        "Meeting cancelled",
        template="meeting_cancelled",
        modes=(Mode.EMAIL, Mode.IN_APP),
        calendar=True,
    )
)
