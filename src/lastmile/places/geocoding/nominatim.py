"""Nominatim (OpenStreetMap) adapter: `GET {base}/search?q=…&format=jsonv2&limit=1`.

The answer is a JSON array of places, each with `lat` and `lon` as strings and a
`display_name`; an empty array means nothing was found. The public server's usage policy asks
for an identifying User-Agent and at most one request per second.
"""

from __future__ import annotations

from lastmile.places.errors import GeocoderBadResponse
from lastmile.places.geocoding import base
from lastmile.places.geocoding.base import GeocodeResult

DEFAULT_BASE_URL = "https://nominatim.openstreetmap.org"
NAME = "nominatim"


class NominatimGeocoder:
    name = NAME

    def __init__(self, *, base_url: str | None, user_agent: str, timeout: float) -> None:
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.user_agent = user_agent
        self.timeout = timeout

    async def geocode(self, address: str) -> GeocodeResult | None:
        reply = await base.get(
            f"{self.base_url}/search",
            params={"q": address, "format": "jsonv2", "limit": "1"},
            headers={"User-Agent": self.user_agent, "Accept": "application/json"},
            provider=NAME,
            wait=self.timeout,
        )
        base.raise_for_http_status(reply, NAME)
        places = reply.json(NAME)
        if not isinstance(places, list):
            raise GeocoderBadResponse(f"{NAME} answered with a {type(places).__name__}, not a list")
        if not places:
            return None
        first = places[0]
        if not isinstance(first, dict) or "lat" not in first or "lon" not in first:
            raise GeocoderBadResponse(f"{NAME} answered with a place without lat/lon")
        return GeocodeResult(
            lat=base.coordinate(first["lat"], -90, 90, NAME, "latitude"),
            lng=base.coordinate(first["lon"], -180, 180, NAME, "longitude"),
            formatted_address=str(first.get("display_name") or address),
            provider=NAME,
        )
