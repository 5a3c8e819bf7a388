"""Geocoding: per-tenant provider configuration and the Nominatim and Google adapters, run
against a local HTTP server that answers in each vendor's documented format."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import create_engine, text

from lastmile.core import keystore
from lastmile.core.db import sync_url
from lastmile.places.geocoding import base as geocoding_base
from tests.support.databases import TestDatabase
from tests.support.env import TEST_ENV
from tests.support.factories import TenantHandle

GOOGLE_KEY = "AIzaSy-test-key-0123456789"


@dataclass
class Canned:
    """One scripted answer: status, JSON (or raw bytes) body, headers, delay before answering."""

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


def google_ok(lat: float, lng: float, formatted: str) -> Canned:
    return Canned(
        body={
            "status": "OK",
            "results": [
                {
                    "formatted_address": formatted,
                    "geometry": {"location": {"lat": lat, "lng": lng}, "location_type": "ROOFTOP"},
                    "place_id": "ChIJ-test",
                    "types": ["street_address"],
                }
            ],
        }
    )


def google_status(status: str, message: str | None = None) -> Canned:
    body: dict[str, Any] = {"status": status, "results": []}
    if message:
        body["error_message"] = message
    return Canned(body=body)


# Answers by the address asked (Nominatim's `q`, Google's `address`).
NOMINATIM: dict[str, Canned] = {
    "Dam 1, Amsterdam": Canned(
        body=[
            {
                "place_id": 1,
                "lat": "52.3731",
                "lon": "4.8926",
                "display_name": "Dam 1, Amsterdam, Noord-Holland, Nederland",
                "category": "building",
                "type": "yes",
            }
        ]
    ),
    "nowhere": Canned(body=[]),
    "throttled": Canned(status=429, raw=b"Too Many Requests", headers={"Retry-After": "7"}),
    "broken": Canned(status=500, raw=b"<html>Internal Server Error</html>"),
    "blocked": Canned(status=403, raw=b"<html>Access blocked</html>"),
    "html": Canned(raw=b"<html>not json</html>"),
    "object": Canned(body={"error": "Unable to geocode"}),
    "bad lat": Canned(body=[{"lat": "north", "lon": "4.9", "display_name": "x"}]),
    "lat 95": Canned(body=[{"lat": "95", "lon": "4.9", "display_name": "x"}]),
    "slow": Canned(body=[], delay=1.5),
}
GOOGLE: dict[str, Canned] = {
    "1600 Amphitheatre Parkway": google_ok(37.4224, -122.0842, "1600 Amphitheatre Pkwy, CA, USA"),
    "nowhere": google_status("ZERO_RESULTS"),
    "quota": google_status("OVER_QUERY_LIMIT", "You have exceeded your rate-limit for this API."),
    "denied": google_status("REQUEST_DENIED", "The provided API key is invalid."),
    "invalid": google_status(
        "INVALID_REQUEST", "Invalid request. Missing the 'address' parameter."
    ),
    "daily": google_status("OVER_DAILY_LIMIT", "Billing is not enabled."),
    "unknown": google_status("UNKNOWN_ERROR"),
    "weird": google_status("SOMETHING_NEW"),
    "no location": Canned(body={"status": "OK", "results": [{"formatted_address": "x"}]}),
    "http 503": Canned(status=503, raw=b"Service Unavailable"),
}


class FakeProviders:
    """A local HTTP server speaking Nominatim (`/search`) and Google (`/maps/api/geocode/json`)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                owner.requests.append(
                    {"path": parts.path, "query": query, "headers": dict(self.headers)}
                )
                if parts.path == "/search":
                    canned = NOMINATIM.get(query.get("q", ""), Canned(body=[]))
                elif parts.path == "/maps/api/geocode/json":
                    if query.get("key") != GOOGLE_KEY:
                        canned = google_status("REQUEST_DENIED", "The provided API key is invalid.")
                    else:
                        canned = GOOGLE.get(query.get("address", ""), google_status("ZERO_RESULTS"))
                else:
                    canned = Canned(status=404, raw=b"not found")
                time.sleep(canned.delay)
                payload = canned.raw if canned.raw is not None else json.dumps(canned.body).encode()
                try:
                    self.send_response(canned.status)
                    ctype = "application/json" if canned.raw is None else "text/html"
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in canned.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def last(self) -> dict[str, Any]:
        return self.requests[-1]


