"""One ASGI middleware: request id, body size limit, metrics, access log."""

from __future__ import annotations

import re
import time
from typing import Any

import structlog
from fastapi import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lastmile.api.problems import problem_response, unexpected
from lastmile.core.errors import BadRequest, DomainError, PayloadTooLarge
from lastmile.core.ids import new_id
from lastmile.core.metrics import HTTP_IN_FLIGHT, HTTP_LATENCY, HTTP_REQUESTS

_RID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
log = structlog.get_logger("lastmile.access")


class RequestContextMiddleware:
    """Tags each request with an id, bounds its body, measures it and logs one line."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, max_upload_bytes: int | None = None
    ) -> None:
        self.app = app
        self.max_body = max_body_bytes
        # Multipart uploads (photos) may be larger than JSON bodies.
        self.max_upload = max(max_upload_bytes or max_body_bytes, max_body_bytes)

    def _limit(self, headers: dict[bytes, bytes]) -> int:
        content_type = headers.get(b"content-type", b"").lower()
        return self.max_upload if content_type.startswith(b"multipart/form-data") else self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid_raw = headers.get(b"x-request-id", b"").decode("latin-1")
        rid = rid_raw if _RID.match(rid_raw) else new_id("req")
        scope.setdefault("state", {})["request_id"] = rid
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=rid)
        start = time.perf_counter()
        status = 500
        HTTP_IN_FLIGHT.inc()

        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            guard = self._guard(scope, headers)
            if guard is not None:
                response = problem_response(
                    Request(scope), guard.status, guard.code, guard.title, guard.detail
                )
                await response(scope, receive, send_wrapper)
                return
            try:
                await self.app(scope, self._bounded(receive, self._limit(headers)), send_wrapper)
            except Exception as exc:
                if started:
                    raise
                # Answered here rather than by Starlette's outermost handler, which re-raises:
                # the server would then drop the connection, and a client reusing it would see
                # a reset instead of the 500.
                response = await unexpected(Request(scope), exc)
                if "x-request-id" in response.headers:  # send_wrapper adds it
                    del response.headers["x-request-id"]
                await response(scope, receive, send_wrapper)
        finally:
            HTTP_IN_FLIGHT.dec()
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            HTTP_LATENCY.labels(method, route).observe(elapsed)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            log.info(
                "request",
                method=method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )

    def _guard(self, scope: Scope, headers: dict[bytes, bytes]) -> DomainError | None:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        if (
            b"%00" in raw_path
            or b"%00" in scope.get("query_string", b"")
            or "\x00" in scope["path"]
        ):
            return BadRequest("NUL bytes are not allowed in the URL")
        length = headers.get(b"content-length")
        if length is not None:
            try:
                if int(length) > (limit := self._limit(headers)):
                    return PayloadTooLarge(f"request body exceeds {limit} bytes")
            except ValueError:
                return BadRequest("invalid Content-Length")
        return None

    def _bounded(self, receive: Receive, limit: int) -> Receive:
        seen = 0

        async def wrapped() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"request body exceeds {limit} bytes")
            return message

        return wrapped
