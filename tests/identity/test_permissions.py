"""Who may open which page and call which endpoint: every role, and the ward boundary inside Yokohama.

Pages are opened with a browser session from a real sign-in; API endpoints with API tokens. Both produce the
same principal, so the same rules (``identity.permissions``) answer.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.engine_api.driver import Api
from tests.factories import make_user
from tests.support.oidc import app_with_idp_secret, configure_tenant_idp, sign_in
from tsunagu.cases.models import Case, HumanTask
from tsunagu.core.session import transaction
from tsunagu.identity.models import ALL_ROLES, Role
from tsunagu.identity.permissions import ACTION_ROLES, can, case_scope, task_scope
from tsunagu.identity.principal import Principal
from tsunagu.tenancy.models import OrgUnit, Tenant
from tsunagu.tenancy.sync import sync_presets

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(ALL_ROLES)
UNIT_ROLES = {"consultant", "municipal_staff", "provider"}  # work in 港北区 here; the others have no ward


@pytest.fixture
def yokohama(runtime, oidc_provider):
    sync_presets(runtime, REPO / "tenants")
    with transaction(runtime.sessions, None) as session:
        tenant = session.execute(select(Tenant).where(Tenant.slug == "yokohama")).scalar_one()
    configure_tenant_idp(
        runtime,
        tenant,
        oidc_provider.issuer,
        claims={"email": "email", "name": "name", "org_unit": "ward", "roles": "roles"},
        allowed_email_domains=["yokohama.example"],
    )
    with transaction(runtime.sessions, tenant.id) as session:
        units = {u.code: u for u in session.execute(select(OrgUnit)).scalars()}
    return tenant, units


@pytest.fixture
def world(runtime, yokohama):
    """Cases (and their intake tasks) in 港北区 and 鶴見区, and an API token per role (港北区 for ward roles)."""
    tenant, units = yokohama
    app = app_with_idp_secret(runtime)
    client = app.test_client()
    tokens = {
        role: make_user(
            runtime,
            tenant,
            email=f"{role}-token@yokohama.example",
            roles=[role],
            org_unit=units["kohoku"] if role in UNIT_ROLES else None,
        ).token
        for role in ROLES
    }
    admin = Api(client, "yokohama", tokens["tenant_admin"])
    kohoku_case = admin.start_case(org_unit="kohoku")["id"]
    tsurumi_case = admin.start_case(org_unit="tsurumi")["id"]
    tasks = admin.get("/tasks?scope=all").get_json()
    task_of = {t["case_id"]: t["id"] for t in tasks}
    return {
        "app": app,
        "client": client,
        "tenant": tenant,
        "units": units,
        "tokens": tokens,
        "kohoku_case": kohoku_case,
        "tsurumi_case": tsurumi_case,
        "kohoku_task": task_of[kohoku_case],
        "tsurumi_task": task_of[tsurumi_case],
    }


def _api(world, role: str, method: str, path: str, **kw):
    return getattr(world["client"], method)(
        "/t/yokohama/api/v1" + path, headers={"Authorization": f"Bearer {world['tokens'][role]}"}, **kw
    )


READERS = {"tenant_admin", "consultant", "municipal_staff", "meeting_secretariat", "auditor", "provider"}


def test_api_endpoints_answer_each_role(world):
    for role in ROLES:
        _check_api_for(world, role)


def _check_api_for(world, role: str) -> None:
    def expect(allowed: set[str], ok: int = 200, denied: int = 403) -> int:
        return ok if role in allowed else denied

    kohoku_unit = world["units"]["kohoku"].id
    assert _api(world, role, "get", "/tasks").status_code == 200, role
    assert _api(world, role, "get", "/org-units").status_code == 200, role
    assert _api(world, role, "get", "/definitions").status_code == expect({"tenant_admin", "auditor"})
    assert _api(world, role, "post", "/definitions").status_code == expect({"tenant_admin"}, ok=422)
    renamed = _api(world, role, "patch", f"/org-units/{kohoku_unit}", json={"name": "港北区"})
    assert renamed.status_code == expect({"tenant_admin"})
    assert _api(world, role, "get", f"/cases/{world['kohoku_case']}").status_code == expect(READERS)
    # 鶴見区: outside the ward roles' unit, so not found; tenant-wide roles read it; others lack the role.
    tsurumi = _api(world, role, "get", f"/cases/{world['tsurumi_case']}").status_code
    assert tsurumi == (404 if role in UNIT_ROLES else expect(READERS)), role
    new_case = _api(
        world,
        role,
        "post",
        "/cases",
        json={"person": {"name": "新規 太郎", "name_kana": "シンキ タロウ"}, "org_unit": "kohoku"},
    )
    assert new_case.status_code == expect({"tenant_admin", "consultant", "municipal_staff"}, ok=201)


def test_a_kohoku_consultant_sees_kohoku_work_and_not_tsurumi(world):
    # The intake task belongs to the consultant lane of each case's ward.
    assert _api(world, "consultant", "get", f"/tasks/{world['kohoku_task']}").status_code == 200
    assert _api(world, "consultant", "get", f"/tasks/{world['tsurumi_task']}").status_code == 404
    assert _api(world, "consultant", "post", f"/tasks/{world['tsurumi_task']}/claim").status_code == 404
    listed = {t["id"] for t in _api(world, "consultant", "get", "/tasks?scope=role").get_json()}
    assert world["kohoku_task"] in listed and world["tsurumi_task"] not in listed
    # The administrator and the auditor see the whole city.
    for role in ("tenant_admin", "auditor"):
        assert _api(world, role, "get", f"/tasks/{world['tsurumi_task']}").status_code == 200
        assert _api(world, role, "get", f"/cases/{world['tsurumi_case']}").status_code == 200
    # The auditor only reads.
    assert _api(world, "auditor", "post", f"/tasks/{world['kohoku_task']}/claim").status_code == 403
    assert _api(world, "consultant", "post", f"/tasks/{world['kohoku_task']}/claim").status_code == 200


def test_pages_answer_each_role_signed_in_through_the_provider(world):
    for role in ROLES:
        _check_pages_for(world, role)


def _check_pages_for(world, role: str) -> None:
    client = world["app"].test_client()
    claims: dict[str, object] = {"name": f"{role} さん", "roles": [role]}
    if role in UNIT_ROLES:
        claims["ward"] = "kohoku"
    sign_in(client, "", "yokohama", f"{role}@yokohama.example", sub=f"yokohama-{role}", claims=claims)
    assert client.get("/t/yokohama/account").status_code == 200
    for page in ("/admin/users", "/admin/tokens", "/admin/identity-provider"):
        status = client.get("/t/yokohama" + page).status_code
        assert status == (200 if role == "tenant_admin" else 403), (role, page)
    # Cookies never authenticate the JSON API: only bearer tokens do.
    assert client.get("/t/yokohama/api/v1/tasks").status_code == 401
    inbox = [r for r in world["app"].url_map.iter_rules() if r.endpoint.endswith("inbox.index")]
    if inbox:  # the inbox page (another module) answers every role
        assert client.get("/t/yokohama/inbox").status_code == 200


def test_the_ward_claim_puts_the_consultant_in_kohoku_including_its_departments(world, runtime):
    client = world["app"].test_client()
    sign_in(
        client,
        "",
        "yokohama",
        "hanako@yokohama.example",
        sub="hanako",
        claims={"roles": ["consultant", "no-such-role"], "ward": "kohoku"},
    )
    with transaction(runtime.sessions, world["tenant"].id) as session:
        from tsunagu.identity.models import User
        from tsunagu.identity.principal import membership_units
        from tsunagu.identity.services import user_access

        user = session.execute(select(User).where(User.email == "hanako@yokohama.example")).scalar_one()
        roles, unit_ids = user_access(session, user.id)
        assert roles == ["consultant"] and unit_ids == [world["units"]["kohoku"].id]
        _roles, covered = membership_units(session, user.id)
    units = world["units"]
    assert covered == {units["kohoku"].id, units["kohoku-seikatsu-shien"].id}


def test_the_rules_in_one_table():
    someone = Principal(
        user_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        roles=frozenset({Role.AUDITOR.value}),
        org_unit_ids=frozenset(),
    )
    assert can(someone, "case.read") and not can(someone, "task.act") and not can(someone, "case.create")
    assert not can(None, "case.read")
    assert task_scope(someone, HumanTask) is None and case_scope(someone, Case.org_unit_id) is None
    assert set(ACTION_ROLES["admin.users"]) == {"tenant_admin"}
    with pytest.raises(ValueError):
        can(someone, "no.such.action")
