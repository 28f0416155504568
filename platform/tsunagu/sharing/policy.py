"""``decide(viewer, item, case)`` — the one decision on what a viewer sees of one item of a person's
information: ``full``, ``anonymised`` or ``hidden``, with the reason (DESIGN 1.2, issue #15).

Rules, in order:

1. **支援会議 information** (``source = support_meeting``) that has not been promoted into the case file stays in
   that meeting's record: registered members of that meeting (with their confidentiality undertaking) see
   it in full — except tax-derived information, which needs consent even there — everyone else: hidden.
2. A viewer who may not read the case at all (``identity.permissions``: another ward, no org unit): hidden.
3. **Tax-derived information** (地方税法22条) only with a consent that covers the viewer and the ``tax``
   category — for everyone, the case's own consultant included; otherwise anonymised.
4. **The case team** — a consultant, municipal staff member or meeting secretariat holding that role in the
   case's org unit (municipal staff also where their unit oversees it) — sees general, 要配慮 and household information in full: the implementing body using the
   information for the purpose it was given (相談支援の実施).
5. **Consent** covering one of the viewer's org units (or its role) and the item's category: full.
6. **Auditors** (監査) see general, 要配慮 and household information in full for the audit.
7. Otherwise (a provider without consent, a tenant administrator, …): the anonymised summary, marked as such.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..identity import permissions
from ..identity.models import Role
from .models import Category, Source

#: roles of the case team (rule 4): the implementing body's own staff in the case's unit — the consultant,
#: the municipality's staff and the secretariat preparing its meetings (external members need consent)
CASE_TEAM_ROLES = frozenset(
    {Role.CONSULTANT.value, Role.MUNICIPAL_STAFF.value, Role.MEETING_SECRETARIAT.value}
)


class Level(enum.StrEnum):
    FULL = "full"
    ANONYMISED = "anonymised"
    HIDDEN = "hidden"


@dataclass(frozen=True)
class Decision:
    level: Level
    #: a stable key for the legal basis or the reason for withholding (``BASES``; labels in ``labels.py``)
    basis: str
    #: the consent that gave the basis, when one did
    consent_id: uuid.UUID | None = None

    @property
    def full(self) -> bool:
        return self.level == Level.FULL


#: the keys of ``Decision.basis`` (labels in ``labels.py``)
BASES = (
    "case_team",
    "consent",
    "statutory_meeting",
    "audit",
    "tax_needs_consent",
    "no_basis",
    "meeting_record",
    "no_access",
)


@dataclass(frozen=True)
class Item:
    """What the decision needs of an item of case information."""

    category: str = Category.GENERAL.value
    source: str = Source.CONSULTANT.value
    meeting_key: str | None = None
    promoted: bool = False


@dataclass(frozen=True)
class ConsentScope:
    id: uuid.UUID
    org_unit_ids: frozenset[uuid.UUID]
    roles: frozenset[str]
    categories: frozenset[str]


@dataclass(frozen=True)
class CaseFacts:
    """What the decision needs of the case: its org unit and its active consents."""

    org_unit_id: uuid.UUID | None
    consents: tuple[ConsentScope, ...] = ()


@dataclass(frozen=True)
class Viewer:
    """A principal and the 支援会議 it is a registered member of (with an undertaking)."""

    principal: Any
    meeting_keys: frozenset[str] = field(default_factory=frozenset)


def _covering_consent(viewer: Viewer, category: str, case: CaseFacts) -> ConsentScope | None:
    units = {unit for _role, unit in viewer.principal.grants if unit is not None}
    roles = viewer.principal.roles
    for consent in case.consents:
        if category in consent.categories and (consent.org_unit_ids & units or consent.roles & roles):
            return consent
    return None


def _on_case_team(viewer: Viewer, case: CaseFacts) -> bool:
    return case.org_unit_id is not None and any(
        (role, case.org_unit_id) in viewer.principal.grants for role in CASE_TEAM_ROLES
    )


def decide(viewer: Viewer, item: Item, case: CaseFacts) -> Decision:
    """The one decision: see the module docstring for the rules."""
    tax = item.category == Category.TAX
    if item.source == Source.SUPPORT_MEETING and not item.promoted:
        if item.meeting_key is None or item.meeting_key not in viewer.meeting_keys:
            return Decision(Level.HIDDEN, "meeting_record")
        if not tax:
            return Decision(Level.FULL, "statutory_meeting")
        consent = _covering_consent(viewer, item.category, case)
        if consent is not None:
            return Decision(Level.FULL, "consent", consent.id)
        return Decision(Level.ANONYMISED, "tax_needs_consent")
    if not permissions.can(viewer.principal, "case.read", case):
        return Decision(Level.HIDDEN, "no_access")
    consent = _covering_consent(viewer, item.category, case)
    if tax:
        if consent is not None:
            return Decision(Level.FULL, "consent", consent.id)
        return Decision(Level.ANONYMISED, "tax_needs_consent")
    if _on_case_team(viewer, case):
        return Decision(Level.FULL, "case_team")
    if consent is not None:
        return Decision(Level.FULL, "consent", consent.id)
    if Role.AUDITOR.value in viewer.principal.roles:
        return Decision(Level.FULL, "audit")
    return Decision(Level.ANONYMISED, "no_basis")


def age_band(age: int | None) -> str:
    """``43`` → ``"40代"`` (the anonymised summary never carries the birth date)."""
    if age is None:
        return "不明"
    return f"{(age // 10) * 10}代" if age >= 20 else "20歳未満"


def anonymised_summary(age: int | None, ward: str, topics: Iterable[str]) -> dict[str, Any]:
    """匿名化した要約 — age band, ward and consultation topics; marked as anonymised."""
    return {"anonymised": True, "age_band": age_band(age), "ward": ward, "topics": sorted(set(topics))}
