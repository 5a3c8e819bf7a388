"""API conventions: problem+json errors, input hygiene, body limits, pagination, request ids,
per-tenant rate limits."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from lastmile.api.app import create_app
from lastmile.core.metrics import POOLS
from tests.conftest import settings_for
from tests.support.databases import TestDatabase
from tests.support.factories import TenantHandle, make_tenant
from tests.support.server import LiveServer

PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "request_id"}


def _problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body.keys() >= PROBLEM_FIELDS
    assert body["status"] == status
    return body


def _fields(r: httpx.Response) -> set[str]:
    return {e["field"] for e in r.json()["errors"]}


def _user_body(role: str = "viewer", **extra: Any) -> dict[str, Any]:
    email = f"{role}-{secrets.token_hex(4)}@example.com"
    return {"email": email, "name": role.title(), "role": role, **extra}


def _bad_user_body(**bad: Any) -> dict[str, Any]:
    return {**_user_body(), **bad}


def _emails(t: TenantHandle, email: str) -> list[dict[str, Any]]:
    r = t.get("/v1/users", params={"email": email})
    assert r.status_code == 200, r.text
    return list(r.json()["data"])


# --- malformed and invalid input --------------------------------------------------------------


def test_malformed_json_is_a_400_problem(tenant: TenantHandle) -> None:
    """A body that is not JSON gets 400 application/problem+json, not 422 or 500."""
    r = tenant.post(
        "/v1/users",
        content=b'{"email": "a@example.com", ',
        headers={"Content-Type": "application/json"},
    )
    body = _problem(r, 400)
    assert body["type"] == "/problems/malformed-json"


def test_wrong_types_are_a_422_naming_the_field(tenant: TenantHandle) -> None:
    """A value of the wrong type is a 422 whose errors list names body.<field>."""
    r = tenant.post("/v1/users", json=_bad_user_body(role=5))
    body = _problem(r, 422)
    assert body["type"] == "/problems/validation-error"
    assert _fields(r) == {"body.role"}
    r = tenant.post("/v1/users", json=_bad_user_body(name=["not", "a", "string"]))
    _problem(r, 422)
    assert _fields(r) == {"body.name"}


def test_unknown_fields_are_refused(tenant: TenantHandle) -> None:
    """An unknown field on create is a 422 naming it, and nothing is created."""
    body = _user_body(is_superuser=True)
    r = tenant.post("/v1/users", json=body)
    _problem(r, 422)
    assert _fields(r) == {"body.is_superuser"}
    assert _emails(tenant, body["email"]) == []


def test_nul_bytes_in_json_strings_are_refused_and_not_stored(tenant: TenantHandle) -> None:
    """A JSON string holding \\u0000 is a 4xx problem (never 500) and stores nothing."""
    body = _user_body(name="bad\u0000name")
    r = tenant.post("/v1/users", json=body)
    assert b"\\u0000" in r.request.content
    _problem(r, 422)
    assert _fields(r) == {"body.name"}
    assert _emails(tenant, body["email"]) == []

    user = tenant.user("viewer")
    r = tenant.patch(f"/v1/users/{user['id']}", json={"name": "x\u0000"})
    _problem(r, 422)
    assert tenant.get(f"/v1/users/{user['id']}").json()["name"] == "Viewer"

    r = tenant.post("/v1/api-keys", json={"name": "k\u0000", "role": "viewer"})
    assert 400 <= r.status_code < 500, r.text
    r = tenant.client.post(
        "/v1/auth/login", json={"email": tenant.admin_email, "password": "pw\u0000"}
    )
    assert 400 <= r.status_code < 500, r.text


def test_nul_bytes_in_the_url_are_a_400(tenant: TenantHandle) -> None:
    """%00 in a query parameter or the path is a 400 problem."""
    _problem(tenant.get("/v1/users?email=a%00b@example.com"), 400)
    _problem(tenant.get("/v1/users/usr_%00"), 400)


def test_oversized_body_with_content_length_is_413(tenant: TenantHandle) -> None:
    """A body over LASTMILE_MAX_BODY_BYTES announced by Content-Length is a 413 problem."""
    payload = json.dumps(_user_body(name="x" * (1024 * 1024 + 10))).encode()
    r = tenant.post("/v1/users", content=payload, headers={"Content-Type": "application/json"})
    assert r.request.headers["content-length"] == str(len(payload))
    body = _problem(r, 413)
    assert body["type"] == "/problems/payload-too-large"


def test_oversized_chunked_body_is_413(tenant: TenantHandle) -> None:
    """A streamed body without Content-Length is cut off at the limit with a 413 problem."""
    email = f"big-{secrets.token_hex(4)}@example.com"

    def chunks() -> Iterator[bytes]:
        yield b'{"email": "' + email.encode() + b'", "role": "viewer", "name": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    r = tenant.post("/v1/users", content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    _problem(r, 413)
    assert _emails(tenant, email) == []


def test_body_just_under_the_limit_is_accepted(tenant: TenantHandle) -> None:
    """The size limit does not refuse a normal body sent chunked."""
    body = _user_body()

    def chunks() -> Iterator[bytes]:
        yield json.dumps(body).encode()

    r = tenant.post("/v1/users", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text


# --- pagination and filters -------------------------------------------------------------------


def test_cursor_pagination_sees_every_user_once_newest_first(tenant: TenantHandle) -> None:
    """Following next_cursor with limit=2 visits every user once, newest first, then stops."""
    created = [tenant.user("driver")["id"] for _ in range(5)]
    expected = [*reversed(created), tenant.admin_user_id]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = tenant.get("/v1/users", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["data"]) <= 2
        seen += [u["id"] for u in page["data"]]
        cursor = page["next_cursor"]
        pages += 1
        assert pages <= 10, "pagination does not end"
        if cursor is None:
            break
    assert seen == expected
    assert pages == 3


def _b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        "abc",
        _b64("2024"),
        _b64([1, 2]),
        _b64(["yesterday", "usr_x"]),
        _b64(["2024-01-01T00:00:00", "usr_x"]),  # no timezone
    ],
    ids=["charset", "garbage", "not-a-pair", "numbers", "not-a-date", "naive-date"],
)
def test_invalid_cursor_is_a_422_naming_query_cursor(tenant: TenantHandle, cursor: str) -> None:
    """A cursor this API did not issue is a 422 naming query.cursor (never a 500)."""
    r = tenant.get("/v1/users", params={"cursor": cursor})
    _problem(r, 422)
    assert "query.cursor" in _fields(r)


def test_filters_by_role_and_activity(tenant: TenantHandle) -> None:
    """role= and is_active= narrow the user list; an unknown role is a 422 naming query.role."""
    d1, d2 = tenant.user("driver"), tenant.user("driver")
    v = tenant.user("viewer")
    assert tenant.patch(f"/v1/users/{d2['id']}", json={"is_active": False}).status_code == 200

    def ids(**params: Any) -> set[str]:
        r = tenant.get("/v1/users", params=params)
        assert r.status_code == 200, r.text
        return {u["id"] for u in r.json()["data"]}

    assert ids(role="driver") == {d1["id"], d2["id"]}
    assert ids(role="viewer") == {v["id"]}
    assert ids(role="admin") == {tenant.admin_user_id}
    assert ids(is_active="false") == {d2["id"]}
    assert ids(role="driver", is_active="true") == {d1["id"]}
    assert ids(is_active="true") == {d1["id"], v["id"], tenant.admin_user_id}
    r = tenant.get("/v1/users", params={"role": "emperor"})
    _problem(r, 422)
    assert _fields(r) == {"query.role"}


# --- request ids and problem shape ------------------------------------------------------------


def test_every_response_carries_a_request_id(tenant: TenantHandle, client: httpx.Client) -> None:
    """Success, 404, 405, 401 and 422 responses all carry x-request-id; problems repeat it."""
    ok = tenant.get("/v1/me")
    assert ok.status_code == 200
    assert ok.headers["x-request-id"]
    cases = [
        (client.get("/no/such/path"), 404, "/no/such/path"),
        (tenant.request("DELETE", "/v1/me"), 405, "/v1/me"),
        (client.get("/v1/me"), 401, "/v1/me"),
        (tenant.post("/v1/users", json={}), 422, "/v1/users"),
        (tenant.get("/v1/users/usr_missing"), 404, "/v1/users/usr_missing"),
    ]
    ids = {ok.headers["x-request-id"]}
    for r, status, path in cases:
        body = _problem(r, status)
        assert r.headers["x-request-id"]
        assert body["request_id"] == r.headers["x-request-id"]
        assert body["instance"] == path
        assert body["type"].startswith("/problems/")
        assert body["title"]
        assert isinstance(body["detail"], str)
        ids.add(r.headers["x-request-id"])
    assert len(ids) == len(cases) + 1, "request ids must differ per request"


def test_sane_incoming_request_id_is_echoed(tenant: TenantHandle, client: httpx.Client) -> None:
    """A well-formed X-Request-ID is echoed in the header and in problem bodies."""
    rid = "trace-" + secrets.token_hex(6) + ":1.2_A"
    ok = tenant.get("/v1/me", headers={"X-Request-ID": rid})
    assert ok.headers["x-request-id"] == rid
    r = client.get("/v1/me", headers={"X-Request-ID": rid})
    assert _problem(r, 401)["request_id"] == rid
    assert r.headers["x-request-id"] == rid


@pytest.mark.parametrize("rid", ["has spaces in it", "x" * 65, "semi;colon", "<script>"])
def test_unsafe_incoming_request_id_is_replaced(client: httpx.Client, rid: str) -> None:
    """An X-Request-ID that is too long or has odd characters is replaced by a fresh one."""
    r = client.get("/healthz", headers={"X-Request-ID": rid})
    assert r.status_code == 200
    assert r.headers["x-request-id"]
    assert r.headers["x-request-id"] != rid


# --- rate limits ------------------------------------------------------------------------------


def _serve(settings_db: TestDatabase, **overrides: object) -> LiveServer:
    live = LiveServer(create_app(settings_for(settings_db, **overrides)))
    live.start()
    return live


@pytest.fixture(scope="module")
def limited_server(database: TestDatabase) -> Iterator[str]:
    """A second app on the same database with 1 request/s and a burst of 3 per tenant."""
    previous = POOLS.pools.get("main")
    live = _serve(database, rate_limit_per_second=1, rate_limit_burst=3)
    try:
        yield live.url
    finally:
        live.stop()
        if previous is not None:
            POOLS.pools["main"] = previous


def _burst(client: httpx.Client, t: TenantHandle, n: int) -> list[httpx.Response]:
    return [client.get("/v1/me", headers=t.headers()) for _ in range(n)]


def test_rate_limit_is_per_tenant_with_headers(limited_server: str) -> None:
    """After its burst a tenant gets 429 with Retry-After and RateLimit-*; another tenant does not."""
    with httpx.Client(base_url=limited_server, timeout=30) as c:
        a, b = make_tenant(c, "Limited A"), make_tenant(c, "Limited B")
        first = _burst(c, a, 4)
        assert [r.status_code for r in first[:3]] == [200, 200, 200]
        assert first[0].headers["ratelimit-limit"] == "3"
        assert first[0].headers["ratelimit-remaining"] == "2"
        assert "retry-after" not in first[0].headers
        refused = first[3]
        body = _problem(refused, 429)
        assert body["type"] == "/problems/rate-limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["ratelimit-limit"] == "3"
        assert refused.headers["ratelimit-remaining"] == "0"
        assert int(refused.headers["ratelimit-reset"]) >= 1
        assert refused.headers["x-request-id"]
        # Tenant B has its own bucket.
        other = b.get("/v1/me")
        assert other.status_code == 200, other.text
        assert other.headers["ratelimit-remaining"] == "2"


def test_rate_limit_buckets_are_shared_through_redis(database: TestDatabase) -> None:
    """Two app instances on one Redis draw from one bucket per tenant."""
    previous = POOLS.pools.get("main")
    opts: dict[str, object] = {
        "rate_limit_per_second": 1,
        "rate_limit_burst": 3,
        "redis_url": "redis://127.0.0.1:6379/15",
    }
    one, two = _serve(database, **opts), _serve(database, **opts)
    try:
        with (
            httpx.Client(base_url=one.url, timeout=30) as c1,
            httpx.Client(base_url=two.url, timeout=30) as c2,
        ):
            t = make_tenant(c1, "Shared bucket")
            codes = [c.get("/v1/me", headers=t.headers()).status_code for c in (c1, c2, c1, c2)]
            assert codes == [200, 200, 200, 429]
            assert c1.get("/v1/me", headers=t.headers()).status_code == 429
    finally:
        one.stop()
        two.stop()
        if previous is not None:
            POOLS.pools["main"] = previous


def test_timestamps_in_responses_are_utc(tenant: TenantHandle) -> None:
    """created_at/updated_at come back as ISO 8601 in UTC (Z or +00:00) on both backends."""
    user = tenant.user("viewer")
    again = tenant.get(f"/v1/users/{user['id']}").json()
    for body in (user, again):
        for field in ("created_at", "updated_at"):
            value = body[field]
            assert value.endswith(("Z", "+00:00")), value
    assert again["created_at"] == user["created_at"]
