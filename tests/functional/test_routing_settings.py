"""Routing settings: each tenant's travel-time provider and offline estimate parameters, through
GET and PUT /v1/routing-settings (admins only; the API key write-only and encrypted)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from lastmile.core import keystore
from lastmile.core.db import sync_url
from tests.support.databases import TestDatabase
from tests.support.env import TEST_ENV
from tests.support.factories import TenantHandle

KEY = "AIzaSy-routes-key-0123456789"
DEFAULT_SPEEDS = {
    "walker": 5.0,
    "bicycle": 15.0,
    "motorcycle": 25.0,
    "car": 30.0,
    "van": 25.0,
    "truck": 20.0,
}


def put(t: TenantHandle, key: str | None = None, **body: Any) -> Any:
    return t.request("PUT", "/v1/routing-settings", key=key, json=body)


def ok(t: TenantHandle, **body: Any) -> dict[str, Any]:
    r = put(t, **body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def problem(r: Any, field: str) -> dict[str, Any]:
    """A 422 problem+json naming `field` first."""
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = dict(r.json())
    assert body["errors"][0]["field"] == field, body
    return body


def stored_key(database: TestDatabase, tenant_id: str) -> str | None:
    engine = create_engine(sync_url(database.admin_url))
    try:
        with engine.connect() as conn:
            value = conn.execute(
                text("select api_key_encrypted from routing_settings where tenant_id = :t"),
                {"t": tenant_id},
            ).scalar_one()
            return str(value) if value is not None else None
    finally:
        engine.dispose()


def test_offline_with_default_speeds_until_set(tenant: TenantHandle) -> None:
    """A new tenant uses the offline estimate: detour 1.3 and a speed for every vehicle type."""
    r = tenant.get("/v1/routing-settings")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "provider": "offline",
        "base_url": None,
        "api_key_set": False,
        "detour_factor": 1.3,
        "speeds_kmh": DEFAULT_SPEEDS,
        "updated_at": None,
    }


def test_own_speeds_replace_the_defaults_per_type(tenant: TenantHandle) -> None:
    """Speeds sent replace those types' defaults; a later PUT replaces the whole map."""
    got = ok(tenant, provider="offline", detour_factor=1.4, speeds_kmh={"car": 42, "van": 35.5})
    assert got["speeds_kmh"] == {**DEFAULT_SPEEDS, "car": 42.0, "van": 35.5}
    assert got["detour_factor"] == 1.4 and got["updated_at"] is not None
    assert tenant.get("/v1/routing-settings").json() == got
    again = ok(tenant, provider="offline", speeds_kmh={"bicycle": 18})
    assert again["speeds_kmh"] == {**DEFAULT_SPEEDS, "bicycle": 18.0}
    assert again["detour_factor"] == 1.3


def test_osrm_needs_a_base_url(tenant: TenantHandle) -> None:
    """osrm without base_url is a 422 naming body.base_url; nothing is stored."""
    problem(put(tenant, provider="osrm"), "body.base_url")
    for bad in ("http://[", "http://host:99999", "ftp://osrm", "http://osrm/?q=1"):  # never a 500
        problem(put(tenant, provider="osrm", base_url=bad), "body.base_url")
    got = ok(tenant, provider="osrm", base_url="http://osrm.internal:5000")
    assert (got["provider"], got["base_url"]) == ("osrm", "http://osrm.internal:5000")
    assert tenant.get("/v1/routing-settings").json()["provider"] == "osrm"


