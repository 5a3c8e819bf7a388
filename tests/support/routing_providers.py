"""A local HTTP server speaking OSRM's Table service and Google's computeRouteMatrix, in each
vendor's documented wire format, with scripted failures.

Its "road network": distance = great-circle distance x 1.5, at 10 m/s; a point north of 80°
latitude has no road (OSRM answers `null`, Google `ROUTE_NOT_FOUND` for pairs touching it).
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

GOOGLE_KEY = "AIzaSy-routes-test-key-0123456789"
ROAD_FACTOR = 1.5
ROAD_SPEED_MS = 10.0
NO_ROAD_LAT = 80.0
OSRM_MAX_TABLE = 100  # like osrm-routed's default --max-table-size
GOOGLE_MAX_ELEMENTS = 625


def road(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float] | None:
    """(duration s, distance m) on the fake network, None when either end has no road."""
    if a[0] > NO_ROAD_LAT or b[0] > NO_ROAD_LAT:
        return None
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    metres = 2 * 6_371_008.8 * math.asin(math.sqrt(h)) * ROAD_FACTOR
    return metres / ROAD_SPEED_MS, metres


@dataclass
class Script:
    """What the next requests get: `mode` names a failure (or "ok"); `after` lets that many
    requests succeed first; `delay` is seconds before answering."""

    mode: str = "ok"
    after: int = 0
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any = None


@dataclass
class FakeRouting:
    requests: list[Seen] = field(default_factory=list)
    script: Script = field(default_factory=Script)
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        self.requests.clear()
        self.script = Script()

    def count(self, prefix: str) -> int:
        return sum(1 for r in self.requests if r.path.startswith(prefix))

    # -- OSRM ------------------------------------------------------------------------------

    def osrm(self, path: str, query: dict[str, str], failing: str | None) -> tuple[int, Any]:
        if failing == "osrm-400":
            return 400, {
                "code": "InvalidQuery",
                "message": "Query string malformed close to position 9",
            }
        if failing == "osrm-nosegment":
            return 400, {
                "code": "NoSegment",
                "message": "Could not find a matching segment for coordinate 0",
            }
        if failing == "osrm-notable":
            return 400, {"code": "NoTable", "message": "No table found"}
        if failing == "osrm-ok-but-error":
            return 200, {"code": "Weird"}
        parts = path.split("/")  # ['', 'table', 'v1', profile, coordinates]
        if len(parts) != 5 or parts[1:3] != ["table", "v1"]:
            return 400, {
                "code": "InvalidUrl",
                "message": "URL string malformed close to position 1",
            }
        try:
            coords = [
                (float(lat), float(lng))
                for lng, lat in (c.split(",") for c in unquote(parts[4]).split(";"))
            ]
        except ValueError:
            return 400, {"code": "InvalidQuery", "message": "Query string malformed"}
        if len(coords) > OSRM_MAX_TABLE:
            return 400, {"code": "TooBig", "message": "Too many table coordinates"}
        sources = [int(s) for s in query["sources"].split(";")] if "sources" in query else None
        targets = (
            [int(s) for s in query["destinations"].split(";")] if "destinations" in query else None
        )
        src = sources if sources is not None else list(range(len(coords)))
        dst = targets if targets is not None else list(range(len(coords)))
        if any(not 0 <= k < len(coords) for k in src + dst):
            return 400, {"code": "InvalidValue", "message": "Index out of range"}
        cells = [[road(coords[i], coords[j]) for j in dst] for i in src]
        durations = [[None if c is None else round(c[0], 1) for c in row] for row in cells]
        distances = [[None if c is None else round(c[1], 1) for c in row] for row in cells]
        if failing == "osrm-garbage":
            durations[0][0] = "fast"  # type: ignore[call-overload]
        doc: dict[str, Any] = {
            "code": "Ok",
            "durations": durations,
            "sources": [{"location": [coords[i][1], coords[i][0]], "name": ""} for i in src],
            "destinations": [{"location": [coords[j][1], coords[j][0]], "name": ""} for j in dst],
        }
        if "distance" in query.get("annotations", ""):
            doc["distances"] = distances
        return 200, doc

    # -- Google ----------------------------------------------------------------------------

    @staticmethod
    def google_error(status: int, name: str, message: str) -> tuple[int, Any]:
        return status, {"error": {"code": status, "message": message, "status": name}}

    def google(self, headers: dict[str, str], body: Any, failing: str | None) -> tuple[int, Any]:
        if headers.get("x-goog-api-key") != GOOGLE_KEY:
            return self.google_error(
                403,
                "PERMISSION_DENIED",
                "Requests from this API key are blocked. API key not valid. Please pass a valid API key.",
            )
        if not headers.get("x-goog-fieldmask"):
            return self.google_error(
                400,
                "INVALID_ARGUMENT",
                "FieldMask is a required parameter. See https://cloud.google.com/apis/docs/system-parameters",
            )
        if failing == "google-quota":
            return self.google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded for quota metric 'Route Matrix elements' and limit 'per minute'.",
            )
        if failing == "google-500":
            return self.google_error(500, "INTERNAL", "Internal error encountered.")
        if failing == "google-not-a-list":
            return 200, {"elements": []}
        origins = [self._latlng(o) for o in body["origins"]]
        destinations = [self._latlng(d) for d in body["destinations"]]
        if len(origins) * len(destinations) > GOOGLE_MAX_ELEMENTS:
            return self.google_error(
                400,
                "INVALID_ARGUMENT",
                "The product of number of origins and destinations must not exceed 625.",
            )
        elements = []
        for i, o in enumerate(origins):
            for j, d in enumerate(destinations):
                cell = road(o, d)
                element: dict[str, Any] = {"originIndex": i, "destinationIndex": j}
                if cell is None:
                    element.update(status={}, condition="ROUTE_NOT_FOUND")
                else:
                    element.update(condition="ROUTE_EXISTS", duration=f"{round(cell[0])}s")
                    if round(cell[1]):
                        element["distanceMeters"] = round(cell[1])
                    if (i + j) % 2:
                        element["status"] = {}  # sometimes present and empty, sometimes left out
                elements.append(element)
        if failing == "google-element-error":
            elements[-1] = {
                "originIndex": len(origins) - 1,
                "destinationIndex": len(destinations) - 1,
                "status": {"code": 3, "message": "Invalid waypoint."},
            }
        random.Random(len(elements)).shuffle(elements)  # the stream comes in any order
        return 200, elements

    @staticmethod
    def _latlng(entry: dict[str, Any]) -> tuple[float, float]:
        ll = entry["waypoint"]["location"]["latLng"]
        return float(ll["latitude"]), float(ll["longitude"])

    # -- dispatch --------------------------------------------------------------------------

    def answer(self, seen: Seen, index: int) -> tuple[int, bytes, str]:
        script = self.script
        failing = script.mode if script.mode != "ok" and index >= script.after else None
        if script.delay and index >= script.after:
            time.sleep(script.delay)
        if failing == "http-500":
            return 500, b"<html>Internal Server Error</html>", "text/html"
        if failing == "http-429":
            return 429, b'{"message":"Too Many Requests"}', "application/json"
        if failing == "html":
            return 200, b"<html>not json</html>", "text/html"
        if seen.path.startswith("/table/"):
            status, doc = self.osrm(seen.path, seen.query, failing)
        elif seen.path == "/distanceMatrix/v2:computeRouteMatrix" and seen.method == "POST":
            status, doc = self.google(seen.headers, seen.body, failing)
        else:
            return 404, b"not found", "text/plain"
        return status, json.dumps(doc).encode(), "application/json"


def serve() -> Iterator[FakeRouting]:
    """Run a FakeRouting server on 127.0.0.1 until the generator is closed."""
    fake = FakeRouting()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            seen = Seen(
                method,
                parts.path,
                {k: v[0] for k, v in parse_qs(parts.query).items()},
                {k.lower(): v for k, v in self.headers.items()},
                json.loads(raw) if raw else None,
            )
            with fake.lock:
                fake.requests.append(seen)
                index = len(fake.requests) - 1
            status, payload, ctype = fake.answer(seen, index)
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()
