"""Done when 2 and 3: agenda capacity and overflow with notices; 事後報告 through a decision and its ratio.

Cases are driven through the JSON API on PostgreSQL; the workflow's ``add_to_agenda`` runs as the worker runs
it (the outbox message and its real handler), and the decision goes back as the ``meeting_decided`` message.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from tests.engine_api.driver import Api, later
from tests.factories import make_user, tenant_row
from tests.meetings.conftest import drain_service_tasks
from tsunagu.core.db import utcnow
from tsunagu.core.session import transaction
from tsunagu.meetings import services as meetings
from tsunagu.meetings.models import AgendaItem, Meeting, MeetingSeries
from tsunagu.notifications.models import Notification

PLAN_END = later(180).isoformat()


def _through_plan(api: Api, case_id: str, urgency: str = "normal", **plan: object) -> None:
    api.complete(case_id, "intake", screening_outcome="continue")
    api.complete(case_id, "consent", consent_application=True)
    api.complete(case_id, "assessment", emergency_support=False, urgency=urgency)
    plan.setdefault("early_start", False)
    plan.setdefault("statutory_programmes", [])
    api.complete(case_id, "plan_draft", plan_end_date=PLAN_END, **plan)


def _consultants(client, runtime, slug: str, n: int) -> list[tuple[Api, uuid.UUID]]:
    tenant = tenant_row(runtime, slug)
    out = []
    for i in range(n):
        user = make_user(
            runtime, tenant, email=f"c{i}@{slug}.example.jp", roles=["tenant_admin", "consultant"]
        )
        out.append((Api(client, slug, user.token), user.user.id))
    return out


def _review_series(session) -> MeetingSeries:
    return session.execute(select(MeetingSeries).where(MeetingSeries.key == "case-review")).scalar_one()


def test_a_full_meeting_takes_the_most_urgent_then_oldest_and_the_rest_move_on(client, runtime, presets):
    staff = _consultants(client, runtime, "iwamizawa", 2)
    urgencies = ["normal", "low", "normal", "normal", "normal", "normal", "high"]  # oldest first
    cases: list[tuple[str, uuid.UUID, str]] = []
    for n, urgency in enumerate(urgencies):
        api, user_id = staff[n % 2]
        case = api.start_case()
        _through_plan(api, case["id"], urgency=urgency)
        assert api.ready_tasks(case["id"]) == []  # waiting for the meeting's decision
        cases.append((case["id"], user_id, urgency))
        assert drain_service_tasks(runtime) >= 1  # add_to_agenda runs in the worker
    tenant = tenant_row(runtime, "iwamizawa")
    with transaction(runtime.sessions, tenant.id) as session:
        series = _review_series(session)
        upcoming = list(
            session.execute(
                select(Meeting)
                .where(Meeting.series_id == series.id, Meeting.starts_at > utcnow())
                .order_by(Meeting.starts_at)
            ).scalars()
        )
        first, second = upcoming[0], upcoming[1]
        rows_first, total_first = meetings.agenda(session, first)
        rows_second, _ = meetings.agenda(session, second)
        first_cases = [str(r.item.case_id) for r in rows_first]
        second_cases = [str(r.item.case_id) for r in rows_second]
        notices = session.execute(
            select(Notification.recipient_id, Notification.subject_id, Notification.link).where(
                Notification.kind == "meeting.agenda_moved"
            )
        ).all()
    ids = [c for c, _, _ in cases]
    # capacity 5: the high-urgency case first, then the oldest normal ones; low urgency goes last
    assert first_cases == [ids[6], ids[0], ids[2], ids[3], ids[4]]
    assert second_cases == [ids[5], ids[1]]
    assert total_first == 5 * 15 and [r.item.minutes for r in rows_first] == [15] * 5
    assert rows_first[1].starts_at == rows_first[0].ends_at  # consecutive time boxes
    # the consultants of the two cases on the next meeting were told, with a link to it
    told = {(str(subject), recipient) for recipient, subject, _link in notices}
    by_case = {c: u for c, u, _ in cases}
    assert {(ids[5], by_case[ids[5]]), (ids[1], by_case[ids[1]])} <= told
    assert all(link == f"meetings/{second.id}" for _r, s, link in notices if str(s) in (ids[5], ids[1]))
    assert not any(str(s) in first_cases for _r, s, _l in notices if True and str(s) not in (ids[1], ids[5]))


def test_after_the_fact_report_is_approved_and_the_ratio_warns_above_the_threshold(client, runtime, presets):
    ((api, _user),) = _consultants(client, runtime, "iwamizawa", 1)
    early = api.start_case()
    _through_plan(api, early["id"], early_start=True)
    api.complete(early["id"], "early_start_delivery")  # support starts before the meeting
    api.complete(early["id"], "after_the_fact_registration", after_the_fact_report=True)
    normal = api.start_case()
    _through_plan(api, normal["id"])
    drain_service_tasks(runtime)
    tenant = tenant_row(runtime, "iwamizawa")
    with transaction(runtime.sessions, tenant.id) as session:
        item = meetings.open_item_of(session, uuid.UUID(early["id"]))
        assert item is not None and item.purpose == "after_the_fact" and item.after_the_fact
        meeting = meetings.get_meeting(session, item.meeting_id)
        series = _review_series(session)
        assert meetings.after_the_fact_ratio(session, series).decided == 0
        meetings.record_decision(session, meeting, item.case_id, "approve", notes="了承")
    assert [t["name"] for t in api.ready_tasks(early["id"])] == ["support_confirmation"]  # the case moved on
    with transaction(runtime.sessions, tenant.id) as session:
        ratio = meetings.after_the_fact_ratio(session, _review_series(session))
        assert (ratio.decided, ratio.after_the_fact, ratio.threshold) == (1, 1, 0.3)
        assert ratio.warning
        other = meetings.open_item_of(session, uuid.UUID(normal["id"]))
        assert other is not None
        meetings.record_decision(
            session,
            meetings.get_meeting(session, other.meeting_id),
            other.case_id,
            "approve_with_changes",
            roles=[{"provider": "社会福祉協議会", "role": "家計相談"}],
            next_review_date="2027-03-01",
        )
    with transaction(runtime.sessions, tenant.id) as session:
        ratio = meetings.after_the_fact_ratio(session, _review_series(session))
        assert (ratio.decided, ratio.after_the_fact) == (2, 1) and ratio.ratio == 0.5 and ratio.warning
        decided = session.execute(select(AgendaItem).where(AgendaItem.outcome.is_not(None))).scalars().all()
        assert {d.outcome for d in decided} == {"approve", "approve_with_changes"}


def test_a_decision_twice_or_an_unknown_outcome_is_refused_and_changes_nothing(client, runtime, presets):
    ((api, _user),) = _consultants(client, runtime, "iwamizawa", 1)
    case = api.start_case()
    _through_plan(api, case["id"])
    drain_service_tasks(runtime)
    tenant = tenant_row(runtime, "iwamizawa")
    import pytest

    from tsunagu.core.errors import Conflict, ValidationFailed

    with transaction(runtime.sessions, tenant.id) as session:
        item = meetings.open_item_of(session, uuid.UUID(case["id"]))
        meeting = meetings.get_meeting(session, item.meeting_id)
        with pytest.raises(ValidationFailed):
            meetings.record_decision(session, meeting, item.case_id, "maybe")
        meetings.record_decision(session, meeting, item.case_id, "revise")
        with pytest.raises(Conflict):
            meetings.record_decision(session, meeting, item.case_id, "approve")
    assert [t["name"] for t in api.ready_tasks(case["id"])] == ["plan_draft"]  # revise: back to the plan


def test_cancelling_a_meeting_tells_the_people_concerned_and_moves_its_cases_on(client, runtime, presets):
    ((api, user_id),) = _consultants(client, runtime, "iwamizawa", 1)
    case = api.start_case()
    _through_plan(api, case["id"])
    drain_service_tasks(runtime)
    tenant = tenant_row(runtime, "iwamizawa")
    with transaction(runtime.sessions, tenant.id) as session:
        item = meetings.open_item_of(session, uuid.UUID(case["id"]))
        first = meetings.get_meeting(session, item.meeting_id)
        moved_to = first.starts_at + timedelta(hours=2)
        meetings.move_meeting(session, first, moved_to)  # moved: an updated invitation (SEQUENCE 1)
        meetings.cancel_meeting(session, first, "会場の都合")
        after = meetings.open_item_of(session, uuid.UUID(case["id"]))
        assert after is not None and after.meeting_id != first.id and after.moved == 1
        nxt = meetings.get_meeting(session, after.meeting_id)
        assert nxt.starts_at > first.starts_at
        kinds = session.execute(
            select(Notification.kind, Notification.event_key).where(Notification.recipient_id == user_id)
        ).all()
    keys = {k for _kind, k in kinds}
    uid = f"meeting-{first.id}@iwamizawa.tsunagu"
    assert f"meeting.invitation:{uid}:0" in keys  # the move: the new time, as an invitation
    assert f"meeting.cancelled:{uid}:1" in keys  # the cancellation (next SEQUENCE), to the case's consultant


def test_an_evaluation_goes_only_to_a_series_that_reviews_evaluations(client, runtime, presets):
    import pytest

    from tsunagu.core.errors import Conflict

    for slug, reviews in (("iwamizawa", True), ("kunitachi", False)):
        ((api, _user),) = _consultants(client, runtime, slug, 1)
        case = api.start_case()
        _through_plan(api, case["id"], complexity="normal")
        tenant = tenant_row(runtime, slug)
        with transaction(runtime.sessions, tenant.id) as session:
            meetings.ensure_series(session)
            if not reviews:
                with pytest.raises(Conflict):
                    meetings.add_to_agenda(session, uuid.UUID(case["id"]), "evaluation")
                continue
            item = meetings.add_to_agenda(session, uuid.UUID(case["id"]), "evaluation")
            assert item.purpose == "evaluation" and not item.awaits_message
            decided = meetings.record_decision(
                session,
                meetings.get_meeting(session, item.meeting_id),
                item.case_id,
                "approve",
                notes="終結でよい",
            )
            assert decided.outcome == "approve"  # recorded; the case's own 評価 step still decides
        assert api.ready_tasks(case["id"]) == []  # no message was sent: the case still waits as it did
