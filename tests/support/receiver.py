"""A real webhook receiver on loopback: a threaded HTTP server that records every request.

`respond(hit)` decides each answer (default 200); `hold_first` keeps the first request waiting
until `release()`; the receiver notes when two requests with the same `webhook-id` are in
flight at once."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Hit:
    """One request as it arrived: path, headers (lower-case names), exact body bytes."""

    path: str
    headers: dict[str, str]
    body: bytes
    arrived: float  # time.monotonic()
    status: int = 0  # what was answered (0 while held or when the client went away)

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


@dataclass
class Receiver:
    respond: Callable[[Hit], Answer] | None = None
    hold_first: bool = False
    delay: float = 0.0
    hits: list[Hit] = field(default_factory=list)
    overlaps: list[str] = field(default_factory=list)  # webhook-ids seen in flight twice

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._inflight: dict[str, int] = {}
        self._held = threading.Event()
        self._release = threading.Event()
        self.max_inflight = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                # Headers and body go out in two writes: without this, Nagle's algorithm and
                # delayed ACKs hold every answer on a kept-alive connection for ~40 ms.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                super().setup()

            def do_POST(self) -> None:
                receiver._handle(self)

            def do_GET(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # many senders connect at once

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        hit = Hit(
            handler.path,
            {k.lower(): v for k, v in handler.headers.items()},
            body,
            time.monotonic(),
        )
        with self._lock:
            first = not self.hits
            self.hits.append(hit)
            n = self._inflight.get(hit.webhook_id, 0) + 1
            self._inflight[hit.webhook_id] = n
            if n > 1:
                self.overlaps.append(hit.webhook_id)
            self.max_inflight = max(self.max_inflight, sum(self._inflight.values()))
        try:
            if first and self.hold_first:
                self._held.set()
                self._release.wait(60)
                return  # no answer: the sender is gone by now
            if self.delay:
                time.sleep(self.delay)
            status, headers, payload = (
                self.respond(hit) if self.respond else (200, {}, b'{"ok":true}')
            )
            try:
                handler.send_response(status)
                for name, value in headers.items():
                    handler.send_header(name, value)
                handler.send_header("content-length", str(len(payload)))
                handler.end_headers()
                handler.wfile.write(payload)
                hit.status = status
            except OSError:
                pass
        finally:
            with self._lock:
                self._inflight[hit.webhook_id] -= 1

    def wait_held(self, timeout: float = 30) -> bool:
        """Whether the first request arrived (and is being held) within `timeout`."""
        return self._held.wait(timeout)

    def release(self) -> None:
        self._release.set()

    def delivered(self) -> dict[str, list[Hit]]:
        """Requests answered 2xx, by webhook-id."""
        with self._lock:
            found: dict[str, list[Hit]] = {}
            for hit in self.hits:
                if 200 <= hit.status < 300:
                    found.setdefault(hit.webhook_id, []).append(hit)
            return found

    def wait_until(self, check: Callable[[Receiver], bool], timeout: float = 30) -> bool:
        """Wait until `check(receiver)` holds, or `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check(self):
                return True
            time.sleep(0.02)
        return check(self)
