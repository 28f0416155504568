"""Migration 0009 on a real PostgreSQL database holding running cases of every preset at various stages.

The cases are started and advanced through the JSON API, then the schema goes down past 0009 (rows back in
SpiffWorkflow's full form, as the previous code wrote and reads them) and up again (rows in the referenced
form), and every case is then driven to its end through the normal paths: task completions, the meeting
message, the beat poller firing timers. The timeline keeps every step, with the form submitted.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.script import ScriptDirectory

from tests.conftest import make_settings
from tests.engine_api.driver import Api, later
from tests.factories import make_user
from tests.support import pg
from tsunagu.config import Settings
from tsunagu.core.db import utcnow
from tsunagu.core.migrate import alembic_config, downgrade, upgrade
from tsunagu.core.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]
PRESETS = {"iwamizawa": None, "yokohama": "kohoku", "kunitachi": None, "demo": None}
#: How far each preset's three cases get before the migration.
STAGES = ("intake", "meeting", "delivery")

OVERRIDES: dict[str, dict[str, Any]] = {
    "intake": {"screening_outcome": "continue"},
    "consent": {"consent_application": True},
    "assessment": {"emergency_support": False, "urgency": "high"},
    "plan_draft": {"plan_end_date": later(180).isoformat(), "early_start": False, "statutory_programmes": []},
    "record_meeting_result": {"meeting_decision": "approve"},
    "after_the_fact_registration": {"after_the_fact_report": True},
    "monitoring": {"request_early_evaluation": False},
    "evaluation": {"evaluation_outcome": "close", "follow_up": False},
}


@dataclasses.dataclass
class World:
    settings: Settings
    runtime: Runtime
    owner_url: str
    apis: dict[str, Api]


@pytest.fixture
def world() -> Iterator[World]:
    from tsunagu.app import create_app
    from tsunagu.tenancy.sync import sync_presets

    database = pg.create_database()
    settings = make_settings(database_url=database.app_url, migration_database_url=database.owner_url)
    runtime = None
    try:
        upgrade(settings)
        runtime = Runtime.from_settings(settings)
        sync_presets(runtime, REPO / "tenants")
        app = create_app(settings, runtime)
        app.config["TESTING"] = True
        client = app.test_client()
        apis = {slug: _api(client, runtime, slug) for slug in PRESETS}
        yield World(settings, runtime, database.owner_url.replace("postgresql+psycopg:", "postgresql:"), apis)
    finally:
        if runtime is not None:
            runtime.dispose()
        pg.drop_database(database.name)


def _api(client: Any, runtime: Runtime, slug: str) -> Api:
    from tests.factories import tenant_row

    tenant = tenant_row(runtime, slug)
    user = make_user(runtime, tenant, email=f"admin@{slug}.example.jp", roles=["tenant_admin"])
    return Api(client, slug, user.token)


class Cases:
    """Drives cases step by step and counts the steps each went through."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.steps: dict[str, list[str]] = {}
        self.days = 0

    def start(self, slug: str) -> str:
        org_unit = PRESETS[slug]
        case = self.world.apis[slug].start_case(**({"org_unit": org_unit} if org_unit else {}))
        self.steps[case["id"]] = []
        return str(case["id"])

    def step(self, slug: str, case_id: str) -> str:
        """One step: the first ready task, else the meeting decision, else the next timers. Returns it."""
        api = self.world.apis[slug]
        ready = sorted(t["name"] for t in api.ready_tasks(case_id))
        if ready:
            element = ready[0]
            api.complete(case_id, element, **OVERRIDES.get(element, {}))
            self.steps[case_id].append(element)
            return element
        if api.message(case_id, "meeting_decided", {"decision": "approve"}).status_code == 200:
            return "meeting_decided"
        from tsunagu.cases.services import fire_due_timers

        self.days += 40
        fire_due_timers(self.world.runtime, now=utcnow() + timedelta(days=self.days))
        return "timers"

    def until(self, slug: str, case_id: str, done: Any, limit: int = 40) -> None:
        for _ in range(limit):
            if done(self.world.apis[slug], case_id):
                return
            self.step(slug, case_id)
        raise AssertionError(f"{slug} case {case_id} did not get there: {self.steps[case_id]}")


def _ready(api: Api, case_id: str) -> list[str]:
    return [t["name"] for t in api.ready_tasks(case_id)]


def _in_meeting(api: Api, case_id: str) -> bool:
    ready = _ready(api, case_id)
    return any(n in ready for n in ("convene_adhoc", "convene_internal", "after_the_fact_registration")) or (
        not ready and "plan_draft" in [h["element"] for h in api.case(case_id)["history"]]
    )


def _delivering(api: Api, case_id: str) -> bool:
    history = [h["element"] for h in api.case(case_id)["history"]]
    return "delivery_start" in history and not _ready(api, case_id)


def _closed(api: Api, case_id: str) -> bool:
    return bool(api.case(case_id)["status"] == "closed")


