"""Sending one webhook request: the HTTP adapter behind the `Sender` protocol.

Per attempt: check the URL again and pin the checked address (events/egress.py), sign the
exact body bytes with a fresh `webhook-timestamp`, POST with a time limit covering everything
(resolution, connection, answer), never follow a redirect, and keep the first 1000 characters
of the answer for the delivery log."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from types import TracebackType
from typing import Protocol

import httpx

from lastmile.core import clock
from lastmile.events import signing
from lastmile.events.delivery import EXCERPT_CHARS, THROTTLING, Claimed, Outcome, parse_retry_after
from lastmile.events.egress import Egress, Refused, Resolved, Unresolvable

SHARDS = 8  # connection pools per TLS server name (or for plain HTTP)
MAX_CLIENTS = 512  # beyond this many pools, a request gets a connection of its own


class Sender(Protocol):
    async def send(self, claimed: Claimed) -> Outcome: ...


class HttpSender:
    """Sends webhook requests with httpx; use as `async with HttpSender(...) as sender`.

    Plain-HTTP requests share `SHARDS` small connection pools taken in turn: httpcore scans its
    whole pool for every request it places, so one pool of many connections costs more CPU per
    request than several small ones. HTTPS requests get a pool per host name (its TLS server
    name), so a connection is only reused for the name it was verified for."""

    def __init__(self, *, egress: Egress, timeout: float, max_connections: int = 100) -> None:
        self.egress = egress
        self.timeout = timeout
        per_pool = max(1, -(-max_connections // SHARDS))
        self._limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
        self._clients: dict[tuple[str | None, int], httpx.AsyncClient] = {}
        self._turn = 0
        self._resolved = Resolved()

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: we connect to the checked address
            timeout=httpx.Timeout(self.timeout),
            limits=self._limits,
        )

    def _client(self, sni: str | None) -> tuple[httpx.AsyncClient, bool]:
        """The pooled client for this TLS server name, or a one-off one (True: close it)."""
        self._turn = (self._turn + 1) % SHARDS
        key = (sni, self._turn)
        client = self._clients.get(key)
        if client is not None:
            return client, False
        if len(self._clients) >= MAX_CLIENTS:
            return self._new_client(), True
        client = self._clients[key] = self._new_client()
        return client, False

    async def __aenter__(self) -> HttpSender:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def send(self, claimed: Claimed) -> Outcome:
        started = clock.now()
        if not claimed.secrets:
            return Outcome(
                started,
                error="not sent: the signing secret cannot be read "
                "(was LASTMILE_SECRET_KEY changed?); rotate the endpoint's secret",
            )
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                return await self._post(claimed, started, t0)
        except Refused as exc:
            return Outcome(started, error=f"refused: {exc}")
        except Unresolvable as exc:
            return Outcome(started, error=f"network error: {exc}")
        except (TimeoutError, httpx.TimeoutException):
            return Outcome(started, error=f"timed out after {self.timeout:g} s")
        except httpx.HTTPError as exc:
            return Outcome(
                started,
                latency_ms=_ms(t0),
                error=f"network error: {type(exc).__name__}: {exc}".rstrip(": "),
            )

    async def _post(self, claimed: Claimed, started: datetime, t0: float) -> Outcome:
        target = await self.egress.target(claimed.url, cache=self._resolved)
        headers = signing.headers(
            secrets=claimed.secrets,
            msg_id=claimed.event_id,
            timestamp=int(started.timestamp()),
            body=claimed.body,
        )
        headers["host"] = target.host_header
        client, one_off = self._client(target.sni_hostname)
        try:
            request = client.build_request(
                "POST",
                target.url,
                content=claimed.body,
                headers=headers,
                extensions=target.extensions(),
            )
            response = await client.send(request, stream=True)
            try:
                excerpt = await _excerpt(response)
            finally:
                await response.aclose()
        finally:
            if one_off:
                await client.aclose()
        status = response.status_code
        error = None
        if 300 <= status < 400:
            error = f"HTTP {status}: redirects are not followed (only 2xx is a success)"
        elif not 200 <= status < 300:
            error = f"HTTP {status}"
        retry_after = None
        if status in THROTTLING:
            retry_after = parse_retry_after(response.headers.get("retry-after"), clock.now())
        return Outcome(
            started,
            status_code=status,
            latency_ms=_ms(t0),
            excerpt=excerpt,
            error=error,
            retry_after=retry_after,
        )


def _ms(t0: float) -> int:
    return round((time.perf_counter() - t0) * 1000)


async def _excerpt(response: httpx.Response) -> str:
    """The first characters of the answer, reading no more than needed."""
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= EXCERPT_CHARS * 4:
            break
    return data.decode("utf-8", "replace")[:EXCERPT_CHARS]
