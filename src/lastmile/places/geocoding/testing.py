"""A fake geocoder for tests of code that geocodes (no network)."""

from __future__ import annotations

from lastmile.places.geocoding.base import GeocodeResult


class FakeGeocoder:
    """Answers from a dict of address -> (lat, lng); unknown addresses find nothing."""

    name = "fake"

    def __init__(self, places: dict[str, tuple[float, float]] | None = None) -> None:
        self.places = dict(places or {})
        self.calls: list[str] = []

    async def geocode(self, address: str) -> GeocodeResult | None:
        self.calls.append(address)
        hit = self.places.get(address)
        if hit is None:
            return None
        return GeocodeResult(lat=hit[0], lng=hit[1], formatted_address=address, provider=self.name)
