"""A client drives a case from intake to the meeting with API calls only — no HTML request — listing the
case's tasks, saving a draft, releasing and reassigning; retries with ``Idempotency-Key`` happen once; a
stale ``If-Match`` is 412."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select

from tests.engine_api.driver import fill, later
from tests.factories import make_user
from tsunagu.cases.models import Case, CaseEvent
from tsunagu.core.idempotency import IdempotencyRecord
from tsunagu.core.session import transaction

PERSON = {"name": "山田 花子", "name_kana": "ヤマダ ハナコ", "birth_date": "1980-04-01"}


class Client:
    """A plain JSON client of ``/t/<slug>/api/v1`` (what a vendor's system does)."""

    def __init__(self, http: Any, slug: str, token: str) -> None:
        self.http, self.base, self.token = http, f"/t/{slug}/api/v1", token

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        sent = {
            "Authorization": f"Bearer {self.token}",
            **{k.replace("_", "-"): v for k, v in headers.items()},
        }
        response = self.http.open(self.base + path, method=method, json=body, headers=sent)
        assert "text/html" not in response.content_type, (method, path)
        return response

    def ok(self, method: str, path: str, body: Any = None, status: int = 200, **headers: str) -> Any:
        response = self.call(method, path, body, **headers)
        assert response.status_code == status, (method, path, response.status_code, response.get_json())
        return response


def _case_tasks(c: Client, case_id: str) -> list[dict[str, Any]]:
    return c.ok("GET", f"/tasks?scope=all&case_id={case_id}").get_json()


def _one(c: Client, case_id: str, name: str) -> dict[str, Any]:
    tasks = _case_tasks(c, case_id)
    matching = [t for t in tasks if t["name"] == name]
    assert matching, (name, [t["name"] for t in tasks])
    return matching[0]


def _complete(c: Client, case_id: str, name: str, **overrides: Any) -> None:
    task = _one(c, case_id, name)
    detail = c.ok("GET", f"/tasks/{task['id']}")
    data = fill(detail.get_json()["form_schema"], overrides)
    c.ok("POST", f"/tasks/{task['id']}/complete", {"data": data}, If_Match=detail.headers["ETag"])


def test_a_client_drives_a_case_from_intake_to_the_meeting_with_the_api_only(client, runtime, tenant):
    first = make_user(runtime, tenant, email="first@example.jp", roles=["consultant"])
    second = make_user(runtime, tenant, email="second@example.jp", roles=["consultant"])
    admin = make_user(runtime, tenant, email="boss@example.jp", roles=["tenant_admin"])
    a, b, boss = (Client(client, tenant.slug, u.token) for u in (first, second, admin))

    # 相談受付: open the case; a retry with the same key starts nothing new and answers the same.
    started = a.ok("POST", "/cases", {"person": PERSON}, status=201, Idempotency_Key="intake-0001")
    again = a.ok("POST", "/cases", {"person": PERSON}, status=201, Idempotency_Key="intake-0001")
    assert again.get_json() == started.get_json() and again.headers["Idempotent-Replayed"] == "true"
    case_id = started.get_json()["id"]
    found = a.ok("GET", "/cases?kana=ヤマダ&state=open").get_json()
    assert [c["id"] for c in found] == [case_id]

    # The case's tasks, without paging through the inbox; the case detail lists them too.
    (intake,) = _case_tasks(a, case_id)
    assert intake["name"] == "intake"
    assert [t["id"] for t in a.ok("GET", f"/cases/{case_id}").get_json()["open_tasks"]] == [intake["id"]]

    # Claim, save a draft, see it; the ETag read before the draft is now stale.
    before = a.ok("GET", f"/tasks/{intake['id']}")
    a.ok("POST", f"/tasks/{intake['id']}/claim", If_Match=before.headers["ETag"])
    a.ok("PUT", f"/tasks/{intake['id']}/draft", {"data": {"consultation_detail": "途中まで"}})
    shown = a.ok("GET", f"/tasks/{intake['id']}").get_json()
    assert shown["draft"] == {"consultation_detail": "途中まで"} and shown["assignee"] == str(first.user.id)
    data = fill(shown["form_schema"], {"screening_outcome": "continue"})
    stale = a.call("POST", f"/tasks/{intake['id']}/complete", {"data": data}, If_Match=before.headers["ETag"])
    assert stale.status_code == 412 and stale.get_json()["error"]["code"] == "precondition_failed"

    # Release it to the queue, then hand it to the second consultant, who completes it.
    released = a.ok("POST", f"/tasks/{intake['id']}/release").get_json()
    assert released["assignee"] is None
    handed = a.ok("POST", f"/tasks/{intake['id']}/reassign", {"assignee": str(second.user.id)}).get_json()
    assert handed["assignee"] == str(second.user.id)
    current = b.ok("GET", f"/tasks/{intake['id']}").headers["ETag"]
    done = b.ok(
        "POST", f"/tasks/{intake['id']}/complete", {"data": data}, If_Match=current, Idempotency_Key="done-1"
    )
    replay = b.ok("POST", f"/tasks/{intake['id']}/complete", {"data": data}, Idempotency_Key="done-1")
    assert replay.get_json() == done.get_json()  # the retry is not a 409: the first answer, again
    assert b.call("POST", f"/tasks/{intake['id']}/complete", {"data": data}).status_code == 409

    # The case stays with its responsible consultant (the first, who opened it): the next consultant step is
    # already theirs. Handing the case to the second consultant is recorded and moves that step along.
    consent_task = _one(a, case_id, "consent")
    assert consent_task["assignee"] == str(first.user.id)
    assert b.call("POST", f"/tasks/{consent_task['id']}/complete", {"data": {}}).status_code == 409
    moved = a.ok(
        "PUT", f"/cases/{case_id}/responsible", {"user_id": str(second.user.id), "reason": "担当替え"}
    ).get_json()
    assert moved["responsible_id"] == str(second.user.id) and moved["number"].startswith("R")
    assert _one(b, case_id, "consent")["assignee"] == str(second.user.id)
    assert (
        boss.call("PUT", f"/cases/{case_id}/responsible", {"user_id": str(admin.user.id)}).status_code == 422
    )  # an administrator is no consultant of the case's unit

    # Consent, assessment (urgent: the ad hoc meeting) and the plan draft, by the second consultant.
    _complete(b, case_id, "consent", consent_application=True)
    _complete(b, case_id, "assessment", emergency_support=False, urgency="high")
    _complete(
        b,
        case_id,
        "plan_draft",
        plan_end_date=later(180).isoformat(),
        early_start=False,
        statutory_programmes=[],
    )

    # The case is at its meeting: the secretariat's step is open, the timeline tells the story.
    names = {t["name"] for t in _case_tasks(boss, case_id)}
    assert "convene_adhoc" in names, names
    case = boss.ok("GET", f"/cases/{case_id}").get_json()
    assert "convene_adhoc" in {t["name"] for t in case["open_tasks"]}
    timeline = boss.ok("GET", f"/cases/{case_id}/timeline").get_json()
    titles = [e["title"] for e in timeline]
    assert len(timeline) >= 5 and any("相談受付" in t for t in titles), titles
    consent = a.ok("GET", f"/cases/{case_id}/consent").get_json()  # the case team reads the consent step
    assert consent["consent"]["consent_application"] is True and consent["withdrawn"] is False
    # a tenant administrator has no legal basis for the case file (issue #15): the step's contents are hidden
    assert boss.ok("GET", f"/cases/{case_id}/consent").get_json()["consent"] == {}
    assert boss.ok("GET", f"/cases?stage={case['stage']}").get_json()[0]["id"] == case_id

    with transaction(runtime.sessions, tenant.id) as session:
        assert session.execute(select(func.count()).select_from(Case)).scalar() == 1
        completions = session.execute(
            select(func.count())
            .select_from(CaseEvent)
            .where(CaseEvent.kind == "task_completed", CaseEvent.element == "intake")
        ).scalar()
        assert completions == 1


def test_concurrent_retries_with_one_key_start_one_case(app, runtime, tenant):
    user = make_user(runtime, tenant, email="race@example.jp", roles=["consultant"])
    results: list[Any] = []
    barrier = threading.Barrier(4)

    def post() -> None:
        c = Client(app.test_client(), tenant.slug, user.token)
        barrier.wait()
        results.append(c.call("POST", "/cases", {"person": PERSON}, Idempotency_Key="same-key"))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.status_code for r in results) == [201] * 4, [r.get_json() for r in results]
    assert len({r.get_json()["id"] for r in results}) == 1
    with transaction(runtime.sessions, tenant.id) as session:
        assert session.execute(select(func.count()).select_from(Case)).scalar() == 1
        assert session.execute(select(func.count()).select_from(IdempotencyRecord)).scalar() == 1


