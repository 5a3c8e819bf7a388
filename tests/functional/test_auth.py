"""Authentication and authorisation: login, token rotation, API keys, roles and scopes."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, pool, text

from lastmile.api.app import create_app
from lastmile.api.ratelimit import MemoryLimiter
from lastmile.core import clock
from lastmile.core.config import get_settings
from lastmile.core.db import sync_url
from lastmile.core.metrics import POOLS
from tests.conftest import settings_for
from tests.support.databases import TestDatabase
from tests.support.env import PLATFORM_TOKEN
from tests.support.factories import PASSWORD, TenantHandle
from tests.support.server import LiveServer

# Login and refresh share a per-IP limit of 10 attempts (1/s); every test here signs in from
# 127.0.0.1, so this module runs its own server and gives each test fresh buckets.


@pytest.fixture(scope="module")
def auth_app(database: TestDatabase) -> Iterator[FastAPI]:
    previous = POOLS.pools.get("main")
    app = create_app(settings_for(database))
    live = LiveServer(app)
    app.state.url = live.start()
    try:
        yield app
    finally:
        live.stop()
        if previous is not None:
            POOLS.pools["main"] = previous


@pytest.fixture(scope="module")
def server(auth_app: FastAPI) -> str:
    return str(auth_app.state.url)


@pytest.fixture(autouse=True)
def _fresh_login_buckets(auth_app: FastAPI) -> None:
    auth_app.state.limiter = MemoryLimiter()


@pytest.fixture
def shift_clock() -> Iterator[Callable[[timedelta], None]]:
    """Call with a timedelta to move the shared clock forward; restored afterwards."""

    def shift(delta: timedelta) -> None:
        clock.set_clock(lambda: datetime.now(UTC) + delta)

    try:
        yield shift
    finally:
        clock.set_clock(None)


def _is_problem(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _refresh(client: httpx.Client, token: str) -> httpx.Response:
    return client.post("/v1/auth/refresh", json={"refresh_token": token})


# --- login, refresh, logout -----------------------------------------------------------------


def test_login_returns_tokens_that_authenticate(tenant: TenantHandle) -> None:
    """Email + password give an access and a refresh token; the access token works on /v1/me."""
    tokens = tenant.login(tenant.admin_email)
    assert tokens["access_token"] and tokens["refresh_token"]
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] > 0
    r = tenant.client.get("/v1/me", headers=_bearer(tokens["access_token"]))
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["tenant_id"] == tenant.id
    assert me["actor_id"] == tenant.admin_user_id
    assert me["actor_kind"] == "user"
    assert me["role"] == "admin"


def test_refresh_token_is_not_an_access_token(tenant: TenantHandle) -> None:
    """A refresh token presented as a bearer credential is refused."""
    tokens = tenant.login(tenant.admin_email)
    r = tenant.client.get("/v1/me", headers=_bearer(tokens["refresh_token"]))
    _is_problem(r, 401)


def test_wrong_password_and_unknown_email_give_the_same_401(tenant: TenantHandle) -> None:
    """A wrong password and an unknown email produce identical 401 problems."""
    wrong = tenant.client.post(
        "/v1/auth/login",
        json={"email": tenant.admin_email, "password": "not-the-password", "tenant_id": tenant.id},
    )
    unknown = tenant.client.post(
        "/v1/auth/login",
        json={"email": "nobody-here@example.com", "password": PASSWORD, "tenant_id": tenant.id},
    )
    _is_problem(wrong, 401)
    _is_problem(unknown, 401)
    keys = ("type", "title", "status", "detail", "errors")
    assert {k: wrong.json()[k] for k in keys} == {k: unknown.json()[k] for k in keys}
    assert "access_token" not in wrong.text


def test_refresh_rotates_and_reuse_revokes_the_family(tenant: TenantHandle) -> None:
    """A used refresh token replayed is a 401 and revokes its family, including the newest token."""
    first = tenant.login(tenant.admin_email)
    r = _refresh(tenant.client, first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert tenant.client.get("/v1/me", headers=_bearer(second["access_token"])).status_code == 200

    _is_problem(_refresh(tenant.client, first["refresh_token"]), 401)
    # The thief's replay revoked the whole session: the legitimate newest token is dead too.
    _is_problem(_refresh(tenant.client, second["refresh_token"]), 401)


def test_reuse_does_not_revoke_other_sessions(tenant: TenantHandle) -> None:
    """Revoking one token family on reuse leaves another login of the same user working."""
    a = tenant.login(tenant.admin_email)
    b = tenant.login(tenant.admin_email)
    assert _refresh(tenant.client, a["refresh_token"]).status_code == 200
    _is_problem(_refresh(tenant.client, a["refresh_token"]), 401)
    assert _refresh(tenant.client, b["refresh_token"]).status_code == 200


def test_logout_revokes_the_refresh_token(tenant: TenantHandle) -> None:
    """After logout the session's refresh token no longer refreshes."""
    tokens = tenant.login(tenant.admin_email)
    r = tenant.client.post("/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 204, r.text
    _is_problem(_refresh(tenant.client, tokens["refresh_token"]), 401)


def test_expired_access_token_is_refused(
    tenant: TenantHandle, shift_clock: Callable[[timedelta], None]
) -> None:
    """An access token past its expiry gets 401 (time moved forward with the shared clock)."""
    tokens = tenant.login(tenant.admin_email)
    headers = _bearer(tokens["access_token"])
    assert tenant.client.get("/v1/me", headers=headers).status_code == 200
    shift_clock(timedelta(seconds=tokens["expires_in"] + 5))
    r = tenant.client.get("/v1/me", headers=headers)
    _is_problem(r, 401)
    assert r.headers["www-authenticate"].lower().startswith("bearer")


def test_deactivated_user_cannot_sign_in(tenant: TenantHandle) -> None:
    """A user set inactive gets the same 401 on login as a wrong password."""
    user = tenant.user("dispatcher")
    tenant.login(user["email"])
    assert tenant.patch(f"/v1/users/{user['id']}", json={"is_active": False}).status_code == 200
    r = tenant.client.post("/v1/auth/login", json={"email": user["email"], "password": PASSWORD})
    _is_problem(r, 401)


# --- API keys ---------------------------------------------------------------------------------


def _create_key(tenant: TenantHandle, **body: object) -> dict[str, object]:
    r = tenant.post("/v1/api-keys", json={"name": "k", "role": "admin", **body})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _stored_digest(database: TestDatabase, key_id: str) -> tuple[str, str]:
    engine = create_engine(sync_url(database.admin_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("select digest, prefix from api_keys where id = :i"), {"i": key_id}
            ).one()
            return str(row[0]), str(row[1])
    finally:
        engine.dispose()


def test_api_key_secret_is_shown_once_and_stored_as_sha256(
    tenant: TenantHandle, database: TestDatabase
) -> None:
    """Creation returns `key` once; reads and lists never do; the database holds its SHA-256."""
    created = _create_key(tenant)
    secret = str(created["key"])
    assert secret.startswith("lmk_")
    assert created["prefix"] == secret[:12]

    one = tenant.get(f"/v1/api-keys/{created['id']}")
    assert one.status_code == 200
    assert "key" not in one.json()
    assert one.json()["prefix"] == created["prefix"]
    listed = tenant.get("/v1/api-keys").json()["data"]
    assert created["id"] in {k["id"] for k in listed}
    assert all("key" not in k for k in listed)
    assert secret not in tenant.get("/v1/api-keys").text

    digest, prefix = _stored_digest(database, str(created["id"]))
    assert digest == hashlib.sha256(secret.encode()).hexdigest()
    assert prefix == secret[:12]
    assert tenant.get("/v1/me", key=secret).json()["actor_id"] == created["id"]


def test_revoked_key_is_refused_at_once(tenant: TenantHandle) -> None:
    """A revoked key gets 401 on its very next request."""
    created = _create_key(tenant)
    secret = str(created["key"])
    assert tenant.get("/v1/me", key=secret).status_code == 200
    r = tenant.post(f"/v1/api-keys/{created['id']}/revoke")
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] is not None
    _is_problem(tenant.get("/v1/me", key=secret), 401)
    assert created["id"] not in {k["id"] for k in tenant.get("/v1/api-keys").json()["data"]}
    revoked = tenant.get("/v1/api-keys", params={"include_revoked": "true"}).json()["data"]
    assert created["id"] in {k["id"] for k in revoked}


def test_key_revoked_elsewhere_stops_working_within_the_cache_time(
    tenant: TenantHandle, database: TestDatabase
) -> None:
    """A key revoked by another process (here: straight in the database) is refused once this
    process's memory of it expires: within LASTMILE_API_KEY_CACHE_SECONDS."""
    created = _create_key(tenant)
    secret = str(created["key"])
    assert tenant.get("/v1/me", key=secret).status_code == 200  # now remembered
    engine = create_engine(sync_url(database.admin_url), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("update api_keys set revoked_at = :t where id = :i"),
                {"t": datetime.now(UTC), "i": created["id"]},
            )
    finally:
        engine.dispose()
    revoked_at = time.monotonic()
    limit = get_settings().api_key_cache_seconds
    served_from_memory = 0
    while tenant.get("/v1/me", key=secret).status_code == 200:
        served_from_memory += 1
        assert time.monotonic() - revoked_at <= limit + 1, "revoked key still accepted"
        time.sleep(0.2)
    assert served_from_memory > 0 or limit == 0  # the memory did serve it until it expired
    _is_problem(tenant.get("/v1/me", key=secret), 401)


def test_last_used_at_is_set_after_use(tenant: TenantHandle) -> None:
    """A key's last_used_at is empty until it is used (even for a GET), then set."""
    created = _create_key(tenant)
    assert created["last_used_at"] is None
    before = datetime.now(UTC) - timedelta(seconds=5)
    assert tenant.get("/v1/me", key=str(created["key"])).status_code == 200
    used = tenant.get(f"/v1/api-keys/{created['id']}").json()["last_used_at"]
    assert used is not None
    assert datetime.fromisoformat(used.replace("Z", "+00:00")) >= before


def test_key_expiring_in_the_past_is_refused_at_creation(tenant: TenantHandle) -> None:
    """Creating a key whose expires_at has passed is a 422 naming body.expires_at."""
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    r = tenant.post("/v1/api-keys", json={"name": "old", "role": "admin", "expires_at": past})
    _is_problem(r, 422)
    assert "body.expires_at" in {e["field"] for e in r.json()["errors"]}


def test_key_with_naive_expires_at_is_a_422_not_a_500(tenant: TenantHandle) -> None:
    """An expires_at without a timezone is refused as invalid input."""
    future = (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None).isoformat()
    r = tenant.post("/v1/api-keys", json={"name": "naive", "role": "admin", "expires_at": future})
    _is_problem(r, 422)
    assert "body.expires_at" in {e["field"] for e in r.json()["errors"]}


def test_key_stops_working_when_it_expires(
    tenant: TenantHandle, shift_clock: Callable[[timedelta], None]
) -> None:
    """A key with a future expires_at works until then and gets 401 afterwards."""
    expires = datetime.now(UTC) + timedelta(minutes=10)
    created = _create_key(tenant, expires_at=expires.isoformat())
    secret = str(created["key"])
    assert tenant.get("/v1/me", key=secret).status_code == 200
    shift_clock(timedelta(minutes=11))
    _is_problem(tenant.get("/v1/me", key=secret), 401)


# --- roles and scopes -------------------------------------------------------------------------


def _new_user_body(role: str = "viewer") -> dict[str, str]:
    return {"email": f"{role}-{secrets.token_hex(4)}@example.com", "name": "N", "role": role}


def test_scoped_admin_key_can_read_but_not_write_users(tenant: TenantHandle) -> None:
    """An admin key with only users:read lists users but gets 403 creating one."""
    key = tenant.key("admin", ["users:read"])
    assert tenant.get("/v1/users", key=key).status_code == 200
    body = _new_user_body()
    _is_problem(tenant.post("/v1/users", key=key, json=body), 403)
    assert tenant.get("/v1/users", params={"email": body["email"]}).json()["data"] == []


def test_viewer_cannot_create_users(tenant: TenantHandle) -> None:
    """Viewers, by API key or by login, get 403 on POST /v1/users and may still list users."""
    viewer_key = tenant.key("viewer")
    viewer = tenant.user("viewer")
    token = tenant.login(viewer["email"])["access_token"]
    for cred in (viewer_key, token):
        assert tenant.get("/v1/users", key=cred).status_code == 200
        _is_problem(tenant.post("/v1/users", key=cred, json=_new_user_body()), 403)


def test_driver_cannot_reach_users_or_api_keys(tenant: TenantHandle) -> None:
    """Drivers get 403 on /v1/users and /v1/api-keys (by key and by login)."""
    driver = tenant.user("driver")
    token = tenant.login(driver["email"])["access_token"]
    for cred in (tenant.key("driver"), token):
        assert tenant.get("/v1/me", key=cred).status_code == 200
        _is_problem(tenant.get("/v1/users", key=cred), 403)
        _is_problem(tenant.get(f"/v1/users/{tenant.admin_user_id}", key=cred), 403)
        _is_problem(tenant.get("/v1/api-keys", key=cred), 403)
        _is_problem(
            tenant.post("/v1/api-keys", key=cred, json={"name": "x", "role": "driver"}), 403
        )


def test_dispatcher_cannot_create_api_keys(tenant: TenantHandle) -> None:
    """A dispatcher (key or login) gets 403 creating an API key, even of its own role."""
    dispatcher = tenant.user("dispatcher")
    token = tenant.login(dispatcher["email"])["access_token"]
    for cred in (tenant.key("dispatcher"), token):
        r = tenant.post("/v1/api-keys", key=cred, json={"name": "x", "role": "dispatcher"})
        _is_problem(r, 403)


def test_tenant_creation_requires_the_platform_token(client: httpx.Client) -> None:
    """POST /v1/tenants without or with a wrong platform token is a 401 and creates nothing."""
    body = {"name": "Sneaky", "admin_email": "sneaky@example.com", "admin_password": PASSWORD}
    for headers in ({}, _bearer("wrong-" + PLATFORM_TOKEN), _bearer(PLATFORM_TOKEN[:-1])):
        _is_problem(client.post("/v1/tenants", json=body, headers=headers), 401)
    r = client.post("/v1/auth/login", json={"email": body["admin_email"], "password": PASSWORD})
    _is_problem(r, 401)


def test_tenant_api_key_is_not_a_platform_token(tenant: TenantHandle) -> None:
    """A tenant's admin API key cannot create tenants."""
    body = {"name": "Escalation", "admin_email": "esc@example.com"}
    _is_problem(tenant.post("/v1/tenants", json=body), 401)
