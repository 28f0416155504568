"""Fixed-window rate limits (sign-in attempts per tenant and client address).

Redis when configured (shared by every web process: ``INCR`` + ``EXPIRE`` on a key per window), in-process
otherwise (the demo's single process).

When Redis cannot be reached the limiter does not fail the sign-in: it counts in this process instead (each
web process then brakes floods on its own, a limit a few times looser across the fleet) and tries Redis again
after :data:`REDIS_RETRY_SECONDS`, so a Redis outage costs one short timeout per process, not one per request.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger("tsunagu.identity.ratelimit")

#: After a Redis error, count in-process for this long before trying Redis again.
REDIS_RETRY_SECONDS = 10.0
#: Redis socket limits: a sign-in waits at most this long for a Redis that does not answer.
REDIS_TIMEOUT_SECONDS = 0.5


class RateLimiter:
    def __init__(self, redis_url: str | None = None, *, window_seconds: int = 60) -> None:
        self.window = window_seconds
        self._redis: Any = None
        self._redis_errors: tuple[type[BaseException], ...] = ()
        if redis_url:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            self._redis = redis.Redis.from_url(
                redis_url,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                retry=Retry(NoBackoff(), 0),
            )
            self._redis_errors = (redis.RedisError, OSError)
        self._redis_down_until = 0.0
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    @property
    def using_redis(self) -> bool:
        """Whether the next hit is counted in Redis (configured, and not in a back-off after an error)."""
        return self._redis is not None and time.monotonic() >= self._redis_down_until

    def hit(self, key: str, limit: int) -> bool:
        """Count one attempt under ``key``; ``False`` once more than ``limit`` were made in this window."""
        window = int(time.time() // self.window)
        if self.using_redis:
            name = f"tsunagu:{key}:{window}"
            try:
                pipe = self._redis.pipeline()
                pipe.incr(name)
                pipe.expire(name, self.window * 2)
                count = int(pipe.execute()[0])
            except self._redis_errors as exc:
                self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
                log.warning(
                    "sign-in rate limit: Redis unavailable (%s), counting in this process for %.0f s",
                    exc,
                    REDIS_RETRY_SECONDS,
                )
            else:
                return count <= limit
        with self._lock:
            if len(self._counts) > 10_000:  # forget old windows
                self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
            seen_window, count = self._counts.get(key, (window, 0))
            count = count + 1 if seen_window == window else 1
            self._counts[key] = (window, count)
            return count <= limit
