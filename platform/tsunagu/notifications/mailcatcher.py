"""A local mail catcher for the demo (dev-only, like ``identity.devidp``): an SMTP server (aiosmtpd) that keeps
what it receives in memory, and a small web page listing the messages.

    python -m tsunagu.notifications.mailcatcher serve --smtp-port 1025 --http-port 1080

``make demo`` starts it and points ``TSUNAGU_SMTP_*`` at it. It never relays anything anywhere.
"""

from __future__ import annotations

import argparse
import email
import html
import threading
import time
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_KEPT = 200


class Inbox:
    def __init__(self) -> None:
        self._messages: list[tuple[float, EmailMessage]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        with self._lock:
            self._messages.append((time.time(), message))  # type: ignore[arg-type]
            del self._messages[:-MAX_KEPT]
        return "250 2.0.0 OK: caught"

    def messages(self) -> list[tuple[float, EmailMessage]]:
        with self._lock:
            return list(reversed(self._messages))


def _text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def _page(inbox: Inbox, index: int | None) -> str:
    rows = []
    messages = inbox.messages()
    for n, (at, message) in enumerate(messages):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))
        attach = " 📅" if any(p.get_content_type() == "text/calendar" for p in message.walk()) else ""
        rows.append(
            f"<tr><td>{stamp}</td><td>{html.escape(str(message['To']))}</td>"
            f'<td><a href="/?m={n}">{html.escape(str(message["Subject"]))}</a>{attach}</td></tr>'
        )
    detail = ""
    if index is not None and 0 <= index < len(messages):
        message = messages[index][1]
        headers = "".join(
            f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(message[k]))}</dd>"
            for k in ("From", "To", "Reply-To", "Subject", "Date", "Message-ID")
            if message[k]
        )
        detail = (
            f"<section><h2>Message</h2><dl>{headers}</dl><pre>{html.escape(_text(message))}</pre></section>"
        )
    return (
        "<!doctype html><html lang='ja'><meta charset='utf-8'><title>Tsunagu demo mail</title>"
        "<style>body{font-family:sans-serif;margin:2rem}td{padding:.2rem .6rem;border-bottom:1px solid #ddd}"
        "pre{background:#f6f6f6;padding:1rem;white-space:pre-wrap}dt{font-weight:bold}</style>"
        "<h1>つなぐ デモ用メール受信箱 / Tsunagu demo mail</h1>"
        "<p>Everything the demo sends is caught here; nothing leaves this machine.</p>"
        f"<table><tr><th>received</th><th>to</th><th>subject</th></tr>{''.join(rows)}</table>{detail}</html>"
    )


def serve(host: str, smtp_port: int, http_port: int) -> None:
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname=host, port=smtp_port)
    controller.start()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            index = None
            if "?m=" in self.path:
                try:
                    index = int(self.path.split("?m=", 1)[1])
                except ValueError:
                    index = None
            body = _page(inbox, index).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer((host, http_port), Handler)
    print(f"demo mail: SMTP on {host}:{smtp_port}, messages at http://{host}:{http_port}/", flush=True)
    try:
        httpd.serve_forever()
    finally:
        controller.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--smtp-port", type=int, default=1025)
    run.add_argument("--http-port", type=int, default=1080)
    args = parser.parse_args()
    serve(args.host, args.smtp_port, args.http_port)


if __name__ == "__main__":
    main()