def _clear(stored: str, label: str = "process_instance.serialized") -> str:
    """A value as the application wrote it: at head the column is sealed (issue #16), below 0018 it is clear."""
    from tsunagu.core import sealed

    sealer = sealed.current_sealer()
    if not sealed.is_token(stored) or sealer is None:
        return stored
    return sealer.open(stored, label).decode("utf-8")


def _states(owner_url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(owner_url) as conn:
        rows = conn.execute("SELECT id::text, serialized, tenant_id::text FROM process_instance").fetchall()
    states = {row[0]: (_clear(row[1]), row[2]) for row in rows}
    return {i: json.loads(raw) | {"_raw": raw, "_tenant": tenant} for i, (raw, tenant) in states.items()}


def _tasks(workflow: Any) -> list[tuple[str, int, str, str]]:
    """Every task of a workflow and its subprocesses: id, state, spec and data."""
    return sorted(
        (str(t.id), t.state, t.task_spec.name, json.dumps(t.data, sort_keys=True, default=str))
        for wf in [workflow, *workflow.subprocesses.values()]
        for t in wf.tasks.values()
    )


def _load(world: World, tenant: str, instance_id: str) -> Any:
    import uuid

    from tsunagu.core.session import transaction
    from tsunagu.engine import runner
    from tsunagu.engine.models import ProcessInstance

    tenant_id = uuid.UUID(tenant)
    with transaction(world.runtime.sessions, tenant_id) as session:
        instance = session.get(ProcessInstance, (tenant_id, uuid.UUID(instance_id)))
        return runner.load(instance)


def _revision_before_0009(settings: Settings) -> str:
    script = ScriptDirectory.from_config(alembic_config(settings))
    down = script.get_revision("0009").down_revision
    assert isinstance(down, str)
    return down


def _submission_column(owner_url: str) -> bool:
    with psycopg.connect(owner_url) as conn:
        found = conn.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'case_event' AND column_name = 'submission'"
        ).fetchone()
    return found is not None


def test_running_cases_of_every_preset_survive_0009_down_and_up_and_reach_their_end(world: World) -> None:
    from tsunagu.engine.spiff import full_serializer

    cases = Cases(world)
    started: list[tuple[str, str]] = []
    for slug in PRESETS:
        for stage in STAGES:
            case_id = cases.start(slug)
            started.append((slug, case_id))
            if stage == "meeting":
                cases.until(slug, case_id, _in_meeting)
            elif stage == "delivery":
                cases.until(slug, case_id, _delivering)
    referenced = _states(world.owner_url)
    assert len(referenced) == len(started)
    before = {i: _tasks(_load(world, state["_tenant"], i)) for i, state in referenced.items()}
    for state in referenced.values():
        assert state["tsunagu_format"] == 2 and "spec" not in state and "subprocess_specs" not in state
        assert state["spec_ref"]["aliases"]["meeting"].startswith("meeting_")

    world.runtime.engine.dispose()
    downgrade(world.settings, _revision_before_0009(world.settings))
    assert not _submission_column(world.owner_url)
    full = _states(world.owner_url)
    for instance_id, state in full.items():
        assert "spec_ref" not in state and "tsunagu_format" not in state
        assert state["spec"]["name"] == referenced[instance_id]["spec_ref"]["process"]
        assert {"meeting"} <= set(state["subprocess_specs"])
        # Exactly what SpiffWorkflow's own serializer reads and writes (the previous code's form).
        # SpiffWorkflow's own serializer (the previous code's) reads it to the same workflow as before.
        restored = full_serializer().deserialize_json(state["_raw"])
        assert _tasks(restored) == before[instance_id]
        assert len(state["_raw"]) > 1.5 * len(referenced[instance_id]["_raw"])

    upgrade(world.settings)
    assert _submission_column(world.owner_url)
    again = _states(world.owner_url)
    for instance_id, state in again.items():
        assert state["spec_ref"] == referenced[instance_id]["spec_ref"]
        assert state["tasks"] == referenced[instance_id]["tasks"]
        raw = state["_raw"]
        assert "\\u" not in raw and ", " not in raw and "山田" in raw  # compact UTF-8 JSON

    for slug, case_id in started:
        cases.until(slug, case_id, _closed, limit=60)
        detail = world.apis[slug].case(case_id)
        assert detail["outcome"] == "end_closed", (slug, cases.steps[case_id])
        completed = [h["element"] for h in detail["history"] if h["kind"] == "task_completed"]
        assert completed == cases.steps[case_id]  # the timeline keeps every step, before and after

    with psycopg.connect(world.owner_url) as conn:
        rows = conn.execute(
            "SELECT element, submission FROM case_event WHERE kind = 'task_completed' AND element = 'monitoring'"
        ).fetchall()
    submissions = [json.loads(_clear(row[1], "case_event.submission")) for row in rows if row[1] is not None]
    assert rows and len(submissions) == len(rows)
    assert all(s["request_early_evaluation"] is False for s in submissions)
