from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.engine_api.driver import Api, later
from tests.factories import make_user, tenant_row
from tsunagu.core.db import utcnow
from tsunagu.tenancy.sync import sync_presets

REPO = Path(__file__).resolve().parents[2]
MONTH = "2026-11"


@pytest.fixture
def presets(runtime):
    sync_presets(runtime, REPO / "tenants")


def admin_api(client, runtime, slug: str) -> Api:
    tenant = tenant_row(runtime, slug)
    user = make_user(runtime, tenant, email=f"admin@{slug}.example.jp", roles=["tenant_admin"])
    return Api(client, slug, user.token)


def on(day: int) -> str:
    return f"{MONTH}-{day:02d}"


def fire_timers(runtime, days: int) -> int:
    from tsunagu.cases.services import fire_due_timers

    return fire_due_timers(runtime, now=utcnow() + timedelta(days=days))


def _ready(api: Api, case_id: str) -> list[str]:
    return [t["name"] for t in api.ready_tasks(case_id)]


class CaseDriver:
    """Drives one case through the casework process of whatever meeting style the tenant has."""

    def __init__(self, api: Api, runtime: Any, org_unit: str, day: int = 5) -> None:
        self.api, self.runtime, self.day = api, runtime, day
        self.case_id = api.start_case(org_unit=org_unit)["id"]

    def intake(self, outcome: str) -> None:
        self.api.complete(self.case_id, "intake", screening_outcome=outcome, reception_date=on(self.day))

    def plan(self, *, work_support: bool, first: bool = True) -> None:
        if first:
            self.intake("continue")
            self.api.complete(self.case_id, "consent", consent_application=True)
        self.api.complete(self.case_id, "assessment", emergency_support=False, urgency="high")
        self.api.complete(
            self.case_id,
            "plan_draft",
            plan_date=on(self.day + 1),
            plan_end_date=later(180).isoformat(),
            early_start=False,
            statutory_programmes=[],
            work_support=work_support,
        )
        self._meeting_and_decision()

    def _meeting_and_decision(self) -> None:
        ready = _ready(self.api, self.case_id)
        for convene in ("convene_adhoc", "convene_internal"):
            if convene in ready:
                self.api.complete(self.case_id, convene)
        if "record_meeting_result" in _ready(self.api, self.case_id):
            self.api.complete(
                self.case_id,
                "record_meeting_result",
                meeting_decision="approve",
                meeting_date=on(self.day + 2),
            )
        elif not _ready(self.api, self.case_id):  # waiting for the regular meeting's decision
            response = self.api.message(self.case_id, "meeting_decided", {"decision": "approve"})
            assert response.status_code == 200, response.get_json()
        ready = _ready(self.api, self.case_id)
        if "support_decision" in ready:
            self.api.complete(self.case_id, "support_decision", decision_date=on(self.day + 3))
        else:
            self.api.complete(self.case_id, "support_confirmation", confirmation_date=on(self.day + 3))

    def evaluate(self, outcome: str = "close", **fields: Any) -> None:
        if "delivery_start" in _ready(self.api, self.case_id):
            self.api.complete(self.case_id, "delivery_start")
        assert fire_timers(self.runtime, days=40) == 1
        self.api.complete(self.case_id, "monitoring", request_early_evaluation=False)
        assert fire_timers(self.runtime, days=200) >= 1
        self.api.complete(
            self.case_id,
            "evaluation",
            evaluation_outcome=outcome,
            evaluation_date=on(self.day + 10),
            **fields,
        )
        if "follow_up_task" in _ready(self.api, self.case_id):
            self.api.complete(self.case_id, "follow_up_task")
