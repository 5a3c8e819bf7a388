"""Google Geocoding API adapter: `GET {base}/maps/api/geocode/json?address=…&key=…`.

The answer is `{"status": …, "results": [{"formatted_address", "geometry": {"location":
{"lat", "lng"}}}], "error_message"?}` with HTTP 200 whatever the status: `OK`, `ZERO_RESULTS`,
`OVER_QUERY_LIMIT`, `OVER_DAILY_LIMIT`, `REQUEST_DENIED`, `INVALID_REQUEST`, `UNKNOWN_ERROR`.
"""

from __future__ import annotations

from typing import Any

from lastmile.places.errors import (
    GeocoderBadResponse,
    GeocoderRejected,
    GeocodingQuotaExceeded,
    GeocodingUnavailable,
)
from lastmile.places.geocoding import base
from lastmile.places.geocoding.base import GeocodeResult

DEFAULT_BASE_URL = "https://maps.googleapis.com"
NAME = "google"


def _said(doc: dict[str, Any]) -> str:
    message = doc.get("error_message")
    return f": {str(message)[:300]}" if message else ""


class GoogleGeocoder:
    name = NAME

    def __init__(
        self, *, base_url: str | None, api_key: str, user_agent: str, timeout: float
    ) -> None:
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.api_key = api_key
        self.user_agent = user_agent
        self.timeout = timeout

    async def geocode(self, address: str) -> GeocodeResult | None:
        reply = await base.get(
            f"{self.base_url}/maps/api/geocode/json",
            params={"address": address, "key": self.api_key},
            headers={"User-Agent": self.user_agent, "Accept": "application/json"},
            provider=NAME,
            wait=self.timeout,
        )
        base.raise_for_http_status(reply, NAME)
        doc = reply.json(NAME)
        if not isinstance(doc, dict) or not isinstance(doc.get("status"), str):
            raise GeocoderBadResponse(f"{NAME} answered without a status")
        status = doc["status"]
        if status == "ZERO_RESULTS":
            return None
        if status == "OVER_QUERY_LIMIT":
            raise GeocodingQuotaExceeded(
                f"{NAME} query limit exceeded (OVER_QUERY_LIMIT){_said(doc)}",
                headers={"Retry-After": base.DEFAULT_RETRY_AFTER},
            )
        if status in ("REQUEST_DENIED", "OVER_DAILY_LIMIT", "INVALID_REQUEST"):
            raise GeocoderRejected(f"{NAME} refused the request ({status}){_said(doc)}")
        if status == "UNKNOWN_ERROR":
            raise GeocodingUnavailable(f"{NAME} failed (UNKNOWN_ERROR); retry later")
        if status != "OK":
            raise GeocoderBadResponse(f"{NAME} answered with an unknown status {status[:40]!r}")
        results = doc.get("results")
        if not isinstance(results, list) or not results:
            return None
        first = results[0]
        try:
            location = first["geometry"]["location"]
            lat, lng = location["lat"], location["lng"]
        except (KeyError, TypeError) as exc:
            raise GeocoderBadResponse(f"{NAME} answered with a result without a location") from exc
        return GeocodeResult(
            lat=base.coordinate(lat, -90, 90, NAME, "latitude"),
            lng=base.coordinate(lng, -180, 180, NAME, "longitude"),
            formatted_address=str(first.get("formatted_address") or address),
            provider=NAME,
        )
