"""Idempotency-Key on creating POSTs (reliability.md §2)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import create_engine, text

from lastmile.core import clock
from lastmile.core.db import sync_url
from lastmile.core.idempotency import fingerprint
from tests.support.databases import TestDatabase
from tests.support.factories import TenantHandle


def _user_body() -> dict[str, str]:
    return {"email": f"idem-{secrets.token_hex(4)}@example.com", "name": "I", "role": "viewer"}


def _count(t: TenantHandle, email: str) -> int:
    return len(t.get("/v1/users", params={"email": email}).json()["data"])


def test_same_key_and_body_replays_the_first_response(tenant: TenantHandle) -> None:
    """A retried create returns the stored status and body with Idempotent-Replayed and creates nothing new."""
    body = _user_body()
    h = {"Idempotency-Key": secrets.token_hex(8)}
    first = tenant.post("/v1/users", json=body, headers=h)
    second = tenant.post("/v1/users", json=body, headers=h)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _count(tenant, body["email"]) == 1


def test_same_key_different_body_is_422(tenant: TenantHandle) -> None:
    """Reusing a key with another body is a 422 problem and stores nothing."""
    h = {"Idempotency-Key": secrets.token_hex(8)}
    assert tenant.post("/v1/users", json=_user_body(), headers=h).status_code == 201
    other = _user_body()
    r = tenant.post("/v1/users", json=other, headers=h)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "header.Idempotency-Key"
    assert _count(tenant, other["email"]) == 0


def test_keys_are_scoped_per_tenant(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    """The same key in another tenant is a new request and never replays the first tenant's response."""
    h = {"Idempotency-Key": "shared-" + secrets.token_hex(4)}
    body = _user_body()
    a = tenant.post("/v1/users", json=body, headers=h)
    b = other_tenant.post("/v1/users", json=body, headers=h)
    assert a.status_code == b.status_code == 201
    assert "idempotent-replayed" not in b.headers
    assert a.json()["id"] != b.json()["id"]


def test_failed_request_releases_the_key(tenant: TenantHandle) -> None:
    """A create that fails (409 email taken) does not pin the key: the corrected retry succeeds."""
    taken = {"email": tenant.admin_email, "name": "Dup", "role": "viewer"}
    h = {"Idempotency-Key": secrets.token_hex(8)}
    assert tenant.post("/v1/users", json=taken, headers=h).status_code == 409
    # The same failing body again is evaluated again (not replayed from a stored 409).
    again = tenant.post("/v1/users", json=taken, headers=h)
    assert again.status_code == 409 and "idempotent-replayed" not in again.headers


def test_invalid_key_is_refused(tenant: TenantHandle) -> None:
    """A key longer than 255 characters or with spaces is a 422 naming the header."""
    for key in ("x" * 256, "has space"):
        r = tenant.post("/v1/users", json=_user_body(), headers={"Idempotency-Key": key})
        assert r.status_code == 422, key
        assert "Idempotency-Key" in json.dumps(r.json())


@pytest.fixture
def fake_clock() -> Iterator[list[datetime]]:
    now = [datetime.now(UTC)]
    clock.set_clock(lambda: now[0])
    try:
        yield now
    finally:
        clock.set_clock(None)


def test_keys_expire_after_24_hours(tenant: TenantHandle, fake_clock: list[datetime]) -> None:
    """After 24 h a key is forgotten: reusing it with another body creates a new object."""
    h = {"Idempotency-Key": secrets.token_hex(8)}
    assert tenant.post("/v1/users", json=_user_body(), headers=h).status_code == 201
    fake_clock[0] += timedelta(hours=23)
    assert tenant.post("/v1/users", json=_user_body(), headers=h).status_code == 422
    fake_clock[0] += timedelta(hours=1, seconds=1)
    r = tenant.post("/v1/users", json=_user_body(), headers=h)
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers


def test_in_flight_duplicate_is_409(tenant: TenantHandle, database: TestDatabase) -> None:
    """While the first request with a key is still running, a duplicate gets 409 with Retry-After."""
    body = json.dumps(_user_body()).encode()
    key = secrets.token_hex(8)
    engine = create_engine(sync_url(database.admin_url))
    with engine.begin() as conn:  # the first request's claim, as it exists while it runs
        conn.execute(
            text(
                "insert into idempotency_keys (id, tenant_id, key, fingerprint, state, "
                "created_at, locked_at) values (:id, :t, :k, :f, 'in_progress', :now, :now)"
            ),
            {
                "id": "idk_" + key,
                "t": tenant.id,
                "k": key,
                "f": fingerprint("POST", "/v1/users", body),
                "now": datetime.now(UTC),
            },
        )
    engine.dispose()
    r = tenant.post(
        "/v1/users",
        content=body,
        headers={"Idempotency-Key": key, "Content-Type": "application/json"},
    )
    assert r.status_code == 409
    assert r.headers["retry-after"] == "1"
    assert r.json()["type"] == "/problems/idempotency-key-in-use"


def test_twenty_concurrent_identical_requests_create_one_row(
    tenant: TenantHandle, server: str
) -> None:
    """20 simultaneous identical creates make exactly one user; the others replay it or get 409."""
    body = _user_body()
    h = {**tenant.headers(), "Idempotency-Key": secrets.token_hex(8)}

    def send(_: int) -> httpx.Response:
        with httpx.Client(base_url=server, timeout=30) as c:
            return c.post("/v1/users", json=body, headers=h)

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(send, range(20)))
    codes = sorted(r.status_code for r in responses)
    assert set(codes) <= {201, 409}, codes
    created = [r.json() for r in responses if r.status_code == 201]
    assert created and all(c == created[0] for c in created)
    assert _count(tenant, body["email"]) == 1


def test_every_creating_post_takes_an_idempotency_key(client: httpx.Client) -> None:
    """Each POST that creates (201/202) documents Idempotency-Key; only the platform's tenant
    creation, which has no tenant to scope keys to, is exempt."""
    schema = client.get("/openapi.json").json()
    missing = [
        path
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method == "post"
        and {"201", "202"} & set(op["responses"])
        and not any(p.get("name") == "Idempotency-Key" for p in op.get("parameters", []))
    ]
    assert missing == ["/v1/tenants"]
