"""Google Routes API adapter: `POST {base}/distanceMatrix/v2:computeRouteMatrix`.

The request carries the key in `X-Goog-Api-Key` and the wanted fields in `X-Goog-FieldMask`;
its body is `{"origins": [{"waypoint": {"location": {"latLng": {"latitude", "longitude"}}}}…],
"destinations": […], "travelMode": "DRIVE" | "TWO_WHEELER" | "BICYCLE" | "WALK",
"routingPreference": "TRAFFIC_UNAWARE"}` (a routing preference only for DRIVE and TWO_WHEELER).

The answer is a JSON array of elements `{"originIndex", "destinationIndex", "status": {"code",
"message"}, "condition": "ROUTE_EXISTS" | "ROUTE_NOT_FOUND", "distanceMeters": 1234, "duration":
"160s"}` in no particular order (proto3 JSON: zero values such as `distanceMeters: 0` or an OK
status are left out). A request has at most 625 elements (origins x destinations), so bigger
matrices are asked in blocks of 25 x 25. Errors are Google's JSON `{"error": {"code": 429,
"message": …, "status": "RESOURCE_EXHAUSTED"}}` (403 PERMISSION_DENIED, 400 INVALID_ARGUMENT…).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from lastmile.fleet.enums import VehicleType
from lastmile.routing.matrix import http
from lastmile.routing.matrix.base import (
    BAD_RESPONSE,
    QUOTA,
    REJECTED,
    TIMEOUT,
    UNAVAILABLE,
    FloatMatrix,
    Point,
    ProviderError,
    square_blocks,
)

NAME = "google"
DEFAULT_BASE_URL = "https://routes.googleapis.com"
PATH = "/distanceMatrix/v2:computeRouteMatrix"
FIELD_MASK = "originIndex,destinationIndex,status,condition,distanceMeters,duration"
MAX_ELEMENTS = 625
BLOCK = 25  # 25 x 25 = 625 elements
TRAVEL_MODES: dict[VehicleType, str] = {
    VehicleType.walker: "WALK",
    VehicleType.bicycle: "BICYCLE",
    VehicleType.motorcycle: "TWO_WHEELER",
    VehicleType.car: "DRIVE",
    VehicleType.van: "DRIVE",
    VehicleType.truck: "DRIVE",
}
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]{0,9})?)s$")
_UNAVAILABLE = {"UNAVAILABLE", "INTERNAL", "UNKNOWN"}


def _waypoint(point: Point) -> dict[str, Any]:
    lat, lng = point
    return {"waypoint": {"location": {"latLng": {"latitude": lat, "longitude": lng}}}}


def _index(element: dict[str, Any], name: str, size: int) -> int:
    value = element.get(name, 0)
    if type(value) is not int or not 0 <= value < size:
        raise ProviderError(BAD_RESPONSE, f"{NAME} answered an element with a bad {name}")
    return value


class GoogleRouteMatrix:
    """Asks the Routes API (or a proxy at `base_url`) with the tenant's API key."""

    name = NAME

    def __init__(self, *, api_key: str, base_url: str | None = None) -> None:
        self.api_key = api_key
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")

    def blocks(self, n: int) -> list[tuple[range, range]]:
        return square_blocks(n, BLOCK)

    def _said(self, text: object) -> str:
        return http.said(text).replace(self.api_key, "***") if self.api_key else http.said(text)

    def _raise_error(self, reply: http.Reply) -> None:
        try:
            doc = reply.json(NAME)
        except ProviderError:
            doc = None
        error = doc.get("error") if isinstance(doc, dict) else None
        error = error if isinstance(error, dict) else {}
        status = str(error.get("status") or "")
        message = self._said(error.get("message") or "")
        what = f"{status}: {message}" if status else f"HTTP {reply.status}"
        if reply.status == 429 or status == "RESOURCE_EXHAUSTED":
            raise ProviderError(QUOTA, f"{NAME} quota exhausted ({what})")
        if status == "DEADLINE_EXCEEDED" or reply.status == 504:
            raise ProviderError(TIMEOUT, f"{NAME} timed out ({what})")
        if reply.status >= 500 or status in _UNAVAILABLE:
            raise ProviderError(UNAVAILABLE, f"{NAME} failed ({what})")
        raise ProviderError(REJECTED, f"{NAME} refused the request ({what})")

    async def block(
        self,
        client: httpx.AsyncClient,
        points: Sequence[Point],
        profile: VehicleType,
        origins: range,
        destinations: range,
    ) -> tuple[FloatMatrix, FloatMatrix]:
        mode = TRAVEL_MODES[profile]
        body: dict[str, Any] = {
            "origins": [_waypoint(points[i]) for i in origins],
            "destinations": [_waypoint(points[j]) for j in destinations],
            "travelMode": mode,
        }
        if mode in ("DRIVE", "TWO_WHEELER"):
            body["routingPreference"] = "TRAFFIC_UNAWARE"
        reply = await http.send(
            client,
            "POST",
            f"{self.base_url}{PATH}",
            provider=NAME,
            headers={
                "X-Goog-Api-Key": self.api_key,
                "X-Goog-FieldMask": FIELD_MASK,
                "Accept": "application/json",
            },
            body=body,
        )
        if reply.status != 200:
            self._raise_error(reply)
        elements = reply.json(NAME)
        if not isinstance(elements, list):
            raise ProviderError(
                BAD_RESPONSE, f"{NAME} answered with a JSON {type(elements).__name__}"
            )
        rows, cols = len(origins), len(destinations)
        durations = np.full((rows, cols), np.nan)
        distances = np.full((rows, cols), np.nan)
        for element in elements:
            if not isinstance(element, dict):
                raise ProviderError(BAD_RESPONSE, f"{NAME} answered an element that is no object")
            i = _index(element, "originIndex", rows)
            j = _index(element, "destinationIndex", cols)
            status = element.get("status") or {}
            code = status.get("code", 0) if isinstance(status, dict) else -1
            if code != 0 or element.get("condition") != "ROUTE_EXISTS":
                continue  # no route (or an error for this pair): left NaN
            match = _DURATION.match(str(element.get("duration", "")))
            meters = element.get("distanceMeters", 0)
            if match is None or type(meters) is not int or meters < 0:
                raise ProviderError(BAD_RESPONSE, f"{NAME} answered an element without a route")
            durations[i, j] = float(match.group(1))
            distances[i, j] = float(meters)
        return durations, distances
