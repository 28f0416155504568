"""The API's one error language: every error under ``/api/`` is ``{"error": {"code", "message", "details"}}``
JSON — never HTML — with the message in Japanese by default and in English on ``Accept-Language: en``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.factories import make_org_unit, make_tenant, make_user
from tsunagu.app import create_app
from tsunagu.identity.state import EXTENSION

_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@pytest.fixture
def world(runtime):
    tenant = make_tenant(runtime, "errs")
    make_tenant(runtime, "other")
    ward = make_org_unit(runtime, tenant, "minami", "南区")
    north = make_org_unit(runtime, tenant, "kita", "北区")
    admin = make_user(runtime, tenant, email="admin@errs.example", roles=["tenant_admin"])
    auditor = make_user(runtime, tenant, email="audit@errs.example", roles=["auditor"])
    consultant = make_user(runtime, tenant, email="c@errs.example", roles=["consultant"], org_unit=ward)
    second = make_user(runtime, tenant, email="admin2@errs.example", roles=["tenant_admin"])
    return {
        "tenant": tenant,
        "ward": ward,
        "north": north,
        "admin": admin,
        "auditor": auditor,
        "c": consultant,
        "second": second,
    }


def _h(token: str | None, lang: str | None = None, **extra: str) -> dict[str, str]:
    headers = dict(extra)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if lang:
        headers["Accept-Language"] = lang
    return headers


def _person() -> dict[str, Any]:
    return {"name": "山田 花子", "name_kana": "ヤマダ ハナコ", "birth_date": "1980-04-01"}


def _provocations(client, w) -> list[tuple[int, str, Callable[[str | None], Any]]]:
    base = "/t/errs/api/v1"
    admin, auditor, c = w["admin"].token, w["auditor"].token, w["c"].token
    return [
        (
            400,
            "bad_json",
            lambda lang: client.post(
                f"{base}/cases", data="{not json", content_type="application/json", headers=_h(admin, lang)
            ),
        ),
        (
            400,
            "json_too_deep",
            lambda lang: client.post(
                f"{base}/cases",
                data="[" * 100 + "]" * 100,
                content_type="application/json",
                headers=_h(admin, lang),
            ),
        ),
        (401, "unauthorized", lambda lang: client.get(f"{base}/tasks", headers=_h(None, lang))),
        (401, "unauthorized", lambda lang: client.get(f"{base}/tasks", headers=_h("tsu_nope", lang))),
        (
            403,
            "forbidden",
            lambda lang: client.post(f"{base}/cases", json={"person": _person()}, headers=_h(auditor, lang)),
        ),
        (
            403,
            "forbidden",
            lambda lang: client.patch(
                f"{base}/org-units/{w['ward'].id}", json={"name": "x"}, headers=_h(c, lang)
            ),
        ),
        (404, "not_found", lambda lang: client.get(f"{base}/cases/not-a-uuid", headers=_h(admin, lang))),
        (
            404,
            "not_found",
            lambda lang: client.get(
                f"{base}/cases/00000000-0000-0000-0000-000000000000", headers=_h(admin, lang)
            ),
        ),
        (404, "not_found", lambda lang: client.get(f"{base}/no-such-thing", headers=_h(admin, lang))),
        (404, "not_found", lambda lang: client.get("/t/nowhere/api/v1/tasks", headers=_h(admin, lang))),
        (
            404,
            "not_found",
            lambda lang: client.post(  # a tenant host asking for another tenant's path
                "/t/other/api/v1/cases", json={}, headers=_h(admin, lang, Host="errs.tsunagu.test")
            ),
        ),
        (405, "method_not_allowed", lambda lang: client.delete(f"{base}/cases", headers=_h(admin, lang))),
        (
            413,
            "payload_too_large",
            lambda lang: client.post(
                f"{base}/cases",
                data=b"x" * 3_000_000,
                content_type="application/json",
                headers=_h(admin, lang),
            ),
        ),
        (
            415,
            "unsupported_media_type",
            lambda lang: client.post(
                f"{base}/cases", data="person=x", content_type="text/plain", headers=_h(admin, lang)
            ),
        ),
        (
            422,
            "validation_failed",
            lambda lang: client.post(f"{base}/cases", json={"person": {"name": ""}}, headers=_h(admin, lang)),
        ),
    ]


def _check(response: Any, status: int, code: str, lang: str | None) -> dict[str, Any]:
    assert response.status_code == status, (status, code, response.get_data(as_text=True)[:300])
    assert response.mimetype == "application/json", (status, code, response.mimetype)
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["details"], list)
    for entry in error["details"]:
        assert isinstance(entry, dict) and entry, entry
        assert set(entry) <= {
            "field",
            "file",
            "line",
            "element",
            "element_name",
            "code",
            "message",
            "limit",
            "incident_id",
            "error",
        }, entry
    if lang == "en":
        assert not _JAPANESE.search(error["message"]), error
    else:
        assert _JAPANESE.search(error["message"]), error
    return error


def test_every_provoked_error_is_json_in_one_shape_japanese_by_default_and_english_on_request(client, world):
    statuses = set()
    for status, code, provoke in _provocations(client, world):
        for lang in (None, "ja", "en", "en-US,en;q=0.9,ja;q=0.5"):
            _check(provoke(lang), status, code, "en" if lang and lang.startswith("en") else None)
        statuses.add(status)
    assert statuses >= {400, 401, 403, 404, 405, 413, 415, 422}


def test_a_413_says_the_limit(client, world):
    response = client.post(
        "/t/errs/api/v1/cases",
        data=b"x" * 3_000_000,
        content_type="application/json",
        headers=_h(world["admin"].token, "en"),
    )
    error = _check(response, 413, "payload_too_large", "en")
    assert "2000000" in error["message"]
    assert error["details"] == [{"code": "payload_too_large", "limit": 2000000}]


def test_422_names_each_field(client, world):
    response = client.post(
        "/t/errs/api/v1/cases",
        json={"person": {"name": "", "birth_date": "soon"}},
        headers=_h(world["admin"].token),
    )
    error = _check(response, 422, "validation_failed", None)
    fields = {d["field"] for d in error["details"]}
    assert {"person.name", "person.birth_date"} <= fields, error


def test_401_carries_a_bearer_challenge(client, world):
    response = client.get("/t/errs/api/v1/tasks")
    _check(response, 401, "unauthorized", None)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_options_answers_json_with_the_allowed_methods(client, world):
    response = client.options(f"/t/errs/api/v1/org-units/{world['ward'].id}")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert {"GET", "PATCH"} <= set(response.get_json()["allow"])
    assert "PATCH" in response.headers["Allow"]


def test_a_claimed_task_is_409_json(client, world):
    admin = world["admin"].token
    started = client.post("/t/errs/api/v1/cases", json={"person": _person()}, headers=_h(admin))
    assert started.status_code == 201, started.get_json()
    tasks = client.get("/t/errs/api/v1/tasks?scope=all", headers=_h(admin))
    task_id = next(t["id"] for t in tasks.get_json() if t["case_id"] == started.get_json()["id"])
    other = world["second"].token
    claimed = client.post(f"/t/errs/api/v1/tasks/{task_id}/claim", headers=_h(other))
    assert claimed.status_code == 200, claimed.get_json()
    for lang in (None, "en"):
        _check(
            client.post(f"/t/errs/api/v1/tasks/{task_id}/claim", headers=_h(admin, lang)),
            409,
            "task_claimed",
            lang,
        )


def test_the_rate_limit_answers_429_with_retry_after(runtime, world):
    from dataclasses import replace

    settings = replace(runtime.settings, api_rate_limit_per_minute=3)
    limited = create_app(settings, runtime=replace(runtime, settings=settings))
    client = limited.test_client()
    limited.extensions[EXTENSION].limiter._counts.clear()
    token = world["admin"].token
    answers = [client.get("/t/errs/api/v1/org-units", headers=_h(token)) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    error = _check(answers[3], 429, "rate_limited", None)
    assert answers[3].headers["Retry-After"] == "60"
    _check(client.get("/t/errs/api/v1/org-units", headers=_h(token, "en")), 429, "rate_limited", "en")
    assert error["details"][0]["limit"] == 3
