"""What every geocoding adapter shares: the result, the Protocol, and a bounded HTTP GET."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from lastmile import __version__
from lastmile.places.errors import (
    GeocoderBadResponse,
    GeocoderRejected,
    GeocodingQuotaExceeded,
    GeocodingUnavailable,
)

# Seconds a provider has to answer (connect, read, write and pool timeouts alike).
TIMEOUT_SECONDS = 5.0
# The largest provider answer read; a geocoding answer with limit=1 is a few kilobytes.
MAX_RESPONSE_BYTES = 1_048_576
DEFAULT_RETRY_AFTER = "30"


@dataclass(frozen=True)
class GeocodeResult:
    """Where an address is: WGS 84 coordinates and the provider's formatted address."""

    lat: float
    lng: float
    formatted_address: str
    provider: str


class Geocoder(Protocol):
    """A geocoding provider. `geocode` returns None when the provider finds no place, and raises a
    `GeocodingError` (rejected, bad response, unavailable, quota exceeded) when it fails."""

    name: str

    async def geocode(self, address: str) -> GeocodeResult | None: ...


def user_agent(public_url: str) -> str:
    """Identifies this application to providers (Nominatim's usage policy requires it)."""
    return f"lastmile/{__version__} (+{public_url})"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes

    def json(self, provider: str) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise GeocoderBadResponse(
                f"{provider} answered with something that is not JSON"
            ) from exc


async def get(
    url: str, *, params: dict[str, str], headers: dict[str, str], provider: str, wait: float
) -> Reply:
    """GET the provider; network failures and timeouts become `GeocodingUnavailable`. Never lets
    the URL (which may carry an API key) into an error message."""
    try:
        async with (
            httpx.AsyncClient(timeout=wait, follow_redirects=False) as client,
            client.stream("GET", url, params=params, headers=headers) as response,
        ):
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > MAX_RESPONSE_BYTES:
                    raise GeocoderBadResponse(
                        f"{provider} answered with more than {MAX_RESPONSE_BYTES} bytes"
                    )
            return Reply(response.status_code, response.headers, bytes(body))
    except httpx.TimeoutException as exc:
        raise GeocodingUnavailable(f"{provider} did not answer within {wait:g} s") from exc
    except httpx.HTTPError as exc:
        raise GeocodingUnavailable(
            f"{provider} could not be reached ({type(exc).__name__})"
        ) from exc


def raise_for_http_status(reply: Reply, provider: str) -> None:
    """Map a provider's HTTP error status to our problem: 429 quota, 5xx unavailable, other
    non-2xx refused."""
    if 200 <= reply.status < 300:
        return
    if reply.status == 429:
        retry = reply.headers.get("retry-after", "")
        raise GeocodingQuotaExceeded(
            f"{provider} rate limit exceeded (HTTP 429)",
            headers={"Retry-After": retry if retry.isdigit() else DEFAULT_RETRY_AFTER},
        )
    if reply.status >= 500:
        raise GeocodingUnavailable(f"{provider} failed (HTTP {reply.status})")
    raise GeocoderRejected(f"{provider} refused the request (HTTP {reply.status})")


def coordinate(value: object, low: float, high: float, provider: str, name: str) -> float:
    """A coordinate from a provider answer (a number or a numeric string) within its range."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise GeocoderBadResponse(f"{provider} sent a non-numeric {name}") from exc
    if not low <= number <= high:
        raise GeocoderBadResponse(f"{provider} sent {name} {number:g} outside [{low:g}, {high:g}]")
    return number


class _RedactKeys(logging.Filter):
    """Hides `key=` query values in httpx's request log lines (Google API keys travel there)."""

    _KEY = re.compile(r"([?&]key=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(
                self._KEY.sub(r"\1***", str(a)) if "key=" in str(a) else a
                for a in (record.args if isinstance(record.args, tuple) else (record.args,))
            )
        return True


_httpx_logger = logging.getLogger("httpx")
if not any(isinstance(f, _RedactKeys) for f in _httpx_logger.filters):
    _httpx_logger.addFilter(_RedactKeys())
