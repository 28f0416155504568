"""``sharing.decide`` on its own: the rules of DESIGN 1.2 that the page matrix does not reach."""

from __future__ import annotations

import uuid

from tsunagu.identity.principal import Principal
from tsunagu.sharing.policy import CaseFacts, ConsentScope, Item, Level, Viewer, age_band, decide

WARD, NPO = uuid.uuid4(), uuid.uuid4()


def _viewer(*grants: tuple[str, uuid.UUID | None], meetings: frozenset[str] = frozenset()) -> Viewer:
    principal = Principal(
        user_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        roles=frozenset(r for r, _u in grants),
        org_unit_ids=frozenset(u for _r, u in grants if u),
        grants=frozenset(grants),
    )
    return Viewer(principal, meetings)


def _case(*categories: str) -> CaseFacts:
    scope = ConsentScope(uuid.uuid4(), frozenset({NPO}), frozenset(), frozenset(categories))
    return CaseFacts(org_unit_id=WARD, consents=(scope,) if categories else ())


def test_tax_information_needs_consent_even_for_the_case_team_and_in_a_support_meeting():
    consultant = _viewer(("consultant", WARD))
    assert decide(consultant, Item("tax"), _case("general")).level == Level.ANONYMISED
    provider = _viewer(("provider", WARD), ("provider", NPO))
    assert decide(provider, Item("tax"), _case("tax")).level == Level.FULL
    member = _viewer(("provider", WARD), meetings=frozenset({"m"}))
    meeting_tax = Item("tax", "support_meeting", "m")
    assert decide(member, meeting_tax, _case()).basis == "tax_needs_consent"
    assert decide(member, Item("general", "support_meeting", "m"), _case()).basis == "statutory_meeting"
    assert decide(member, Item("general", "support_meeting", "other"), _case()).level == Level.HIDDEN


def test_a_promoted_support_meeting_item_is_a_case_file_item():
    provider = _viewer(("provider", WARD), ("provider", NPO))
    item = Item("general", "support_meeting", "m", promoted=True)
    assert decide(provider, item, _case("general")).level == Level.FULL
    assert decide(provider, item, _case()).level == Level.ANONYMISED


def test_consent_by_role_and_no_access_without_a_grant():
    consent = ConsentScope(uuid.uuid4(), frozenset(), frozenset({"provider"}), frozenset({"general"}))
    facts = CaseFacts(org_unit_id=WARD, consents=(consent,))
    assert decide(_viewer(("provider", WARD)), Item(), facts).basis == "consent"
    assert decide(_viewer(("provider", NPO)), Item(), facts).level == Level.HIDDEN  # not in the case's unit
    assert decide(_viewer(("consultant", None)), Item(), facts).level == Level.HIDDEN  # no unit: nothing


def test_age_bands_never_carry_the_birth_date():
    assert [age_band(a) for a in (None, 17, 20, 43, 99)] == ["不明", "20歳未満", "20代", "40代", "90代"]
