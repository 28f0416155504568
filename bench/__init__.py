"""The benchmark harness behind ``make bench`` (``python -m bench``): a dev-only package at the repository
root. It imports the product; the product never imports it, and it is not in the production image.

Each level measures the same standard ``casework`` case (hybrid meetings routed ad hoc), so that every figure
can be put next to the one below it, measured in the same run:

* ``floor``   — SpiffWorkflow alone, in memory, with a serialize/deserialize round trip per command: the cost
  no platform built on it can go under;
* ``service`` — the same cases through Tsunagu's services on PostgreSQL (no HTTP), with a cProfile;
* ``http``    — the same tasks completed through the JSON API on gunicorn with 1, 4 and 8 clients;
* ``memory``  — peak RSS of a gunicorn web worker and of a Celery worker after real work;
* ``inbox``   — the inbox queries on a generated country's worth of data (1,741 municipalities, 1,000,000
  tasks) compared with the same queries at 10,000 tasks.

``commands.py`` runs them in order on a throw-away database and ``report.py`` writes JSON and Markdown into
``bench/results/``. Nothing here asserts a speed: the report says which target is met and what bounds a miss.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any


class BenchError(RuntimeError):
    """The harness could not measure something (a process did not start, a case took an unexpected path)."""


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) with linear interpolation between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    fraction = rank - low
    return float(ordered[low] + (ordered[high] - ordered[low]) * fraction)


def summarize_ms(seconds: Sequence[float]) -> dict[str, Any]:
    """Count, mean, percentiles and extremes of durations given in seconds, reported in milliseconds."""
    ms = [s * 1000.0 for s in seconds]
    if not ms:
        return {"n": 0, "mean": math.nan, "p50": math.nan, "p95": math.nan, "p99": math.nan, "max": math.nan}
    return {
        "n": len(ms),
        "mean": sum(ms) / len(ms),
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "min": min(ms),
        "max": max(ms),
    }


def ratio(value: float, base: float) -> float:
    """``value / base``; NaN when either is missing or the base is zero."""
    if base is None or value is None or not base or math.isnan(base) or math.isnan(value):
        return math.nan
    return value / base


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as lap: ...`` then ``lap[0]`` is the elapsed wall time in seconds."""
    lap: list[float] = [0.0]
    start = time.perf_counter()
    try:
        yield lap
    finally:
        lap[0] = time.perf_counter() - start


def log(message: str) -> None:
    """Progress lines on stderr-like output, flushed at once (a bench run is long)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)
