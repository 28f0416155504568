"""Information sharing under the law (issue #15), through the pages and the JSON API.

Done-when 1: the matrix of viewers × items → full / anonymised / hidden. Done-when 2: withdrawing consent
(partly, then fully) changes what a provider sees at once and reaches the running case; an expired consent
notifies the consultant. Done-when 5: a 支援会議 item is absent from the case file until promoted, and the
promotion is recorded with who and why.
"""

from __future__ import annotations

import re
import uuid
from datetime import date

import pytest
from sqlalchemy import select

from tests.engine_api.driver import Api
from tests.factories import make_org_unit
from tests.support.api_errors import fields
from tests.support.oidc import sign_in
from tests.web.conftest import DOMAIN, Browser
from tsunagu.cases.information import expire_consents
from tsunagu.cases.models import Case, CaseEvent
from tsunagu.core.session import transaction
from tsunagu.identity.models import User
from tsunagu.identity.services import set_memberships
from tsunagu.identity.tokens import create_token
from tsunagu.notifications.models import Notification
from tsunagu.sharing.services import register_member

MEETING = "kohoku-shien-kaigi"  # 港北区の支援会議 (生活困窮者自立支援法9条)
CONSENTED = ["general", "household", "sensitive"]
ITEMS = ("general", "sensitive", "tax", "meeting")
F, A, H = "full", "anonymised", "hidden"

#: viewer → (memberships {unit code or None: roles}, roles, 支援会議 member?) and what they see of each item
VIEWERS = {
    "consultant_ward": ({"kohoku": ["consultant"]}, False, (F, F, A, H)),
    "consultant_other_ward": ({"tsurumi": ["consultant"]}, False, (H, H, H, H)),
    "municipal_staff": ({"kohoku": ["municipal_staff"]}, False, (F, F, A, H)),
    "provider_with_consent": ({"kohoku": ["provider"], "npo-a": ["provider"]}, False, (F, F, A, H)),
    "provider_without_consent": ({"kohoku": ["provider"], "npo-b": ["provider"]}, False, (A, A, A, H)),
    "support_meeting_member": ({"kohoku": ["provider"], "npo-c": ["provider"]}, True, (A, A, A, F)),
    "network_meeting_guest": ({"kohoku": ["external_participant"]}, False, (H, H, H, H)),
    "auditor": ({None: ["auditor"]}, False, (F, F, A, H)),
    "tenant_admin": ({None: ["tenant_admin"]}, False, (A, A, A, H)),
}


@pytest.fixture
def world(runtime, yokohama, app, use_provider):
    use_provider(yokohama)
    for code in ("npo-a", "npo-b", "npo-c"):
        make_org_unit(runtime, yokohama, code, f"NPO {code}", kind="agency")
    people = {name: _person(runtime, app, yokohama, name, spec[0], spec[1]) for name, spec in VIEWERS.items()}
    admin = Api(app.test_client(), "yokohama", people["tenant_admin"]["token"])
    case_id = admin.start_case(org_unit="kohoku")["id"]
    admin.complete(case_id, "intake", screening_outcome="continue")
    admin.complete(case_id, "consent", consent_application=True)  # the case now runs on consent
    consultant = Api(app.test_client(), "yokohama", people["consultant_ward"]["token"])
    consent = consultant.post(
        f"/cases/{case_id}/consents",
        json={
            "given_on": date.today().isoformat(),
            "channel": "signed_form",
            "form_version": "2026-04",
            "org_units": ["npo-a"],
            "categories": CONSENTED,
        },
    )
    assert consent.status_code == 201, consent.get_json()
    records = {}
    for item, (category, source, meeting) in {
        "general": ("general", "person", ""),
        "sensitive": ("sensitive", "consultant", ""),
        "tax": ("tax", "tax_department", ""),
        "meeting": ("general", "support_meeting", MEETING),
    }.items():
        made = consultant.post(
            f"/cases/{case_id}/progress-records",
            json={
                "record_date": "2026-11-30",
                "method": "visit",
                "staff_name": "担当 者",
                "content": f"内容-{item}",
                "category": category,
                "source": source,
                "meeting_key": meeting,
            },
        )
        assert made.status_code == 201, made.get_json()
        records[item] = made.get_json()["id"]
    return {
        "app": app,
        "tenant": yokohama,
        "people": people,
        "case": case_id,
        "consent": consent.get_json()["id"],
        "records": records,
        "consultant": consultant,
    }


