"""One bounded HTTP exchange with a travel-time provider: failures become `ProviderError`s, and
neither the URL nor the API key ever reaches an error message."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from lastmile import __version__
from lastmile.routing.matrix.base import BAD_RESPONSE, TIMEOUT, UNAVAILABLE, ProviderError

# Seconds one request may take (connect, read, write, pool alike).
TIMEOUT_SECONDS = 10.0
# The largest answer read: a 100 x 100 OSRM table with waypoints is about 0.5 MB.
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
USER_AGENT = f"lastmile/{__version__}"


def client(timeout: float) -> httpx.AsyncClient:
    """The client of one matrix computation (its requests share connections)."""
    return httpx.AsyncClient(
        timeout=timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT}
    )


@dataclass(frozen=True)
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes

    def json(self, provider: str) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProviderError(BAD_RESPONSE, f"{provider} answered with non-JSON") from exc


async def send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> Reply:
    try:
        async with http.stream(method, url, params=params, headers=headers, json=body) as response:
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data.extend(chunk)
                if len(data) > MAX_RESPONSE_BYTES:
                    raise ProviderError(
                        BAD_RESPONSE,
                        f"{provider} answered with more than {MAX_RESPONSE_BYTES} bytes",
                    )
            return Reply(response.status_code, response.headers, bytes(data))
    except httpx.TimeoutException as exc:
        raise ProviderError(TIMEOUT, f"{provider} did not answer in time") from exc
    except httpx.HTTPError as exc:
        raise ProviderError(
            UNAVAILABLE, f"{provider} could not be reached ({type(exc).__name__})"
        ) from exc


def said(text: object, limit: int = 300) -> str:
    """A provider's own message, shortened, for a log line."""
    return str(text)[:limit]
