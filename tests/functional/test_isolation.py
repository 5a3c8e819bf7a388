"""Tenant isolation and role checks over every endpoint in the OpenAPI schema."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.support.factories import TenantHandle
from tests.support.objects import BODIES, DRIVER_ALLOWED, FACTORIES, VIEWER_WRITES_ALLOWED

# Operations outside tenant auth: the platform operator's and the sign-in ones.
PLATFORM = {("post", "/v1/tenants"), ("get", "/v1/tenants/{tenant_id}")}
PUBLIC = {
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/refresh"),
    ("post", "/v1/auth/logout"),
    ("get", "/v1/files/{token}"),
    ("get", "/v1/tracking-links/{link_token}"),
}
# Signed URLs are bearer capabilities: whoever holds a valid one may fetch the file, whatever
# tenant they belong to (expired or tampered tokens are 404s: tests/functional/test_storage.py).
# So are recipients' tracking links (tests/functional/test_tracking_links.py).
CAPABILITY = {("get", "/v1/files/{token}"), ("get", "/v1/tracking-links/{link_token}")}
METHODS = ("get", "post", "put", "patch", "delete")


def operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (m, p)
        for p, item in schema["paths"].items()
        for m in item
        if m in METHODS and p.startswith("/v1/")
    ]


def path_params(path: str) -> list[str]:
    return re.findall(r"{(\w+)}", path)


@pytest.fixture
def schema(client: httpx.Client) -> dict[str, Any]:
    return dict(client.get("/openapi.json").json())


def test_every_path_id_has_a_factory(schema: dict[str, Any]) -> None:
    """Each id in a path has a factory, so no endpoint escapes the isolation suite."""
    missing = {p for _, path in operations(schema) for p in path_params(path)} - FACTORIES.keys()
    assert not missing, f"add factories for {missing} in {__file__}"


def test_other_tenant_gets_404_on_every_object_endpoint(
    schema: dict[str, Any], tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    """A caller of tenant B gets 404 for tenant A's objects with every method, and A's object is unchanged."""
    checked = 0
    for method, path in operations(schema):
        params = path_params(path)
        if not params or (method, path) in CAPABILITY:
            continue
        ids = {p: FACTORIES[p](tenant) for p in params}
        url = path.format(**ids)
        before = (
            tenant.get(url).json()
            if (("get", path) in set(operations(schema)) and (("get", path) not in PLATFORM))
            else None
        )
        body = BODIES.get((method, path))
        r = other_tenant.request(method.upper(), url, json=body if body is not None else None)
        if (method, path) in PLATFORM:
            assert r.status_code == 401, (method, path, r.status_code, r.text)
        else:
            assert r.status_code == 404, (method, path, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        if before is not None and method != "get":
            assert tenant.get(url).json() == before, (method, path)
        checked += 1
    assert checked >= 5


def test_lists_never_show_another_tenants_rows(
    schema: dict[str, Any], tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    """Every list endpoint of tenant B omits every object of tenant A."""
    a_ids = {name: make(tenant) for name, make in FACTORIES.items() if name != "tenant_id"}
    a_ids["admin"] = tenant.admin_user_id
    lists = [p for m, p in operations(schema) if m == "get" and not path_params(p)]
    assert "/v1/users" in lists and "/v1/api-keys" in lists
    for path in lists:
        mine = tenant.get(path).text
        theirs = other_tenant.get(path).text
        for name, obj_id in a_ids.items():
            assert obj_id not in theirs, (path, name)
        assert other_tenant.id not in mine


def _token_for(t: TenantHandle, role: str) -> list[str]:
    """An access token of a user with the role, and an API key with the role."""
    user = t.user(role)
    return [t.login(user["email"])["access_token"], t.key(role)]


def test_driver_gets_403_outside_its_endpoints(
    schema: dict[str, Any], tenant: TenantHandle
) -> None:
    """A driver (user token or key) is refused with 403 on every tenant endpoint not meant for drivers."""
    ids = {p: FACTORIES[p](tenant) for p in FACTORIES}
    for token in _token_for(tenant, "driver"):
        for method, path in operations(schema):
            if (method, path) in PLATFORM | PUBLIC | DRIVER_ALLOWED:
                continue
            r = tenant.request(
                method.upper(),
                path.format(**ids),
                key=token,
                json=BODIES.get((method, path), {}) if method != "get" else None,
            )
            assert r.status_code == 403, (method, path, r.status_code, r.text)


def test_viewer_cannot_write(schema: dict[str, Any], tenant: TenantHandle) -> None:
    """A viewer is refused with 403 on every writing tenant endpoint."""
    ids = {p: FACTORIES[p](tenant) for p in FACTORIES}
    for token in _token_for(tenant, "viewer"):
        for method, path in operations(schema):
            if method == "get" or (method, path) in PLATFORM | PUBLIC | VIEWER_WRITES_ALLOWED:
                continue
            r = tenant.request(
                method.upper(), path.format(**ids), key=token, json=BODIES.get((method, path), {})
            )
            assert r.status_code == 403, (method, path, r.status_code, r.text)


def test_tenant_endpoints_need_credentials(schema: dict[str, Any], client: httpx.Client) -> None:
    """Without a token, or with a forged one, every tenant endpoint answers 401."""
    for method, path in operations(schema):
        if (method, path) in PUBLIC:
            continue
        url = path.format(**{p: "x_unknown" for p in path_params(path)})
        for headers in (
            {},
            {"Authorization": "Bearer lmk_forged"},
            {"Authorization": "Bearer not.a.jwt"},
        ):
            r = client.request(
                method.upper(), url, headers=headers, json={} if method != "get" else None
            )
            assert r.status_code == 401, (method, path, headers, r.status_code)
