"""Translated labels for the sharing codes the pages show: legal bases, categories, sources, consent
statuses and channels. Message ids are English (``web/i18n.py``)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

LABELS = {
    # legal basis of a decision, or why something is withheld (``policy.decide``)
    "case_team": _l("Case team (the implementing body)"),
    "consent": _l("The person's consent"),
    "statutory_meeting": _l("Support meeting member (statutory confidentiality)"),
    "audit": _l("Audit"),
    "tax_needs_consent": _l("Tax information needs consent"),
    "no_basis": _l("Not covered by consent (anonymised)"),
    "meeting_record": _l("Support meeting record (members only)"),
    "no_access": _l("No access"),
    # categories
    "general": _l("General"),
    "sensitive": _l("Sensitive (要配慮)"),
    "tax": _l("Tax-derived"),
    "household": _l("Household"),
    # sources
    "person": _l("The person"),
    "consultant": _l("Consultant's assessment"),
    "agency": _l("Another agency"),
    "tax_department": _l("Tax department"),
    "support_meeting": _l("Support meeting (支援会議)"),
    # consent
    "active": _l("Active"),
    "withdrawn": _l("Withdrawn"),
    "expired": _l("Expired"),
    "signed_form": _l("Signed form"),
    "verbal_witnessed": _l("Verbal, with a witness"),
}


def label(code: str | None) -> str:
    if not code:
        return ""
    return str(LABELS.get(code, code))
