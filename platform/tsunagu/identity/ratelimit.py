"""Fixed-window rate limits (sign-in attempts per tenant and client address).

Redis when configured (shared by every web process: ``INCR`` + ``EXPIRE`` on a key per window), in-process
otherwise (the demo's single process).
"""

from __future__ import annotations

import threading
import time
from typing import Any


class RateLimiter:
    def __init__(self, redis_url: str | None = None, *, window_seconds: int = 60) -> None:
        self.window = window_seconds
        self._redis: Any = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=5)
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int) -> bool:
        """Count one attempt under ``key``; ``False`` once more than ``limit`` were made in this window."""
        window = int(time.time() // self.window)
        if self._redis is not None:
            name = f"tsunagu:{key}:{window}"
            pipe = self._redis.pipeline()
            pipe.incr(name)
            pipe.expire(name, self.window * 2)
            count = int(pipe.execute()[0])
            return count <= limit
        with self._lock:
            if len(self._counts) > 10_000:  # forget old windows
                self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
            seen_window, count = self._counts.get(key, (window, 0))
            count = count + 1 if seen_window == window else 1
            self._counts[key] = (window, count)
            return count <= limit
