"""Drives cases through the JSON API, filling each task's form with valid data derived from its schema."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from flask.testing import FlaskClient

from tests.workflows.samples import months_before

_KANA = re.compile(r"[ァ-ヶ]")


def _fields(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for c in components:
        if c.get("type") in ("group", "dynamiclist") and c.get("components"):
            out.extend(_fields(c["components"]))
        elif c.get("key"):
            out.append(c)
    return out


def _value_for(field: dict[str, Any]) -> Any:
    kind = field.get("type")
    validate = field.get("validate") or {}
    options = [v.get("value") for v in field.get("values") or []]
    pattern = validate.get("pattern") or ""
    if kind in ("select", "radio"):
        return options[0] if options else "x"
    if kind == "checklist" or kind == "taglist":
        return options[:1]
    if kind == "checkbox":
        return bool(validate.get("required"))
    if kind == "number":
        low = validate.get("min")
        return low if isinstance(low, (int, float)) else 1
    if kind == "datetime":
        return date.today().isoformat()
    if "ァ" in pattern or "ア" in pattern:
        return "テスト"
    if pattern and re.search(r"\\d|\[0-9\]", pattern):
        for candidate in ("012-345-6789", "0123456789", "123-4567", "1234567", "2026-01-01", "10:00", "1"):
            try:
                if re.fullmatch(pattern, candidate):
                    return candidate
            except re.error:
                break
    min_len = validate.get("minLength") or 0
    return "テスト記入" + "あ" * max(0, int(min_len) - 5)


#: the person ``Api.start_case`` opens a case for; a form's person fields are prefilled with it, as the
#: task page does (a different value there is a correction that updates the person, issue #17)
PERSON = {"name": "山田 花子", "name_kana": "ヤマダ ハナコ", "birth_date": "1980-04-01"}


def fill(schema: dict[str, Any] | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """Valid data for every required field of ``schema`` (and the ones a gateway needs), then ``overrides``."""
    data: dict[str, Any] = {}
    for field in _fields((schema or {}).get("components") or []):
        if field.get("type") == "text":
            continue
        required = (field.get("validate") or {}).get("required")
        if required or field["key"] in overrides:
            data[field["key"]] = PERSON[field["key"]] if field["key"] in PERSON else _value_for(field)
    data.update(overrides)
    _fit_periods(schema or {}, data, overrides)
    return data


def _fit_periods(schema: dict[str, Any], data: dict[str, Any], overrides: dict[str, Any]) -> None:
    """The form's ``period_end`` rules (``tsunagu.rules``): a given end date gets a start date that fits."""
    for rule in (schema.get("tsunagu") or {}).get("rules") or []:
        if rule.get("rule") != "period_end" or rule["start"] in overrides:
            continue
        end, period = data.get(rule["end"]), data.get(rule["period"])
        match = re.fullmatch(r"P(\d+)M", str(period or ""))
        if isinstance(end, str) and match:
            start = months_before(date.fromisoformat(end), int(match.group(1)))
            data[rule["start"]] = start.isoformat()


class Api:
    def __init__(self, client: FlaskClient, slug: str, token: str) -> None:
        self.client = client
        self.base = f"/t/{slug}/api/v1"
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.get(self.base + path, headers={**self.headers, **(headers or {})}, **kw)

    def post(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.post(self.base + path, headers={**self.headers, **(headers or {})}, **kw)

    def put(self, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
        return self.client.put(self.base + path, headers={**self.headers, **(headers or {})}, **kw)

    def start_case(self, **extra: Any) -> dict[str, Any]:
        body = {
            "person": dict(PERSON),
            **extra,
        }
        response = self.post("/cases", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def case(self, case_id: str) -> dict[str, Any]:
        response = self.get(f"/cases/{case_id}")
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def ready_tasks(self, case_id: str) -> list[dict[str, Any]]:
        response = self.get("/tasks?scope=all&state=ready&limit=500")
        assert response.status_code == 200, response.get_json()
        return [t for t in response.get_json() if t["case_id"] == case_id]

    def task(self, case_id: str, element: str) -> dict[str, Any]:
        tasks = self.ready_tasks(case_id)
        matching = [t for t in tasks if t["name"] == element]
        assert matching, f"{element} is not ready; ready: {[t['name'] for t in tasks]}"
        detail = self.get(f"/tasks/{matching[0]['id']}")
        assert detail.status_code == 200
        return detail.get_json()

    def complete(self, case_id: str, element: str, **overrides: Any) -> dict[str, Any]:
        task = self.task(case_id, element)
        data = fill(task.get("form_schema"), overrides)
        response = self.post(f"/tasks/{task['id']}/complete", json={"data": data})
        assert response.status_code == 200, (element, response.get_json())
        return response.get_json()

    def message(self, case_id: str, name: str, payload: dict[str, Any]) -> Any:
        return self.post(f"/cases/{case_id}/messages", json={"name": name, "payload": payload})


def later(days: int) -> date:
    return date.today() + timedelta(days=days)


def drive_to_monitoring(api: Api, case_id: str, plan_days: int = 180) -> None:
    """Intake → … → 支援提供 on an ad hoc meeting route (urgent case), then wait for the monitoring timer."""
    for element, overrides in (
        ("intake", {"screening_outcome": "continue"}),
        ("consent", {"consent_application": True}),
        ("assessment", {"emergency_support": False, "urgency": "high"}),
        (
            "plan_draft",
            {"plan_end_date": later(plan_days).isoformat(), "early_start": False, "statutory_programmes": []},
        ),
        ("convene_adhoc", {}),
        ("record_meeting_result", {"meeting_decision": "approve"}),
        ("support_confirmation", {}),
        ("delivery_start", {}),
    ):
        if element in _ready(api, case_id):
            api.complete(case_id, element, **overrides)


def _ready(api: Api, case_id: str) -> list[str]:
    return [t["name"] for t in api.ready_tasks(case_id)]
