"""Redis goes away (a server of this test's own, stopped and started): nobody is signed out, sign-in works,
no session is lost when it returns, and readiness says "degraded", not 503."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support import faults
from tests.support.oidc import app_with_idp_secret, sign_in
from tsunagu.identity.ratelimit import RateLimiter


def test_with_redis_down_signed_in_users_keep_working_and_sign_in_still_works(
    runtime, idp_tenant, tmp_path: Path
) -> None:
    with faults.own_redis(tmp_path / "redis") as server:
        app = app_with_idp_secret(runtime, redis_url=server.url)
        idp_tenant("redis-city")
        before = app.test_client()
        sign_in(before, "", "redis-city", "before@example.jp", claims={"roles": ["consultant"]})
        assert before.get("/t/redis-city/inbox").status_code == 200

        server.stop()
        try:
            assert before.get("/t/redis-city/inbox").status_code == 200  # still signed in
            assert before.get("/t/redis-city/account").status_code == 200
            during = app.test_client()
            started = time.monotonic()
            landing = sign_in(during, "", "redis-city", "during@example.jp", claims={"roles": ["consultant"]})
            assert time.monotonic() - started < 5
            assert landing.endswith("/t/redis-city/inbox") or "/t/redis-city/" in landing
            assert during.get("/t/redis-city/inbox").status_code == 200
            ready = app.test_client().get("/readyz")
            assert ready.status_code == 200 and ready.get_json()["status"] == "degraded"
        finally:
            server.start()  # an empty Redis, as after a restart without persistence

        for client in (before, during):
            assert client.get("/t/redis-city/inbox").status_code == 200  # no session lost
        assert app.test_client().get("/readyz").get_json()["status"] == "ok"


def test_the_rate_limit_counts_in_process_while_redis_is_down_and_returns_to_redis(tmp_path: Path) -> None:
    with faults.own_redis(tmp_path / "redis") as server:
        limiter = RateLimiter(server.url)
        assert limiter.hit("t:x:signin:1.2.3.4", 3) and limiter.using_redis
        server.stop()
        started = time.monotonic()
        results = [limiter.hit("t:x:signin:1.2.3.4", 3) for _ in range(4)]
        assert time.monotonic() - started < 1.5  # one short timeout, then no more waiting on Redis
        assert results == [True, True, True, False]  # still a limit, counted here
        assert not limiter.using_redis
        server.start()
        limiter._redis_down_until = 0.0  # the back-off has passed
        assert limiter.hit("t:x:signin:5.6.7.8", 1) and limiter.using_redis
        assert not limiter.hit("t:x:signin:5.6.7.8", 1)  # counted in Redis again
