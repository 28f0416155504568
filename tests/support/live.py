"""A live HTTP server for a WSGI app, in a thread, on a free port (browser tests, ``requests`` tests).

    with live_server(app) as base_url:        # "http://localhost:<port>"
        requests.get(base_url + "/healthz")

The server is werkzeug's threaded ``make_server``; it stops when the ``with`` block ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server


@contextmanager
def live_server(app: Any, host: str = "localhost") -> Iterator[str]:
    """Serve ``app`` on ``host`` at a free port; yields the base URL (no trailing slash)."""
    server = make_server("127.0.0.1" if host == "localhost" else host, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
