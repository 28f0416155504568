"""Issue #17 on the real PostgreSQL: 事例番号 under concurrent starts, the responsible consultant and the work
that follows them, the case list's filters, and a corrected name reaching the person and the inbox."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime

from sqlalchemy import select

from tests.engine_api.driver import PERSON, Api, fill, later
from tests.factories import make_org_unit, make_user
from tsunagu.cases.models import Case, CaseEvent, HumanTask, Person
from tsunagu.cases.numbering import fiscal_year, format_number, normalise_query
from tsunagu.core.session import transaction


def _consultant(runtime, tenant, email: str, unit) -> object:
    return make_user(runtime, tenant, email=email, roles=["consultant"], org_unit=unit)


def test_numbers_name_the_fiscal_year_in_reiwa_and_typed_forms_are_understood():
    assert fiscal_year(date(2026, 4, 1)) == 2026 and fiscal_year(date(2027, 3, 31)) == 2026
    assert format_number(2026, 12) == "R8-00012" and format_number(2019, 1) == "R1-00001"
    assert normalise_query("r8-12") == "R8-00012"
    assert normalise_query("Ｒ８－００１２") == "R8-00012"  # typed with a Japanese input method
    assert normalise_query("ヤマダ") is None and normalise_query("R8") is None


def test_thirty_concurrent_starts_get_thirty_different_numbers(app, runtime, tenant):
    ward = make_org_unit(runtime, tenant, "ward-n", "第一区")
    worker = _consultant(runtime, tenant, "n@example.jp", ward)
    barrier = threading.Barrier(30)
    numbers: list[str] = []
    statuses: list[int] = []
    lock = threading.Lock()

    def start() -> None:
        client = Api(app.test_client(), tenant.slug, worker.token)
        barrier.wait()
        response = client.post("/cases", json={"person": PERSON, "org_unit": "ward-n"})
        with lock:
            statuses.append(response.status_code)
        if response.status_code == 201:
            shown = client.get(f"/cases/{response.get_json()['id']}").get_json()
            with lock:
                numbers.append(shown["number"])

    threads = [threading.Thread(target=start) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    assert statuses == [201] * 30
    year = fiscal_year(datetime.now(UTC).date())  # the test runs far from midnight on 31 March
    assert sorted(numbers) == [format_number(year, n) for n in range(1, 31)]
    with transaction(runtime.sessions, tenant.id) as session:
        stored = session.execute(select(Case.number)).scalars().all()
        assert len(set(stored)) == 30


def test_the_next_consultant_step_is_already_the_responsible_consultants(client, runtime, tenant):
    ward = make_org_unit(runtime, tenant, "ward-o", "第二区")
    owner = _consultant(runtime, tenant, "owner@example.jp", ward)
    colleague = _consultant(runtime, tenant, "colleague@example.jp", ward)
    api = Api(client, tenant.slug, owner.token)
    case = api.start_case(org_unit="ward-o")
    shown = api.case(case["id"])
    assert shown["responsible_id"] == str(owner.user.id)
    for step, overrides in (
        ("intake", {"screening_outcome": "continue"}),
        ("consent", {"consent_application": True}),
        ("assessment", {"emergency_support": False, "urgency": "high"}),
    ):
        task = api.task(case["id"], step)
        assert task["assignee"] == str(owner.user.id), step  # never claimed
        schema = api.get(f"/tasks/{task['id']}").get_json()["form_schema"]
        done = api.post(f"/tasks/{task['id']}/complete", json={"data": fill(schema, overrides)})
        assert done.status_code == 200, done.get_json()

    # a colleague in the same unit finds it theirs only once it is handed over
    other = Api(client, tenant.slug, colleague.token)
    plan = api.task(case["id"], "plan_draft")
    assert plan["assignee"] == str(owner.user.id)
    handed = other.put(f"/cases/{case['id']}/responsible", json={"user_id": str(colleague.user.id)})
    assert handed.status_code == 200, handed.get_json()
    assert api.task(case["id"], "plan_draft")["assignee"] == str(colleague.user.id)
    schema = other.get(f"/tasks/{plan['id']}").get_json()["form_schema"]
    data = fill(
        schema, {"plan_end_date": later(180).isoformat(), "early_start": False, "statutory_programmes": []}
    )
    assert other.post(f"/tasks/{plan['id']}/complete", json={"data": data}).status_code == 200

    # in its meeting now: the secretariat's step is unassigned (their role queue), the case is "in_meeting"
    in_meeting = other.get("/cases?in_meeting=true").get_json()
    assert [c["id"] for c in in_meeting] == [case["id"]] and in_meeting[0]["in_meeting"] is True
    assert api.ready_tasks(case["id"]) == []  # nothing of the consultant's lane is open
    with transaction(runtime.sessions, tenant.id) as session:
        ready = (
            session.execute(
                select(HumanTask).where(
                    HumanTask.case_id == uuid.UUID(case["id"]), HumanTask.state == "ready"
                )
            )
            .scalars()
            .all()
        )
        assert [(t.role, t.assignee_id) for t in ready] == [("meeting_secretariat", None)]
        events = (
            session.execute(select(CaseEvent).where(CaseEvent.kind == "responsible_changed")).scalars().all()
        )
        assert len(events) == 1
        assert events[0].details["from"] == str(owner.user.id)
        assert events[0].details["to"] == str(colleague.user.id) and events[0].details["tasks_moved"] == 1


def test_the_case_list_finds_a_case_by_number_name_kana_and_consultant(client, runtime, tenant):
    ward = make_org_unit(runtime, tenant, "ward-l", "第三区")
    far = make_org_unit(runtime, tenant, "ward-far", "第四区")
    owner = _consultant(runtime, tenant, "list@example.jp", ward)
    stranger = _consultant(runtime, tenant, "far@example.jp", far)
    api = Api(client, tenant.slug, owner.token)
    mine = api.start_case(org_unit="ward-l")
    other = api.post(
        "/cases",
        json={"person": {"name": "佐藤 一郎", "name_kana": "サトウ イチロウ"}, "org_unit": "ward-l"},
    ).get_json()
    number = api.case(mine["id"])["number"]
    short = number.split("-")[0] + "-" + str(int(number.split("-")[1]))  # R8-1: as said on the phone

    def ids(query: str, who: Api = api) -> list[str]:
        response = who.get(f"/cases?{query}")
        assert response.status_code == 200, response.get_json()
        return [c["id"] for c in response.get_json()]

    assert ids(f"number={number}") == [mine["id"]]
    assert ids(f"number={short}") == [mine["id"]]
    assert ids("q=ハナコ") == [mine["id"]]  # part of the kana
    assert ids("q=佐藤") == [other["id"]]  # part of the name
    assert ids("kana=サトウ") == [other["id"]]  # the kana prefix, as before
    assert ids(f"responsible={owner.user.id}") == [other["id"], mine["id"]]
    assert ids("responsible=me") == [other["id"], mine["id"]]
    assert ids("number=nonsense") == []
    assert ids("q=ハナコ", Api(client, tenant.slug, stranger.token)) == []  # another ward's case: unseen
    assert api.get("/cases?responsible=not-an-id").status_code == 422


def test_a_corrected_name_on_the_intake_form_updates_the_person_and_the_task_rows(client, runtime, tenant):
    ward = make_org_unit(runtime, tenant, "ward-p", "第五区")
    owner = _consultant(runtime, tenant, "p@example.jp", ward)
    api = Api(client, tenant.slug, owner.token)
    case = api.start_case(org_unit="ward-p")
    intake = api.task(case["id"], "intake")
    schema = api.get(f"/tasks/{intake['id']}").get_json()["form_schema"]
    data = fill(schema, {"screening_outcome": "continue", "name": "山田 華子", "name_kana": "ヤマダ ハナコ"})
    future = dict(data, birth_date=later(30).isoformat())
    refused = api.post(f"/tasks/{intake['id']}/complete", json={"data": future})
    assert refused.status_code == 422  # a birth date in the future never reaches the person
    assert api.post(f"/tasks/{intake['id']}/complete", json={"data": data}).status_code == 200

    shown = api.case(case["id"])
    assert shown["person"]["name"] == "山田 華子"
    consent = api.task(case["id"], "consent")
    assert consent["person_name"] == "山田 華子"
    assert [c["id"] for c in api.get("/cases?q=華子").get_json()] == [case["id"]]
    with transaction(runtime.sessions, tenant.id) as session:
        person = session.execute(select(Person)).scalars().one()
        assert person.name == "山田 華子" and person.birth_date == date(1980, 4, 1)
        kinds = [e.kind for e in session.execute(select(CaseEvent).order_by(CaseEvent.at)).scalars()]
        assert "person_updated" in kinds
        updated = session.execute(select(CaseEvent).where(CaseEvent.kind == "person_updated")).scalar_one()
        assert updated.details == {"fields": ["name"]}
        assert uuid.UUID(case["id"]) == updated.case_id


def test_listing_cases_costs_the_same_statements_for_two_rows_as_for_twelve(client, runtime, tenant):
    from tests.architecture.test_statement_count import counting

    ward = make_org_unit(runtime, tenant, "ward-c", "第六区")
    owner = _consultant(runtime, tenant, "count@example.jp", ward)
    api = Api(client, tenant.slug, owner.token)

    def statements_for_a_page() -> int:
        with counting(runtime.engine) as statements:
            response = api.get("/cases?limit=50")
        assert response.status_code == 200
        return len(statements)

    for _ in range(2):
        api.start_case(org_unit="ward-c")
    two = statements_for_a_page()
    for _ in range(10):
        api.start_case(org_unit="ward-c")
    assert len(api.get("/cases?limit=50").get_json()) == 12
    assert statements_for_a_page() == two  # no query per row (the sharing decisions are made per page)