def _person(runtime, app, tenant, name: str, memberships: dict, member: bool) -> dict:
    email = f"{name}@{DOMAIN}"
    roles = sorted({r for rs in memberships.values() for r in rs})
    with transaction(runtime.sessions, tenant.id) as session:
        from tsunagu.tenancy.models import OrgUnit

        codes = dict(session.execute(select(OrgUnit.code, OrgUnit.id)).all())
        user = User(tenant_id=tenant.id, email=email, display_name=name)
        session.add(user)
        session.flush()
        set_memberships(session, user, {(codes[c] if c else None): r for c, r in memberships.items()})
        token = create_token(session, user, roles).token
        if member:
            register_member(session, MEETING, user.id, date(2026, 4, 1), "誓約書2026")
        user_id = user.id
    client = app.test_client()
    sign_in(client, "", tenant.slug, email, sub=f"sharing-{name}", claims={"name": name, "roles": roles})
    return {"token": token, "browser": Browser(client, tenant.slug, user_id, frozenset(roles)), "id": user_id}


def _seen_by_api(world, name: str) -> tuple[str, ...]:
    api = Api(world["app"].test_client(), "yokohama", world["people"][name]["token"])
    answer = api.get(f"/cases/{world['case']}")
    if answer.status_code in (403, 404):
        return (H,) * len(ITEMS)
    assert answer.status_code == 200, answer.get_json()
    info = answer.get_json()["information"]
    entries = {e["id"]: e for e in info["progress"] + info["support_meeting_records"]}
    seen = []
    for item in ITEMS:
        entry = entries.get(world["records"][item])
        if entry is None:
            seen.append(H)
            continue
        seen.append(entry["visibility"])
        assert ("content" in entry) == (entry["visibility"] == F), (name, item)
    if info["visibility"] != F:  # the case file itself: the anonymised summary only
        assert answer.get_json()["person"]["anonymised"] is True
        assert "山田" not in answer.get_data(as_text=True)
    return tuple(seen)


def _seen_on_the_page(world, name: str) -> tuple[str, ...]:
    page = world["people"][name]["browser"].get(f"/cases/{world['case']}")
    if page.status_code in (403, 404):
        return (H,) * len(ITEMS)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    seen = []
    for item in ITEMS:
        match = re.search(rf'class="record record-(\w+)" data-record="{world["records"][item]}"', html)
        seen.append(match.group(1) if match else H)
        assert (f"内容-{item}" in html) == (seen[-1] == F), (name, item)
    return tuple(seen)


def test_who_sees_what_through_the_pages_and_the_api(world):
    for name, (_memberships, _member, expected) in VIEWERS.items():
        assert _seen_by_api(world, name) == expected, ("api", name)
        assert _seen_on_the_page(world, name) == expected, ("page", name)


def test_the_basis_is_shown_and_an_unconsented_provider_gets_the_anonymised_summary(world):
    page = world["people"]["provider_without_consent"]["browser"].get(f"/cases/{world['case']}")
    html = page.get_data(as_text=True)
    assert "匿名化した要約" in html and "山田" not in html and "港北区" in html
    assert re.search(r"年代</dt><dd>\d0代", html)
    ward = (
        world["people"]["provider_with_consent"]["browser"]
        .get(f"/cases/{world['case']}")
        .get_data(as_text=True)
    )
    assert "閲覧の根拠: 本人の同意" in ward and "山田 花子" in ward
    mine = world["people"]["consultant_ward"]["browser"].get(f"/cases/{world['case']}").get_data(as_text=True)
    assert "閲覧の根拠: 担当機関（相談支援の実施）" in mine and "税務情報は本人の同意が必要です" in mine


def test_withdrawing_consent_partly_then_fully_changes_what_the_provider_sees_and_reaches_the_case(
    world, runtime
):
    provider = "provider_with_consent"
    assert _seen_by_api(world, provider) == (F, F, A, H)
    path = f"/cases/{world['case']}/consents/{world['consent']}/withdraw"
    partly = world["consultant"].post(path, json={"categories": ["sensitive"]})
    assert partly.status_code == 200 and partly.get_json()["withdrawal"] == "partial"
    assert _seen_by_api(world, provider) == (F, A, A, H)
    assert _seen_on_the_page(world, provider) == (F, A, A, H)
    fully = world["consultant"].post(path, json={"full": True})
    assert fully.status_code == 200 and fully.get_json()["withdrawal"] == "full"
    assert _seen_by_api(world, provider) == (A, A, A, H)
    assert world["consultant"].post(path, json={"full": True}).status_code == 409
    with transaction(runtime.sessions, world["tenant"].id) as session:
        case = session.get(Case, (world["tenant"].id, uuid.UUID(world["case"])))
        kinds = [
            e.kind for e in session.execute(select(CaseEvent).where(CaseEvent.case_id == case.id)).scalars()
        ]
        # The BPMN message reached the running case: the consent-withdrawn branch ended it (中断).
        assert case.status == "closed" and case.outcome == "end_withdrawn", (case.status, case.outcome)
    assert "consent_narrowed" in kinds and "consent_withdrawn" in kinds and "message" in kinds


