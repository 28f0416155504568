"""Fault injection for Tsunagu (``make chaos``, issue #10): a dev-only harness, never shipped in the image.

The suite starts its own PostgreSQL cluster and Redis on free ports in a temporary directory (never the
machine's services), runs the product as an operator does — gunicorn, the Celery worker and beat, with
production settings — under a bounded load through the JSON API, injects faults one after another, measures
how long the product takes to recover from each, and checks from the database that nothing acknowledged was
lost or done twice.

Modules: :mod:`chaos.cluster` (the PostgreSQL cluster and Redis), :mod:`chaos.processes` (web, worker, beat),
:mod:`chaos.load` (the API clients and the outbox producer), :mod:`chaos.faults` (the faults and the recovery
measurement), :mod:`chaos.checks` (the final assertions), :mod:`chaos.report` (the table) and
:mod:`chaos.run` (the whole run: ``python -m chaos``).
"""

from __future__ import annotations

import sys
import time


class ChaosError(RuntimeError):
    """The harness itself could not do what it needed (a service did not start, a setup step failed)."""


_T0 = time.monotonic()


def log(message: str) -> None:
    """One progress line on stderr, stamped with the seconds since the harness started."""
    print(f"[chaos {time.monotonic() - _T0:6.1f}s] {message}", file=sys.stderr, flush=True)
