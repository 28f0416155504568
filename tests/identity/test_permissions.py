"""Who may open which page and call which endpoint: every role, and the ward boundary inside Yokohama.

Pages are opened with a browser session from a real sign-in; API endpoints with API tokens. Both produce the
same principal, so the same rules (``identity.permissions``) answer. Access fails closed (issue #15): a
principal's scope is exactly its (role, org unit) memberships, no org unit means no case, tenant-wide only
for administrators and auditors; a token never exceeds its user.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.engine_api.driver import Api
from tests.factories import make_user, tenant_row
from tests.support.api_errors import fields
from tests.support.oidc import app_with_idp_secret, configure_tenant_idp, sign_in
from tsunagu.cases.models import Case, HumanTask
from tsunagu.core.session import transaction
from tsunagu.identity.models import ALL_ROLES, Role
from tsunagu.identity.permissions import ACTION_ROLES, can, case_scope, task_scope
from tsunagu.identity.principal import Principal
from tsunagu.tenancy.models import OrgUnit
from tsunagu.tenancy.sync import sync_presets

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(ALL_ROLES)
TENANT_WIDE = {"tenant_admin", "auditor"}  # the only roles held without an org unit
UNIT_ROLES = set(ROLES) - TENANT_WIDE  # work in 港北区 here


@pytest.fixture
def yokohama(runtime, oidc_provider):
    sync_presets(runtime, REPO / "tenants")
    tenant = tenant_row(runtime, "yokohama")
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
            tenant_wide=role in TENANT_WIDE,
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
    kohoku = _api(world, role, "get", f"/cases/{world['kohoku_case']}")
    # a partner's user (外部参加者, issue #20) is not told that a case exists: 404, not 403
    hidden = 404 if role == "external_participant" else 403
    assert kohoku.status_code == expect(READERS, denied=hidden)
    if kohoku.status_code == 200:
        # Reading a case is not seeing its contents (issue #15, the old provider rule): without consent a
        # provider — and an administrator, who has no casework basis — gets the anonymised summary.
        seen = kohoku.get_json()["information"]["visibility"]
        anonymised = {"provider", "tenant_admin"}
        assert seen == ("anonymised" if role in anonymised else "full"), role
        assert (kohoku.get_json()["person"].get("anonymised") is True) == (role in anonymised), role
    # 鶴見区: outside the ward roles' unit, so not found; tenant-wide roles read it; others lack the role.
    tsurumi = _api(world, role, "get", f"/cases/{world['tsurumi_case']}").status_code
    assert tsurumi == (404 if role in UNIT_ROLES & READERS else expect(READERS, denied=hidden)), role
    new_case = _api(
        world,
        role,
        "post",
        "/cases",
        json={"person": {"name": "新規 太郎", "name_kana": "シンキ タロウ"}, "org_unit": "kohoku"},
    )
    assert new_case.status_code == expect({"tenant_admin", "consultant", "municipal_staff"}, ok=201)
    # Only the administrator opens a case in a ward they do not work in.
    elsewhere = _api(
        world,
        role,
        "post",
        "/cases",
        json={"person": {"name": "鶴見 花子", "name_kana": "ツルミ ハナコ"}, "org_unit": "tsurumi"},
    )
    writers = {"tenant_admin", "consultant", "municipal_staff"}
    assert elsewhere.status_code == (201 if role == "tenant_admin" else 403), role
    assert role in writers or elsewhere.status_code == 403


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
        grants=frozenset({(Role.AUDITOR.value, None)}),
    )
    assert can(someone, "case.read") and not can(someone, "task.act") and not can(someone, "case.create")
    assert not can(None, "case.read")
    assert task_scope(someone, HumanTask) is None and case_scope(someone, Case.org_unit_id) is None
    assert set(ACTION_ROLES["admin.users"]) == {"tenant_admin"}
    with pytest.raises(ValueError):
        can(someone, "no.such.action")


def test_grants_are_pairs_and_no_unit_means_nothing():
    kohoku, tsurumi = uuid.uuid4(), uuid.uuid4()
    both = Principal(
        user_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        roles=frozenset({"consultant", "provider"}),
        org_unit_ids=frozenset({kohoku, tsurumi}),
        grants=frozenset({("consultant", kohoku), ("provider", tsurumi)}),
    )

    class Obj:
        def __init__(self, unit, role="consultant"):
            self.org_unit_id, self.role, self.assignee_id = unit, role, None

    assert can(both, "case.create", Obj(kohoku)) and not can(both, "case.create", Obj(tsurumi))
    assert can(both, "case.read", Obj(tsurumi))  # as the provider there
    assert can(both, "task.act", Obj(kohoku)) and not can(both, "task.read", Obj(tsurumi))
    assert can(both, "task.read", Obj(tsurumi, "provider"))
    assert not can(both, "case.read", Obj(None))  # no org unit: only the tenant-wide roles
    nowhere = Principal(
        user_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        roles=frozenset({"consultant"}),
        org_unit_ids=frozenset(),
    )
    assert not can(nowhere, "case.read", Obj(kohoku)) and not can(nowhere, "case.read", Obj(None))
    assert str(case_scope(nowhere, Case.org_unit_id)) == "false"


# --- fail closed (issue #15) ------------------------------------------------------------------------------


def _token_for(world, runtime, email: str, memberships: dict, roles: list[str]) -> str:
    """A user with exactly ``memberships`` ({unit code or None: roles}) and a token carrying ``roles``."""
    from tsunagu.identity.models import User
    from tsunagu.identity.services import set_memberships
    from tsunagu.identity.tokens import create_token

    units = world["units"]
    with transaction(runtime.sessions, world["tenant"].id) as session:
        user = User(tenant_id=world["tenant"].id, email=email, display_name=email)
        session.add(user)
        session.flush()
        set_memberships(
            session, user, {(units[c].id if c else None): r for c, r in memberships.items()}
        ) if all(c or set(r) <= TENANT_WIDE for c, r in memberships.items()) else _raw_memberships(
            session, user, {(units[c].id if c else None): r for c, r in memberships.items()}
        )
        return create_token(session, user, roles).token


def _raw_memberships(session, user, memberships) -> None:
    # What an identity provider's claims can leave behind: a role other than admin/auditor without a unit.
    from tsunagu.identity.models import Membership

    for unit, roles in memberships.items():
        session.add(Membership(tenant_id=user.tenant_id, user_id=user.id, org_unit_id=unit, roles=roles))
    session.flush()


def _as(world, token: str, method: str, path: str, **kw):
    return getattr(world["client"], method)(
        "/t/yokohama/api/v1" + path, headers={"Authorization": f"Bearer {token}"}, **kw
    )


NEW_PERSON = {"name": "新規 太郎", "name_kana": "シンキ タロウ"}


def test_a_user_with_no_org_unit_sees_no_case_and_opens_none(world, runtime):
    token = _token_for(world, runtime, "nowhere@yokohama.example", {None: ["consultant"]}, ["consultant"])
    assert _as(world, token, "get", f"/cases/{world['kohoku_case']}").status_code == 404
    assert _as(world, token, "get", f"/cases/{world['tsurumi_case']}").status_code == 404
    assert _as(world, token, "get", f"/tasks/{world['kohoku_task']}").status_code == 404
    assert _as(world, token, "get", "/tasks?scope=all").get_json() == []
    assert _as(world, token, "get", "/tasks?scope=role").get_json() == []
    refused = _as(world, token, "post", "/cases", json={"person": NEW_PERSON, "org_unit": "kohoku"})
    assert refused.status_code == 403
    unplaced = _as(world, token, "post", "/cases", json={"person": NEW_PERSON})
    assert unplaced.status_code == 422 and "org_unit" in fields(unplaced.get_json())


def test_memberships_are_pairs_not_a_cross_product(world, runtime):
    # Consultant in 港北区 and provider in 鶴見区: not a consultant in 鶴見区.
    token = _token_for(
        world,
        runtime,
        "pairs@yokohama.example",
        {"kohoku": ["consultant"], "tsurumi": ["provider"]},
        ["consultant", "provider"],
    )
    assert _as(world, token, "get", f"/tasks/{world['kohoku_task']}").status_code == 200
    assert _as(world, token, "get", f"/tasks/{world['tsurumi_task']}").status_code == 404  # consultant lane
    assert _as(world, token, "post", f"/tasks/{world['tsurumi_task']}/claim").status_code == 404
    listed = {t["id"] for t in _as(world, token, "get", "/tasks?scope=role").get_json()}
    assert world["kohoku_task"] in listed and world["tsurumi_task"] not in listed
    assert _as(world, token, "get", f"/cases/{world['tsurumi_case']}").status_code == 200  # as its provider
    tsurumi = _as(world, token, "post", "/cases", json={"person": NEW_PERSON, "org_unit": "tsurumi"})
    assert tsurumi.status_code == 403  # a provider there opens no case
    # Without an org unit the case opens in the creator's own unit (the only one they may open cases in).
    opened = _as(world, token, "post", "/cases", json={"person": NEW_PERSON})
    assert opened.status_code == 201
    with transaction(runtime.sessions, world["tenant"].id) as session:
        case = session.get(Case, (world["tenant"].id, uuid.UUID(opened.get_json()["id"])))
        assert case.org_unit_id == world["units"]["kohoku"].id


def test_a_case_without_org_unit_needs_a_choice_when_the_creator_works_in_two(world, runtime):
    token = _token_for(
        world,
        runtime,
        "two@yokohama.example",
        {"kohoku": ["consultant"], "tsurumi": ["consultant"]},
        ["consultant"],
    )
    unplaced = _as(world, token, "post", "/cases", json={"person": NEW_PERSON})
    assert unplaced.status_code == 422
    placed = _as(world, token, "post", "/cases", json={"person": NEW_PERSON, "org_unit": "tsurumi"})
    assert placed.status_code == 201


def test_a_token_cannot_exceed_its_users_memberships(world, runtime):
    from tsunagu.identity.models import User
    from tsunagu.identity.services import set_memberships
    from tsunagu.identity.tokens import TokenRolesExceedMemberships, create_token

    with pytest.raises(TokenRolesExceedMemberships):
        _token_for(world, runtime, "greedy@yokohama.example", {"kohoku": ["provider"]}, ["tenant_admin"])
    token = _token_for(world, runtime, "shrinks@yokohama.example", {"kohoku": ["consultant"]}, ["consultant"])
    assert _as(world, token, "post", "/cases", json={"person": NEW_PERSON}).status_code == 201
    # The user's membership changes: the token follows at once (its roles are bounded by the memberships).
    with transaction(runtime.sessions, world["tenant"].id) as session:
        user = session.execute(select(User).where(User.email == "shrinks@yokohama.example")).scalar_one()
        set_memberships(session, user, {world["units"]["kohoku"].id: ["provider"]})
        with pytest.raises(TokenRolesExceedMemberships):
            create_token(session, user, ["consultant"])
    assert _as(world, token, "post", "/cases", json={"person": NEW_PERSON}).status_code == 403
    assert _as(world, token, "get", f"/cases/{world['kohoku_case']}").status_code == 403


def test_memberships_through_the_json_api(world, runtime):
    from tsunagu.identity.models import User

    with transaction(runtime.sessions, world["tenant"].id) as session:
        user = session.execute(
            select(User).where(User.email == "consultant-token@yokohama.example")
        ).scalar_one()
    path = f"/users/{user.id}/memberships"
    bad = [
        {"memberships": [{"org_unit": None, "roles": ["consultant"]}]},  # tenant-wide consultant: refused
        {"memberships": [{"org_unit": "no-such-ward", "roles": ["consultant"]}]},
        {"memberships": [{"org_unit": "kohoku", "roles": ["wizard"]}]},
        {"memberships": "kohoku"},
    ]
    for body in bad:
        answer = _api(world, "tenant_admin", "put", path, json=body)
        assert answer.status_code == 422, (body, answer.get_json())
    assert _api(world, "consultant", "put", path, json={"memberships": []}).status_code == 403
    assert _api(world, "consultant", "get", "/users").status_code == 403
    body = {
        "memberships": [
            {"org_unit": "kohoku", "roles": ["consultant"]},
            {"org_unit": "tsurumi", "roles": ["provider"]},
        ]
    }
    saved = _api(world, "tenant_admin", "put", path, json=body)
    assert saved.status_code == 200, saved.get_json()
    shown = _api(world, "tenant_admin", "get", f"/users/{user.id}").get_json()["memberships"]
    assert {(m["org_unit"], tuple(m["roles"])) for m in shown} == {
        ("kohoku", ("consultant",)),
        ("tsurumi", ("provider",)),
    }
    # The consultant's token carries only ``consultant``: the new provider membership in 鶴見区 does not
    # widen it (a token never reaches further than the roles it was made with).
    assert _api(world, "consultant", "get", f"/cases/{world['tsurumi_case']}").status_code == 404
    assert _api(world, "consultant", "get", f"/cases/{world['kohoku_case']}").status_code == 200


def test_tokens_and_memberships_on_the_command_line(world, runtime, pg_settings):
    from click.testing import CliRunner

    from tests.tenancy.test_commands import cli_env
    from tsunagu.cli import main

    runner = CliRunner()
    env = cli_env(pg_settings)
    base = ["tokens", "create", "--tenant", "yokohama", "--create-user"]
    # A new user without an org unit would see nothing: refused, not made tenant-wide.
    refused = runner.invoke(main, [*base, "--user", "bot@yokohama.example", "--roles", "consultant"], env=env)
    assert refused.exit_code == 1 and "--org-unit" in refused.output
    made = runner.invoke(
        main,
        [*base, "--user", "bot@yokohama.example", "--roles", "consultant", "--org-unit", "kohoku"],
        env=env,
    )
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[-1]
    assert _as(world, token, "get", f"/cases/{world['kohoku_case']}").status_code == 200
    assert _as(world, token, "get", f"/cases/{world['tsurumi_case']}").status_code == 404
    beyond = runner.invoke(
        main,
        ["tokens", "create", "--tenant", "yokohama", "--user", "bot@yokohama.example", "--roles", "auditor"],
        env=env,
    )
    assert beyond.exit_code == 1 and "auditor" in beyond.output
    wide = ["memberships", "set", "--tenant", "yokohama", "--user", "bot@yokohama.example"]
    assert runner.invoke(main, [*wide, "--roles", "consultant"], env=env).exit_code == 1
    moved = runner.invoke(main, [*wide, "--org-unit", "tsurumi", "--roles", "consultant"], env=env)
    assert moved.exit_code == 0, moved.output
    listed = runner.invoke(
        main, ["memberships", "list", "--tenant", "yokohama", "--user", "bot@yokohama.example"], env=env
    )
    assert listed.exit_code == 0
    assert sorted(listed.stdout.split("\n")[:-1]) == [
        "bot@yokohama.example\tkohoku\tconsultant",
        "bot@yokohama.example\ttsurumi\tconsultant",
    ]
    assert _as(world, token, "get", f"/cases/{world['tsurumi_case']}").status_code == 200
