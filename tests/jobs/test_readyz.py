"""``/readyz`` and the broker: an unreachable Redis is "degraded" (200, the pods keep serving), not 503."""

from __future__ import annotations

import dataclasses
import time

from tests.support.faults import free_port
from tsunagu.app import create_app
from tsunagu.config import Settings
from tsunagu.core.runtime import Runtime


def _readyz(runtime: Runtime, settings: Settings) -> tuple[int, dict[str, object], float]:
    app = create_app(settings, dataclasses.replace(runtime, settings=settings))
    started = time.monotonic()
    response = app.test_client().get("/readyz")
    return response.status_code, response.get_json(), time.monotonic() - started


def test_readyz_reports_an_unreachable_broker_as_degraded_and_stays_ready(runtime: Runtime) -> None:
    settings = dataclasses.replace(runtime.settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    status, body, seconds = _readyz(runtime, settings)
    assert status == 200 and seconds < 2.0
    assert body["status"] == "degraded"
    checks = body["checks"]
    assert isinstance(checks, dict) and checks["database"] == "ok"
    assert str(checks["broker"]).startswith("unreachable") and "background work delayed" in str(
        checks["broker"]
    )


def test_readyz_is_ready_with_the_real_broker(runtime: Runtime, broker_settings: Settings) -> None:
    status, body, _seconds = _readyz(runtime, broker_settings)
    assert status == 200
    assert body == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_readyz_without_redis_reports_background_work_in_process(runtime: Runtime) -> None:
    status, body, _seconds = _readyz(runtime, dataclasses.replace(runtime.settings, redis_url=None))
    assert status == 200
    assert body == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "in-process (no Redis configured)"},
    }