def test_google_needs_an_api_key(tenant: TenantHandle) -> None:
    """google without an API key is a 422 naming body.api_key; nothing is stored."""
    problem(put(tenant, provider="google"), "body.api_key")
    assert tenant.get("/v1/routing-settings").json()["provider"] == "offline"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "mapbox"}, "body.provider"),
        ({"provider": "offline", "speeds_kmh": {"car": -5}}, "body.speeds_kmh.car"),
        ({"provider": "offline", "speeds_kmh": {"car": 0}}, "body.speeds_kmh.car"),
        ({"provider": "offline", "speeds_kmh": {"car": 900}}, "body.speeds_kmh.car"),
        ({"provider": "offline", "speeds_kmh": {"car": True}}, "body.speeds_kmh.car"),
        ({"provider": "offline", "speeds_kmh": {"car": "fast"}}, "body.speeds_kmh.car"),
        ({"provider": "offline", "speeds_kmh": {"plane": 800}}, "body.speeds_kmh.plane.[key]"),
        ({"provider": "offline", "detour_factor": 0.5}, "body.detour_factor"),
        ({"provider": "offline", "detour_factor": 9}, "body.detour_factor"),
        ({"provider": "offline", "detour_factor": False}, "body.detour_factor"),
        ({"provider": "osrm", "base_url": "ftp://osrm.internal/"}, "body.base_url"),
        ({"provider": "osrm", "base_url": "http://osrm.internal/?x=1"}, "body.base_url"),
        ({"provider": "osrm", "base_url": "http://127.0.0.1:99999/"}, "body.base_url"),
        ({"provider": "google", "api_key": "has spaces"}, "body.api_key"),
        ({"provider": "offline", "colour": "red"}, "body.colour"),
    ],
)
def test_invalid_settings_are_422_naming_the_field(
    tenant: TenantHandle, body: dict[str, Any], field: str
) -> None:
    """Unknown providers, non-positive or absurd speeds, unknown vehicle types, detour factors
    outside [1, 3], bad URLs and stray fields are refused with the field named."""
    problem(put(tenant, **body), field)
    assert tenant.get("/v1/routing-settings").json()["updated_at"] is None


def test_api_key_is_write_only_and_encrypted_at_rest(
    tenant: TenantHandle, database: TestDatabase
) -> None:
    """The key is never returned (only api_key_set), and the stored column is its Fernet
    token under the routing purpose, not the key."""
    put_answer = ok(tenant, provider="google", api_key=KEY)
    got = tenant.get("/v1/routing-settings")
    for answer in (put_answer, got.json()):
        assert answer["api_key_set"] is True
        assert KEY not in json.dumps(answer)
    assert KEY not in got.text
    stored = stored_key(database, tenant.id)
    assert stored is not None and KEY not in stored
    secret = TEST_ENV["LASTMILE_SECRET_KEY"]
    assert keystore.decrypt(stored, secret_key=secret, purpose=keystore.ROUTING) == KEY
    assert keystore.decrypt(stored, secret_key=secret, purpose=keystore.GEOCODER) is None


def test_omitted_key_is_kept_null_removes_it_offline_forgets_all(
    tenant: TenantHandle, database: TestDatabase
) -> None:
    """PUT without api_key keeps the stored key; api_key null removes it (422 for google);
    provider offline forgets the URL and the key."""
    ok(tenant, provider="google", api_key=KEY)
    kept = ok(tenant, provider="google", base_url="https://routes.proxy.example/")
    assert kept["api_key_set"] is True and kept["base_url"] == "https://routes.proxy.example/"
    problem(put(tenant, provider="google", api_key=None), "body.api_key")
    osrm = ok(tenant, provider="osrm", base_url="http://osrm.internal:5000", api_key=None)
    assert osrm["api_key_set"] is False
    ok(tenant, provider="google", api_key=KEY)
    off = ok(tenant, provider="offline", base_url="http://osrm.internal:5000", api_key="x")
    assert (off["provider"], off["base_url"], off["api_key_set"]) == ("offline", None, False)
    assert stored_key(database, tenant.id) is None


def test_only_admins_read_and_write(tenant: TenantHandle) -> None:
    """Dispatchers, viewers and drivers get 403; an admin key without the routing scopes too."""
    for role in ("dispatcher", "viewer", "driver"):
        key = tenant.key(role)
        assert tenant.get("/v1/routing-settings", key=key).status_code == 403
        assert put(tenant, key=key, provider="offline").status_code == 403
    narrow = tenant.key("admin", scopes=["routing:read"])
    assert tenant.get("/v1/routing-settings", key=narrow).status_code == 200
    assert put(tenant, key=narrow, provider="offline").status_code == 403
    writer = tenant.key("admin", scopes=["routing:write"])
    assert put(tenant, key=writer, provider="offline").status_code == 200


def test_settings_are_per_tenant(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    """One tenant's provider and speeds are invisible to another."""
    ok(tenant, provider="google", api_key=KEY, speeds_kmh={"car": 50})
    theirs = other_tenant.get("/v1/routing-settings").json()
    assert theirs["provider"] == "offline" and theirs["speeds_kmh"]["car"] == 30.0
