"""A real webhook receiver for live tests: an HTTP server that checks each delivery's
signature, keeps what it was sent, and misbehaves on purpose when told to (answers 500, takes
longer than the sender waits, or is down)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from phonebank.api.webhooks import verify
from tests.conftest import free_port


class Receiver:
    def __init__(self, secret: str = ""):
        self.secret = secret
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.lock = threading.Condition()
        self.deliveries: list[list[dict]] = []  # accepted batches, in arrival order
        self.attempts = 0
        self.bad_signatures = 0
        self.fail_next = 0  # answer this many requests with 500
        self.slow_next = 0  # hold this many requests past the sender's timeout
        self.slow_seconds = 3.0
        self.server: ThreadingHTTPServer | None = None

    # --- lifecycle ---

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.handle(self, body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    # --- requests ---

    def handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        with self.lock:
            self.attempts += 1
            failing = self.fail_next > 0
            slow = not failing and self.slow_next > 0
            self.fail_next -= 1 if failing else 0
            self.slow_next -= 1 if slow else 0
        if slow:
            time.sleep(self.slow_seconds)  # the sender has given up by now
        if failing:
            handler.send_response(500)
            handler.end_headers()
            handler.wfile.write(b"receiver failing on purpose")
            return
        signed = verify(
            self.secret,
            handler.headers.get("X-Phonebank-Timestamp", ""),
            body,
            handler.headers.get("X-Phonebank-Signature", ""),
        )
        if not signed:
            with self.lock:
                self.bad_signatures += 1
            handler.send_response(401)
            handler.end_headers()
            return
        events = json.loads(body)["events"]
        with self.lock:
            self.deliveries.append(events)
            self.lock.notify_all()
        handler.send_response(204)
        handler.end_headers()

    # --- what arrived ---

    def events(self) -> list[dict]:
        """Everything accepted, in arrival order (duplicates included)."""
        with self.lock:
            return [e for batch in self.deliveries for e in batch]

    def unique(self) -> dict[int, dict]:
        """De-duplicated by event id, as a receiver is told to."""
        seen: dict[int, dict] = {}
        for event in self.events():
            seen.setdefault(event["id"], event)
        return seen