@pytest.fixture(scope="module")
def providers() -> Iterator[FakeProviders]:
    fake = FakeProviders()
    fake.thread.start()
    try:
        yield fake
    finally:
        fake.httpd.shutdown()
        fake.httpd.server_close()


def _configure(t: TenantHandle, **body: Any) -> dict[str, Any]:
    r = t.request("PUT", "/v1/geocoder", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def _geocode(t: TenantHandle, address: str, key: str | None = None) -> Any:
    return t.post("/v1/geocode", key=key, json={"address": address})


def _problem(r: Any, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = dict(r.json())
    assert body["type"] == f"/problems/{kind}", body
    return body


# -- configuration ---------------------------------------------------------------------------


def test_no_geocoder_by_default(tenant: TenantHandle) -> None:
    """A new tenant has provider none, and geocoding answers 409 geocoder-not-configured."""
    r = tenant.get("/v1/geocoder")
    assert r.status_code == 200
    assert r.json() == {
        "provider": "none",
        "base_url": None,
        "api_key_set": False,
        "updated_at": None,
    }
    _problem(_geocode(tenant, "Dam 1, Amsterdam"), 409, "geocoder-not-configured")


def test_google_needs_an_api_key(tenant: TenantHandle) -> None:
    """Choosing google without an API key is a 422 naming body.api_key; nothing is stored."""
    body = _problem(
        tenant.request("PUT", "/v1/geocoder", json={"provider": "google"}), 422, "validation-error"
    )
    assert body["errors"][0]["field"] == "body.api_key"
    assert tenant.get("/v1/geocoder").json()["provider"] == "none"


def test_api_key_is_write_only_and_encrypted_at_rest(
    tenant: TenantHandle, providers: FakeProviders, database: TestDatabase
) -> None:
    """The API key is never returned (only api_key_set) and is stored Fernet-encrypted."""
    put = _configure(tenant, provider="google", base_url=providers.url, api_key=GOOGLE_KEY)
    got = tenant.get("/v1/geocoder")
    for r in (put, got.json()):
        assert r["api_key_set"] is True
        assert GOOGLE_KEY not in json.dumps(r)
    assert GOOGLE_KEY not in got.text
    engine = create_engine(sync_url(database.admin_url))
    try:
        with engine.connect() as conn:
            stored = conn.execute(
                text("select api_key_encrypted from geocoder_configs where tenant_id = :t"),
                {"t": tenant.id},
            ).scalar_one()
    finally:
        engine.dispose()
    assert GOOGLE_KEY not in stored
    assert (
        keystore.decrypt(
            stored, secret_key=TEST_ENV["LASTMILE_SECRET_KEY"], purpose=keystore.GEOCODER
        )
        == GOOGLE_KEY
    )


def test_omitted_api_key_is_kept_null_removes_it_none_forgets_all(
    tenant: TenantHandle, providers: FakeProviders
) -> None:
    """PUT without api_key keeps the stored key; api_key null removes it; provider none clears all."""
    _configure(tenant, provider="google", base_url=providers.url, api_key=GOOGLE_KEY)
    kept = _configure(tenant, provider="google", base_url=providers.url + "/")
    assert kept["api_key_set"] is True
    assert _geocode(tenant, "1600 Amphitheatre Parkway").status_code == 200
    r = tenant.request(
        "PUT",
        "/v1/geocoder",
        json={"provider": "google", "base_url": providers.url, "api_key": None},
    )
    assert r.status_code == 422  # google without a key
    cleared = _configure(tenant, provider="nominatim", base_url=providers.url, api_key=None)
    assert cleared["api_key_set"] is False
    off = _configure(tenant, provider="none", base_url=providers.url, api_key="x")
    assert off == {**off, "provider": "none", "base_url": None, "api_key_set": False}


@pytest.mark.parametrize(
    "url",
    [
        "ftp://127.0.0.1/",
        "http://127.0.0.1:8080/search?q=1",
        "http://127.0.0.1/#frag",
        "not a url",
        "http://",
        "http://user:pw@127.0.0.1/",
        "http://127.0.0.1:99999/",
        "javascript:alert(1)",
        "http://[::1",
    ],
)
def test_base_url_must_be_a_plain_http_url(tenant: TenantHandle, url: str) -> None:
    """A base_url that is not an http(s) URL without credentials, query or fragment is a 422."""
    r = tenant.request("PUT", "/v1/geocoder", json={"provider": "nominatim", "base_url": url})
    body = _problem(r, 422, "validation-error")
    assert body["errors"][0]["field"] == "body.base_url"
    assert tenant.get("/v1/geocoder").json()["provider"] == "none"


def test_only_admins_configure_and_dispatchers_geocode(
    tenant: TenantHandle, providers: FakeProviders
) -> None:
    """Dispatchers get 403 on the configuration but may geocode; viewers may not geocode."""
    dispatcher, viewer = tenant.key("dispatcher"), tenant.key("viewer")
    assert tenant.get("/v1/geocoder", key=dispatcher).status_code == 403
    r = tenant.request("PUT", "/v1/geocoder", key=dispatcher, json={"provider": "none"})
    assert r.status_code == 403
    _configure(tenant, provider="nominatim", base_url=providers.url)
    assert _geocode(tenant, "Dam 1, Amsterdam", key=dispatcher).status_code == 200
    assert _geocode(tenant, "Dam 1, Amsterdam", key=viewer).status_code == 403


def test_configuration_is_per_tenant(
    tenant: TenantHandle, other_tenant: TenantHandle, providers: FakeProviders
) -> None:
    """One tenant's provider is invisible to, and unused by, another tenant."""
    _configure(tenant, provider="google", base_url=providers.url, api_key=GOOGLE_KEY)
    assert other_tenant.get("/v1/geocoder").json()["provider"] == "none"
    _problem(_geocode(other_tenant, "1600 Amphitheatre Parkway"), 409, "geocoder-not-configured")


@pytest.mark.parametrize("address", ["", "   ", "\t\n"])
def test_blank_address_is_a_422(tenant: TenantHandle, address: str) -> None:
    """An empty or whitespace-only address is refused with a 422 naming body.address."""
    body = _problem(_geocode(tenant, address), 422, "validation-error")
    assert body["errors"][0]["field"] == "body.address"


# -- Nominatim -------------------------------------------------------------------------------


@pytest.fixture
def nominatim(tenant: TenantHandle, providers: FakeProviders) -> TenantHandle:
    _configure(tenant, provider="nominatim", base_url=providers.url)
    return tenant


def test_nominatim_result(nominatim: TenantHandle, providers: FakeProviders) -> None:
    """Nominatim's first place gives lat/lng (from strings) and display_name; the request is
    /search?q=…&format=jsonv2&limit=1 with an identifying User-Agent."""
    r = _geocode(nominatim, "  Dam 1,   Amsterdam ")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "lat": 52.3731,
        "lng": 4.8926,
        "formatted_address": "Dam 1, Amsterdam, Noord-Holland, Nederland",
        "provider": "nominatim",
    }
    sent = providers.last()
    assert sent["path"] == "/search"
    assert sent["query"] == {"q": "Dam 1, Amsterdam", "format": "jsonv2", "limit": "1"}
    assert sent["headers"]["User-Agent"].startswith("lastmile/")


def test_nominatim_empty_array_is_address_not_found(nominatim: TenantHandle) -> None:
    """An empty result list is a 422 address-not-found naming body.address."""
    body = _problem(_geocode(nominatim, "nowhere"), 422, "address-not-found")
    assert body["errors"] == [
        {
            "field": "body.address",
            "message": "no place found for this address",
            "code": "address-not-found",
        }
    ]


@pytest.mark.parametrize(
    ("address", "status", "kind"),
    [
        ("throttled", 503, "geocoding-quota-exceeded"),
        ("broken", 503, "geocoding-unavailable"),
        ("blocked", 502, "geocoder-rejected"),
        ("html", 502, "geocoder-bad-response"),
        ("object", 502, "geocoder-bad-response"),
        ("bad lat", 502, "geocoder-bad-response"),
        ("lat 95", 502, "geocoder-bad-response"),
    ],
)
def test_nominatim_failures_are_precise_problems(
    nominatim: TenantHandle, address: str, status: int, kind: str
) -> None:
    """HTTP 429, 5xx, 403, non-JSON and malformed answers each map to their own problem."""
    _problem(_geocode(nominatim, address), status, kind)


def test_nominatim_429_passes_retry_after(nominatim: TenantHandle) -> None:
    """The provider's Retry-After reaches the caller of a quota problem."""
    r = _geocode(nominatim, "throttled")
    assert r.headers["retry-after"] == "7"


def test_nominatim_timeout_is_503(nominatim: TenantHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider slower than the timeout gives 503 geocoding-unavailable, quickly."""
    monkeypatch.setattr(geocoding_base, "TIMEOUT_SECONDS", 0.3)
    started = time.monotonic()
    body = _problem(_geocode(nominatim, "slow"), 503, "geocoding-unavailable")
    assert time.monotonic() - started < 1.4
    assert "did not answer within 0.3 s" in body["detail"]


def test_unreachable_provider_is_503(tenant: TenantHandle) -> None:
    """A provider that refuses connections gives 503 geocoding-unavailable."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _configure(tenant, provider="nominatim", base_url=f"http://127.0.0.1:{port}")
    body = _problem(_geocode(tenant, "Dam 1, Amsterdam"), 503, "geocoding-unavailable")
    assert "could not be reached" in body["detail"]


# -- Google ----------------------------------------------------------------------------------


@pytest.fixture
def google(tenant: TenantHandle, providers: FakeProviders) -> TenantHandle:
    _configure(tenant, provider="google", base_url=providers.url, api_key=GOOGLE_KEY)
    return tenant


def test_google_result(google: TenantHandle, providers: FakeProviders) -> None:
    """Google's first result gives geometry.location and formatted_address; the key is sent."""
    r = _geocode(google, "1600 Amphitheatre Parkway")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "lat": 37.4224,
        "lng": -122.0842,
        "formatted_address": "1600 Amphitheatre Pkwy, CA, USA",
        "provider": "google",
    }
    sent = providers.last()
    assert sent["path"] == "/maps/api/geocode/json"
    assert sent["query"] == {"address": "1600 Amphitheatre Parkway", "key": GOOGLE_KEY}


@pytest.mark.parametrize(
    ("address", "status", "kind", "said"),
    [
        ("nowhere", 422, "address-not-found", None),
        ("quota", 503, "geocoding-quota-exceeded", "exceeded your rate-limit"),
        ("denied", 502, "geocoder-rejected", "The provided API key is invalid."),
        ("invalid", 502, "geocoder-rejected", "INVALID_REQUEST"),
        ("daily", 502, "geocoder-rejected", "Billing is not enabled."),
        ("unknown", 503, "geocoding-unavailable", "UNKNOWN_ERROR"),
        ("weird", 502, "geocoder-bad-response", "SOMETHING_NEW"),
        ("no location", 502, "geocoder-bad-response", None),
        ("http 503", 503, "geocoding-unavailable", "HTTP 503"),
    ],
)
def test_google_statuses_are_precise_problems(
    google: TenantHandle, address: str, status: int, kind: str, said: str | None
) -> None:
    """Each Google status maps to its own problem, with Google's error_message in the detail."""
    r = _geocode(google, address)
    body = _problem(r, status, kind)
    if said:
        assert said in body["detail"]
    assert GOOGLE_KEY not in r.text
    if kind == "geocoding-quota-exceeded":
        assert int(r.headers["retry-after"]) > 0


def test_google_wrong_key_is_rejected(tenant: TenantHandle, providers: FakeProviders) -> None:
    """A key the provider refuses (REQUEST_DENIED) is a 502 geocoder-rejected, never echoed."""
    _configure(tenant, provider="google", base_url=providers.url, api_key="wrong-key")
    r = _geocode(tenant, "1600 Amphitheatre Parkway")
    _problem(r, 502, "geocoder-rejected")
    assert "wrong-key" not in r.text


def test_results_are_cached_per_configuration(
    tenant: TenantHandle, other_tenant: TenantHandle, providers: FakeProviders
) -> None:
    """A repeated address is answered from the cache; another tenant or a changed configuration
    asks the provider again."""

    def asked() -> int:
        return sum(1 for r in providers.requests if r["query"].get("q") == "Dam 1, Amsterdam")

    before = asked()
    _configure(tenant, provider="nominatim", base_url=providers.url)
    first = _geocode(tenant, "Dam 1, Amsterdam").json()
    assert _geocode(tenant, "Dam 1,  Amsterdam").json() == first
    assert asked() == before + 1
    _configure(other_tenant, provider="nominatim", base_url=providers.url)
    assert _geocode(other_tenant, "Dam 1, Amsterdam").json() == first
    assert asked() == before + 2
    _configure(tenant, provider="nominatim", base_url=providers.url + "/")
    assert _geocode(tenant, "Dam 1, Amsterdam").status_code == 200
    assert asked() == before + 3


def test_misses_are_not_cached(nominatim: TenantHandle, providers: FakeProviders) -> None:
    """An address the provider did not find is asked again next time."""
    before = len(providers.requests)
    for _ in range(2):
        _problem(_geocode(nominatim, "nowhere"), 422, "address-not-found")
    assert len(providers.requests) == before + 2