def test_an_expired_consent_notifies_the_consultant(world, runtime):
    made = world["consultant"].post(
        f"/cases/{world['case']}/consents",
        json={
            "given_on": "2026-01-05",
            "valid_until": "2026-02-05",
            "channel": "verbal_witnessed",
            "witness": "立会 人",
            "form_version": "2025-10",
            "roles": ["provider"],
            "categories": ["general"],
        },
    )
    assert made.status_code == 201, made.get_json()
    with transaction(runtime.sessions, world["tenant"].id) as session:
        assert expire_consents(session, date(2026, 12, 1)) == 1
        assert expire_consents(session, date(2026, 12, 2)) == 0  # once
    with transaction(runtime.sessions, world["tenant"].id) as session:
        told = (
            session.execute(select(Notification).where(Notification.kind == "consent.expired"))
            .scalars()
            .all()
        )
    assert {n.recipient_id for n in told} == {world["people"]["consultant_ward"]["id"]}


def test_bad_consent_input_is_a_422_naming_the_field(world):
    bad = world["consultant"].post(
        f"/cases/{world['case']}/consents",
        json={
            "given_on": "tomorrow",
            "channel": "telepathy",
            "categories": ["gossip"],
            "org_units": ["nowhere"],
        },
    )
    assert bad.status_code == 422
    assert {"given_on", "channel", "categories", "form_version"} <= set(fields(bad.get_json()))


def test_a_support_meeting_item_stays_out_of_the_case_file_until_promoted_with_who_and_why(world, runtime):
    consultant = world["people"]["consultant_ward"]
    record = world["records"]["meeting"]
    assert _seen_by_api(world, "consultant_ward")[3] == H
    with transaction(runtime.sessions, world["tenant"].id) as session:
        register_member(session, MEETING, consultant["id"], date(2026, 4, 1), "誓約書2026")
    # A member now sees it — in the 支援会議 record (非公開), not in the case file.
    api = Api(world["app"].test_client(), "yokohama", consultant["token"])
    info = api.get(f"/cases/{world['case']}").get_json()["information"]
    assert record not in {e["id"] for e in info["progress"]}
    assert record in {e["id"] for e in info["support_meeting_records"]}
    html = consultant["browser"].get(f"/cases/{world['case']}").get_data(as_text=True)
    assert "非公開" in html and "ケース記録へ移す" in html
    # Promotion needs a reason; a non-member cannot even find the record.
    assert (
        api.post(f"/cases/{world['case']}/progress-records/{record}/promote", json={"reason": ""}).status_code
        == 422
    )
    staff = Api(world["app"].test_client(), "yokohama", world["people"]["municipal_staff"]["token"])
    assert (
        staff.post(
            f"/cases/{world['case']}/progress-records/{record}/promote", json={"reason": "x"}
        ).status_code
        == 404
    )
    moved = consultant["browser"].post(
        f"/cases/{world['case']}/progress/{record}/promote", {"reason": "本人が同意したため"}
    )
    assert moved.status_code == 302
    info = api.get(f"/cases/{world['case']}").get_json()["information"]
    entry = {e["id"]: e for e in info["progress"]}[record]
    assert entry["promoted"]["reason"] == "本人が同意したため"
    assert entry["promoted"]["by"] == str(consultant["id"])
    # In the case file now: the consented provider sees it like any general item.
    assert _seen_by_api(world, "provider_with_consent")[3] == F
    with transaction(runtime.sessions, world["tenant"].id) as session:
        event = session.execute(
            select(CaseEvent).where(CaseEvent.kind == "meeting_item_promoted")
        ).scalar_one()
        assert event.actor_id == consultant["id"] and event.details["reason"] == "本人が同意したため"


def test_consent_and_members_stay_in_their_tenant(world, runtime):
    from sqlalchemy import text

    from tests.factories import make_tenant

    other = make_tenant(runtime, "sharing-other")
    with transaction(runtime.sessions, other.id) as session:
        for table in ("consent", "support_meeting_member", "org_unit_oversight"):
            assert session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0
    with transaction(runtime.sessions, world["tenant"].id) as session:
        assert session.execute(text("SELECT count(*) FROM consent")).scalar_one() == 1
        assert session.execute(text("SELECT count(*) FROM support_meeting_member")).scalar_one() == 1
