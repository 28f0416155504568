"""Done when 4: each tenant's own routing table (DMN deployed per tenant from the library and its override).

Yokohama routes every plan to an ad hoc meeting in its ward; Kunitachi's three routes each reach their meeting.
The decision and its reason are kept in the case's workflow data and shown on the case.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from tests.engine_api.test_casework_presets import _api, _close, _deliver_monitor_evaluate, _through_plan
from tests.factories import tenant_row
from tests.meetings.conftest import REPO, drain_service_tasks
from tsunagu.cases.workspace import load_workspace
from tsunagu.core.session import transaction
from tsunagu.engine.definitions import read_library
from tsunagu.meetings import services as meetings
from tsunagu.meetings.models import AgendaItem, Meeting, MeetingSeries
from tsunagu.tenancy.models import OrgUnit


def _route(runtime, slug: str, case_id: str) -> tuple[str, str]:
    tenant = tenant_row(runtime, slug)
    with transaction(runtime.sessions, tenant.id) as session:
        ws = load_workspace(session, uuid.UUID(case_id))
        return ws.meeting.get("route", ""), ws.meeting.get("route_reason", "")


def _adhoc_meeting(runtime, slug: str, case_id: str) -> tuple[Meeting, MeetingSeries, list[AgendaItem]]:
    tenant = tenant_row(runtime, slug)
    with transaction(runtime.sessions, tenant.id) as session:
        meeting = session.execute(select(Meeting).where(Meeting.case_id == uuid.UUID(case_id))).scalar_one()
        series = session.get(MeetingSeries, (tenant.id, meeting.series_id))
        items = session.execute(select(AgendaItem).where(AgendaItem.meeting_id == meeting.id)).scalars().all()
        return meeting, series, list(items)


def test_the_library_is_deployed_with_each_tenants_own_routing_table():
    library = read_library(REPO / "workflows")
    yokohama = read_library(REPO / "workflows", "yokohama")
    assert set(library) == set(yokohama)  # overrides replace files, never add ones
    assert not any(path.startswith("tenants/") for path in library)
    assert yokohama["meeting_hybrid/meeting_route.dmn"] != library["meeting_hybrid/meeting_route.dmn"]
    assert read_library(REPO / "workflows", "iwamizawa") == library


def test_yokohama_normal_urgency_case_in_kohoku_reaches_an_ad_hoc_meeting_and_completes(
    client, runtime, presets
):
    api = _api(client, runtime, "yokohama")
    case = api.start_case(org_unit="kohoku")
    _through_plan(api, case["id"], urgency="normal", complexity="normal")
    assert [t["name"] for t in api.ready_tasks(case["id"])] == ["convene_adhoc"]  # not the themed meetings
    api.complete(case["id"], "convene_adhoc", meeting_date="2027-01-12", meeting_time="14:00")
    assert drain_service_tasks(runtime) >= 1  # schedule_meeting convenes the meeting
    meeting, series, items = _adhoc_meeting(runtime, "yokohama", case["id"])
    assert meeting.adhoc and series.key == "case-adhoc" and series.unit_code == "kohoku"
    assert meeting.starts_at.isoformat().startswith("2027-01-12T05:00")  # 14:00 JST
    assert [(i.purpose, i.minutes) for i in items] == [("new_plan", 20)]
    api.complete(case["id"], "record_meeting_result", meeting_decision="approve")
    assert _route(runtime, "yokohama", case["id"]) == ("adhoc", "横浜市: プラン案ができ次第、区で随時開催")
    api.complete(case["id"], "support_confirmation")
    _deliver_monitor_evaluate(api, runtime, case["id"])
    assert _close(api, case["id"])["status"] == "closed"


def test_kunitachi_three_routes_each_reach_their_meeting_and_complete(client, runtime, presets):
    api = _api(client, runtime, "kunitachi")
    urgent, internal, ordinary = api.start_case(), api.start_case(), api.start_case()
    _through_plan(api, urgent["id"], urgency="high")
    _through_plan(api, internal["id"], urgency="normal", complexity="low", internal_only=True)
    _through_plan(api, ordinary["id"], urgency="normal", complexity="normal")
    assert [t["name"] for t in api.ready_tasks(urgent["id"])] == ["convene_adhoc"]
    assert [t["name"] for t in api.ready_tasks(internal["id"])] == ["convene_internal"]
    assert api.ready_tasks(ordinary["id"]) == []  # on the monthly meeting's agenda
    api.complete(urgent["id"], "convene_adhoc", meeting_date="2027-01-12", meeting_time="10:00")
    api.complete(internal["id"], "convene_internal", meeting_date="2027-01-13", meeting_time="15:00")
    drain_service_tasks(runtime)
    _m, urgent_series, _ = _adhoc_meeting(runtime, "kunitachi", urgent["id"])
    _m, internal_series, _ = _adhoc_meeting(runtime, "kunitachi", internal["id"])
    assert (urgent_series.key, urgent_series.participants) == ("adhoc", "internal_and_external")
    assert (internal_series.key, internal_series.participants) == ("adhoc-internal", "internal_only")
    tenant = tenant_row(runtime, "kunitachi")
    with transaction(runtime.sessions, tenant.id) as session:
        item = meetings.open_item_of(session, uuid.UUID(ordinary["id"]))
        assert item is not None
        monthly = meetings.get_meeting(session, item.meeting_id)
        assert session.get(MeetingSeries, (tenant.id, monthly.series_id)).key == "monthly-regular"
        meetings.record_decision(session, monthly, item.case_id, "approve")  # the monthly meeting decides
    for case, element in ((urgent, "record_meeting_result"), (internal, "record_meeting_result")):
        api.complete(case["id"], element, meeting_decision="approve")
    reasons = {
        k: _route(runtime, "kunitachi", c["id"]) for k, c in (("u", urgent), ("i", internal), ("o", ordinary))
    }
    assert reasons == {
        "u": ("adhoc", "緊急度が高い（庁内＋庁外の随時開催）"),
        "i": ("adhoc_internal", "機関のみで支援し複合的でない（庁内のみの随時開催）"),
        "o": ("scheduled", "その他（毎月の定例会議）"),
    }
    for case in (urgent, internal, ordinary):
        api.complete(case["id"], "support_confirmation")
        _deliver_monitor_evaluate(api, runtime, case["id"])
        assert _close(api, case["id"])["status"] == "closed"
    with transaction(runtime.sessions, tenant.id) as session:
        assert session.execute(select(OrgUnit)).scalars().first() is not None
