"""``tsunagu dev``: the demo on one machine — web server plus background work in a thread, no Redis."""

from __future__ import annotations

import logging
import threading

from werkzeug.serving import run_simple

from .app import create_app
from .config import Settings
from .core.runtime import Runtime

log = logging.getLogger("tsunagu.dev")


def _background_loop(runtime: Runtime, stop: threading.Event) -> None:
    from .jobs.beat import tick

    while not stop.wait(runtime.settings.beat_interval_seconds):
        try:
            tick(runtime)
        except Exception:  # keep the demo alive; the error is logged with its traceback
            log.exception("background tick failed")


def run_dev(settings: Settings, host: str, port: int) -> None:
    runtime = Runtime.from_settings(settings)
    app = create_app(settings, runtime)
    stop = threading.Event()
    worker = threading.Thread(target=_background_loop, args=(runtime, stop), name="tsunagu-beat", daemon=True)
    worker.start()
    print(f"Tsunagu is running at http://{host}:{port}/  (Ctrl+C to stop)", flush=True)
    try:
        run_simple(host, port, app, use_reloader=False, threaded=True)
    finally:
        stop.set()
