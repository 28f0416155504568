"""Translated labels for codes shown in pages (roles, history kinds, methods). Message ids are English."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

ROLE_LABELS = {
    "tenant_admin": _l("Tenant administrator"),
    "consultant": _l("Consultant"),
    "municipal_staff": _l("Municipal staff"),
    "meeting_secretariat": _l("Meeting secretariat"),
    "provider": _l("Support provider"),
    "external_participant": _l("External participant"),
    "auditor": _l("Auditor"),
}

EVENT_KINDS = {
    "started": _l("Case opened"),
    "task_completed": _l("Step completed"),
    "timer_fired": _l("Timer fired"),
    "message": _l("Message received"),
    "closed": _l("Case closed"),
    "progress_record": _l("Progress record added"),
    "incident": _l("Incident"),
    "suspended": _l("Process suspended"),
    "resumed": _l("Process resumed"),
    "terminated": _l("Process terminated"),
    "migrated": _l("Moved to a new version"),
    "consent_recorded": _l("Consent recorded"),
    "consent_narrowed": _l("Consent partly withdrawn"),
    "consent_withdrawn": _l("Consent withdrawn"),
    "consent_expired": _l("Consent expired"),
    "meeting_item_promoted": _l("Support meeting record moved into the case file"),
    "responsible_changed": _l("Consultant changed"),
    "person_updated": _l("Person's details updated"),
    "referral": _l("Referral accepted"),  # issue #20
    "cooperation": _l("Request for cooperation"),
}

#: BPMN messages a case receives (history title of a ``message`` event: the message name)
MESSAGES = {
    "meeting_decided": _l("Meeting decision received"),
    "consent_withdrawn": _l("Consent withdrawal received"),
    "referral_received": _l("Referral received"),
}

#: Meeting styles (会議方式) of a tenant
MEETING_STYLES = {
    "scheduled": _l("Scheduled (regular meetings)"),
    "ad_hoc": _l("Ad hoc (when a plan is ready)"),
    "hybrid": _l("Hybrid (scheduled and ad hoc)"),
}

PROGRESS_METHODS = {
    "visit": _l("Visit"),
    "phone": _l("Phone"),
    "accompany": _l("Accompanying"),
    "other": _l("Other"),
}

CONSENT_STATUSES = {
    "obtained": _l("Consent obtained"),
    "not_yet": _l("Consent not yet obtained"),
    "refused": _l("Consent refused"),
}

CASE_STATUSES = {"open": _l("Open"), "closed": _l("Closed")}


def label(table: dict[str, object], code: str | None) -> str:
    if not code:
        return ""
    return str(table.get(code, code))