def test_a_key_reused_for_another_request_is_409_and_a_failed_request_frees_its_key(client, runtime, tenant):
    user = make_user(runtime, tenant, email="reuse@example.jp", roles=["consultant"])
    c = Client(client, tenant.slug, user.token)
    bad = c.call("POST", "/cases", {"person": {"name": ""}}, Idempotency_Key="k1")
    assert bad.status_code == 422
    c.ok("POST", "/cases", {"person": PERSON}, status=201, Idempotency_Key="k1")  # the key was free again
    other = c.call("POST", "/cases", {"person": {**PERSON, "name": "別人"}}, Idempotency_Key="k1")
    assert other.status_code == 409 and other.get_json()["error"]["code"] == "idempotency_key_reused"
    empty = c.call("POST", "/cases", {"person": PERSON}, Idempotency_Key="x" * 201)
    assert empty.status_code == 400 and empty.get_json()["error"]["code"] == "idempotency_key_invalid"


def test_a_stale_if_match_on_an_org_unit_is_412_and_changes_nothing(client, runtime, tenant):
    admin = make_user(runtime, tenant, email="units@example.jp", roles=["tenant_admin"])
    c = Client(client, tenant.slug, admin.token)
    unit = c.ok("GET", "/org-units").get_json()[0]
    read = c.ok("GET", f"/org-units/{unit['id']}")
    etag = read.headers["ETag"]
    renamed = c.ok("PATCH", f"/org-units/{unit['id']}", {"name": "福祉部"}, If_Match=etag)
    assert renamed.headers["ETag"] != etag
    stale = c.call("PATCH", f"/org-units/{unit['id']}", {"name": "上書き"}, If_Match=etag)
    assert stale.status_code == 412 and stale.headers["ETag"] == renamed.headers["ETag"]
    assert c.ok("GET", f"/org-units/{unit['id']}").get_json()["name"] == "福祉部"


