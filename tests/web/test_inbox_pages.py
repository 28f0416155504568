"""The inbox and task pages through the test client: filters, counts, paging, claiming, reassigning, saved
views, drafts, the htmx fragment — and the same services the JSON API uses underneath."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from tests.web.conftest import make_staff, org_unit
from tests.web.test_browser_casework import _start_case
from tsunagu.cases.models import HumanTask
from tsunagu.core.db import utcnow
from tsunagu.core.session import transaction
from tsunagu.inbox import filters as inbox_filters
from tsunagu.inbox.models import SavedView

TASK_LINK = re.compile(r'href="/t/[^/]+/tasks/([0-9a-f-]{36})"')


def _rows(html: str) -> int:
    return html.count('class="task-link"')


def _tasks(runtime, tenant) -> list[HumanTask]:
    with transaction(runtime.sessions, tenant.id) as session:
        return list(session.execute(select(HumanTask).where(HumanTask.state == "ready")).scalars())


def test_filters_sorting_and_counts(runtime, yokohama, act_as):
    browser = act_as(yokohama, ["consultant"])
    _start_case(runtime, yokohama, "山田 花子", "ヤマダ ハナコ", unit="kohoku")
    _start_case(runtime, yokohama, "田中 一郎", "タナカ イチロウ", unit="tsurumi")
    _start_case(runtime, yokohama, "田中 次郎", "タナカ ジロウ", unit="tsurumi")
    with transaction(runtime.sessions, yokohama.id) as session:  # one overdue task
        # person_name is sealed (issue #16): found in Python, never compared in SQL
        tasks = session.execute(select(HumanTask)).scalars().all()
        target = next(t for t in tasks if t.person_name == "田中 次郎")
        session.execute(
            update(HumanTask)
            .where(HumanTask.id == target.id)
            .values(due_at=utcnow() - timedelta(days=1), priority=5)
        )
    html = browser.get("/inbox?scope=role").get_data(as_text=True)
    assert _rows(html) == 3
    assert re.search(r'data-view="role">3<', html) and re.search(r'data-view="mine">0<', html)
    assert re.search(r'data-view="overdue">1<', html) and re.search(r'data-view="soon">2<', html)
    assert "badge-danger" in html  # the overdue one is marked

    assert _rows(browser.get("/inbox?scope=all&q=タナカ").get_data(as_text=True)) == 2
    assert _rows(browser.get("/inbox?scope=all&q=山田").get_data(as_text=True)) == 1
    assert _rows(browser.get("/inbox?scope=all&q=%25").get_data(as_text=True)) == 0  # LIKE wildcards are text
    assert _rows(browser.get("/inbox?scope=all&due=overdue").get_data(as_text=True)) == 1
    tsurumi = org_unit(runtime, yokohama, "tsurumi")
    assert _rows(browser.get(f"/inbox?scope=all&org_unit={tsurumi.id}").get_data(as_text=True)) == 2
    assert _rows(browser.get("/inbox?scope=all&step=intake").get_data(as_text=True)) == 3
    assert _rows(browser.get("/inbox?scope=all&step=assessment").get_data(as_text=True)) == 0
    case_id = _tasks(runtime, yokohama)[0].case_id
    assert _rows(browser.get(f"/inbox?scope=all&case={case_id}").get_data(as_text=True)) == 1
    by_priority = browser.get("/inbox?scope=all&sort=priority&order=desc").get_data(as_text=True)
    assert by_priority.index("田中 次郎") < by_priority.index("山田 花子")
    assert browser.get("/inbox?scope=bogus&sort=bogus&case=nope").status_code == 200  # lenient


def test_paging(runtime, yokohama, act_as, monkeypatch):
    monkeypatch.setattr(inbox_filters, "PAGE_SIZE", 2)
    browser = act_as(yokohama, ["consultant"])
    for n in range(5):
        _start_case(runtime, yokohama, f"利用者 {n}", "リヨウシャ")
    first = browser.get("/inbox?scope=role").get_data(as_text=True)
    assert _rows(first) == 2 and "page=3" in first
    assert _rows(browser.get("/inbox?scope=role&page=3").get_data(as_text=True)) == 1
    assert _rows(browser.get("/inbox?scope=role&page=99").get_data(as_text=True)) == 1  # clamped to the last


def test_the_list_fragment_refreshes_itself_and_the_counts(runtime, yokohama, act_as):
    browser = act_as(yokohama, ["consultant"])
    _start_case(runtime, yokohama, "山田 花子", "ヤマダ ハナコ")
    page = browser.get("/inbox?scope=role").get_data(as_text=True)
    assert 'hx-trigger="every 30s"' in page and 'hx-get="/t/yokohama/inbox/list?scope=role"' in page
    fragment = browser.get("/inbox/list?scope=role", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.startswith('<div id="inbox-list"') and "<html" not in fragment
    assert 'id="view-nav"' in fragment and 'hx-swap-oob="true"' in fragment


def test_claim_bulk_claim_unclaim_and_conflicts(runtime, yokohama, act_as):
    me = act_as(yokohama, ["consultant"])
    for n in range(3):
        _start_case(runtime, yokohama, f"相談者 {n}", "ソウダンシャ")
    ids = [str(t.id) for t in _tasks(runtime, yokohama)]
    other = act_as(yokohama, ["consultant"], name="他の 担当者")
    other.post("/inbox/claim", {"one": ids[2]})
    response = me.post(
        "/inbox/claim", [("task", i) for i in ids] + [("next", "/t/yokohama/inbox?scope=role")]
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/inbox?scope=role")
    flashes = me.get("/inbox").get_data(as_text=True)
    assert "2件のタスクを引き受けました。" in flashes
    assert (
        "他の担当者が引き受けています" in flashes
    )  # the third one: a clear message, the others still claimed
    assert _rows(flashes) == 2
    me.post("/inbox/unclaim", {"one": ids[0]})
    assert _rows(me.get("/inbox").get_data(as_text=True)) == 1
    assert me.post("/inbox/claim", {"next": "https://evil.example/"}).status_code == 422  # nothing selected
    response = me.post("/inbox/claim", {"one": ids[0], "next": "https://evil.example/"})
    assert response.headers["Location"].endswith("/t/yokohama/inbox")  # no open redirect


def test_reassigning_needs_permission_and_a_holder_of_the_role(runtime, yokohama, act_as):
    me = act_as(yokohama, ["consultant"])
    _start_case(runtime, yokohama, "山田 花子", "ヤマダ ハナコ")
    task_id = str(_tasks(runtime, yokohama)[0].id)
    colleague = make_staff(runtime, yokohama, "col@example.jp", "同僚 一", ["consultant"])
    secretary = make_staff(runtime, yokohama, "sec@example.jp", "事務局 二", ["meeting_secretariat"])
    page = me.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "同僚 一" in page  # offered in the reassign list

    me.post("/inbox/assign", {"task": task_id, "assignee": str(secretary.user_id)})
    assert "役割を持っていません" in me.get("/inbox").get_data(as_text=True)
    me.post("/inbox/assign", {"task": task_id, "assignee": str(colleague.user_id)})
    assert "1件のタスクの担当者を変更しました。" in me.get("/inbox").get_data(as_text=True)
    assert _tasks(runtime, yokohama)[0].assignee_id == colleague.user_id
    me.post("/inbox/assign", {"task": task_id, "assignee": str(me.user_id)})  # not mine any more: refused
    assert "他の担当者が引き受けたタスクは変更できません" in me.get("/inbox").get_data(as_text=True)
    assert _tasks(runtime, yokohama)[0].assignee_id == colleague.user_id
    admin = act_as(yokohama, ["tenant_admin"])
    admin.post("/inbox/assign", {"task": task_id, "assignee": str(me.user_id)})
    assert _tasks(runtime, yokohama)[0].assignee_id == me.user_id


def test_saved_views_are_private_unless_shared(runtime, yokohama, act_as):
    owner = act_as(yokohama, ["consultant"])
    _start_case(runtime, yokohama, "山田 花子", "ヤマダ ハナコ")
    response = owner.post("/inbox/views", {"name": "自分用", "scope": "all", "q": "ヤマダ"})
    private_id = re.search(r"view=([0-9a-f-]{36})", response.headers["Location"]).group(1)  # type: ignore[union-attr]
    owner.post("/inbox/views", {"name": "共有ビュー", "scope": "role", "shared": "true"})
    owner.post("/inbox/views", {"name": "自分用", "scope": "all", "q": "花子"})  # same name: updated
    with transaction(runtime.sessions, yokohama.id) as session:
        views = {v.name: v for v in session.execute(select(SavedView)).scalars()}
    assert len(views) == 2 and views["自分用"].filters == {"scope": "all", "q": "花子"}
    page = owner.get(f"/inbox?view={private_id}").get_data(as_text=True)
    assert _rows(page) == 1 and "自分用" in page
    assert owner.post("/inbox/views", {"name": ""}).status_code == 302  # refused with a message

    other = act_as(yokohama, ["consultant"], name="別の 職員")
    page = other.get("/inbox").get_data(as_text=True)
    assert "共有ビュー" in page and "自分用" not in page
    assert other.get(f"/inbox?view={private_id}").status_code == 404
    shared_id = str(views["共有ビュー"].id)
    assert other.post(f"/inbox/views/{shared_id}/delete").status_code == 403
    assert owner.post(f"/inbox/views/{shared_id}/delete").status_code == 302
    assert owner.get(f"/inbox?view={shared_id}").status_code == 404


def test_auditors_keep_personal_views_but_cannot_create_or_change_shared_ones(runtime, yokohama, act_as):
    auditor = act_as(yokohama, ["auditor"], name="監査 担当")
    page = auditor.get("/inbox").get_data(as_text=True)
    assert 'name="name"' in page and 'name="shared"' not in page  # no "share" box offered
    shared = auditor.post("/inbox/views", {"name": "全庁に見せる", "scope": "all", "shared": "true"})
    assert shared.status_code == 403
    assert "auditors can only read" in shared.get_data(as_text=True)
    personal = auditor.post("/inbox/views", {"name": "監査用", "scope": "all", "due": "overdue"})
    assert personal.status_code == 302  # a reading aid for themselves only
    owner = act_as(yokohama, ["consultant"])
    owner.post("/inbox/views", {"name": "共有ビュー", "scope": "role", "shared": "true"})
    with transaction(runtime.sessions, yokohama.id) as session:
        views = {v.name: v for v in session.execute(select(SavedView)).scalars()}
    assert set(views) == {"監査用", "共有ビュー"} and not views["監査用"].shared
    # A view shared before this rule (an auditor's own) can be neither changed, unshared nor deleted by them.
    with transaction(runtime.sessions, yokohama.id) as session:
        session.get(SavedView, (yokohama.id, views["監査用"].id)).shared = True
    assert auditor.post("/inbox/views", {"name": "監査用", "scope": "mine"}).status_code == 403
    assert auditor.post(f"/inbox/views/{views['監査用'].id}/delete").status_code == 403
    assert auditor.post(f"/inbox/views/{views['共有ビュー'].id}/delete").status_code == 403
    with transaction(runtime.sessions, yokohama.id) as session:
        kept = session.get(SavedView, (yokohama.id, views["監査用"].id))
        assert kept.shared and kept.filters == {"scope": "all", "due": "overdue"}


def test_a_draft_is_kept_and_comes_back(runtime, yokohama, act_as):
    me = act_as(yokohama, ["consultant"])
    _start_case(runtime, yokohama, "山田 花子", "ヤマダ ハナコ")
    task_id = str(_tasks(runtime, yokohama)[0].id)
    page = me.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert 'value="山田 花子"' in page and 'value="ヤマダ ハナコ"' in page  # prefilled from the person
    response = me.post(
        f"/tasks/{task_id}",
        [
            ("action", "draft"),
            ("address", "横浜市港北区"),
            ("consultation_topics", "debt"),
            ("household_size", "abc"),
        ],
    )
    assert response.status_code == 302
    page = me.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert 'value="横浜市港北区"' in page and 'value="abc"' in page  # drafts are not validated
    assert re.search(r'value="debt"\s+checked', page)
    response = me.post(f"/tasks/{task_id}", [("action", "complete"), ("address", "横浜市港北区")])
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "入力内容を確認してください" in body and 'aria-invalid="true"' in body
    english = me.post(f"/tasks/{task_id}?lang=en", [("action", "complete")]).get_data(as_text=True)
    assert "This field is required" in english  # server messages in the page's language


def test_pages_need_a_signed_in_user(client, yokohama):
    for path in ("/inbox", "/inbox/list", "/cases/new", f"/tasks/{uuid.uuid4()}", f"/cases/{uuid.uuid4()}"):
        response = client.get(f"/t/yokohama{path}")
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"], path
