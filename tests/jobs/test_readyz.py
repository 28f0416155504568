"""``/readyz`` reports the broker: 503 while Redis cannot be reached, 200 with the real one."""

from __future__ import annotations

import dataclasses

from tsunagu.app import create_app
from tsunagu.config import Settings
from tsunagu.core.runtime import Runtime


def _readyz(runtime: Runtime, settings: Settings) -> tuple[int, dict[str, object]]:
    app = create_app(settings, dataclasses.replace(runtime, settings=settings))
    response = app.test_client().get("/readyz")
    return response.status_code, response.get_json()


def test_readyz_is_unavailable_when_the_broker_cannot_be_reached(runtime: Runtime) -> None:
    settings = dataclasses.replace(runtime.settings, redis_url="redis://127.0.0.1:1/0")
    status, body = _readyz(runtime, settings)
    assert status == 503
    assert body["status"] == "unavailable"
    checks = body["checks"]
    assert isinstance(checks, dict) and checks["database"] == "ok"
    assert str(checks["broker"]).startswith("unreachable")


def test_readyz_is_ready_with_the_real_broker(runtime: Runtime, broker_settings: Settings) -> None:
    status, body = _readyz(runtime, broker_settings)
    assert status == 200
    assert body == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