def test_idempotency_keys_of_one_tenant_are_invisible_to_another(client, runtime, tenant):
    from tests.factories import make_tenant

    other = make_tenant(runtime, "other-idem")
    mine = make_user(runtime, tenant, email="mine@example.jp", roles=["consultant"])
    theirs = make_user(runtime, other, email="theirs@example.jp", roles=["consultant"])
    Client(client, tenant.slug, mine.token).ok(
        "POST", "/cases", {"person": PERSON}, status=201, Idempotency_Key="k"
    )
    started = Client(client, other.slug, theirs.token).ok(
        "POST", "/cases", {"person": PERSON}, status=201, Idempotency_Key="k"
    )
    assert "Idempotent-Replayed" not in started.headers
    for t in (tenant, other):
        with transaction(runtime.sessions, t.id) as session:
            rows = session.execute(select(IdempotencyRecord)).scalars().all()
            assert len(rows) == 1 and rows[0].tenant_id == t.id


def test_cases_list_pages_with_a_cursor_and_filters(client, runtime, tenant):
    admin = make_user(runtime, tenant, email="pages@example.jp", roles=["tenant_admin"])
    c = Client(client, tenant.slug, admin.token)
    ids = [
        c.ok("POST", "/cases", {"person": {**PERSON, "name_kana": f"テスト{i}"}}, status=201).get_json()["id"]
        for i in range(5)
    ]
    seen: list[str] = []
    path = "/cases?limit=2"
    while True:
        page = c.ok("GET", path)
        seen += [row["id"] for row in page.get_json()]
        if "Next-Cursor" not in page.headers:
            break
        assert 'rel="next"' in page.headers["Link"]
        path = f"/cases?limit=2&cursor={page.headers['Next-Cursor']}"
    assert seen == list(reversed(ids))
    assert [r["id"] for r in c.ok("GET", "/cases?kana=テスト3").get_json()] == [ids[3]]
    assert c.ok("GET", "/cases?state=closed").get_json() == []
    assert c.ok("GET", "/cases?org_unit=nowhere").get_json() == []
    due = c.ok("GET", f"/cases?due_before={later(3650).isoformat()}").get_json()
    assert {r["id"] for r in due} <= set(ids)
    bad = c.call("GET", "/cases?cursor=@@@")
    assert bad.status_code == 422 and bad.get_json()["error"]["details"][0]["field"] == "cursor"


def test_beat_purges_idempotency_keys_past_their_retention(client, runtime, tenant):
    from datetime import timedelta

    from tsunagu.core.db import utcnow
    from tsunagu.core.idempotency import RETENTION
    from tsunagu.jobs.beat import purge_idempotency_keys

    user = make_user(runtime, tenant, email="purge@example.jp", roles=["consultant"])
    c = Client(client, tenant.slug, user.token)
    c.ok("POST", "/cases", {"person": PERSON}, status=201, Idempotency_Key="old")
    assert purge_idempotency_keys(runtime, utcnow(), force=True) == 0  # still within its retention
    assert purge_idempotency_keys(runtime, utcnow() + RETENTION + timedelta(minutes=1), force=True) == 1
    with transaction(runtime.sessions, tenant.id) as session:
        assert session.execute(select(func.count()).select_from(IdempotencyRecord)).scalar() == 0
    again = c.ok("POST", "/cases", {"person": PERSON}, status=201, Idempotency_Key="old")
    assert "Idempotent-Replayed" not in again.headers  # a purged key starts afresh
