"""Build tenants, users and keys through the public API."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.env import PLATFORM_TOKEN

PASSWORD = "correct-horse-battery"


@dataclass
class TenantHandle:
    """A tenant made for one test: its id, admin login and an admin API key."""

    id: str
    admin_email: str
    admin_user_id: str
    api_key: str
    client: httpx.Client
    extra: dict[str, Any] = field(default_factory=dict)

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.api_key}"}

    def get(self, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
        return self.client.get(path, headers={**self.headers(key), **kw.pop("headers", {})}, **kw)

    def post(self, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
        return self.client.post(path, headers={**self.headers(key), **kw.pop("headers", {})}, **kw)

    def patch(self, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
        return self.client.patch(path, headers={**self.headers(key), **kw.pop("headers", {})}, **kw)

    def request(self, method: str, path: str, key: str | None = None, **kw: Any) -> httpx.Response:
        return self.client.request(
            method, path, headers={**self.headers(key), **kw.pop("headers", {})}, **kw
        )

    def user(self, role: str, password: str | None = PASSWORD) -> dict[str, Any]:
        """A new user of this tenant with the role; returns the API's view of it."""
        body: dict[str, Any] = {
            "email": f"{role}-{secrets.token_hex(4)}@example.com",
            "name": role.title(),
            "role": role,
        }
        if password:
            body["password"] = password
        r = self.post("/v1/users", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def key(self, role: str = "admin", scopes: list[str] | None = None) -> str:
        """A new API key of this tenant with the role and scopes; returns the secret."""
        r = self.post(
            "/v1/api-keys", json={"name": f"{role} key", "role": role, "scopes": scopes or ["*"]}
        )
        assert r.status_code == 201, r.text
        return str(r.json()["key"])

    def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        r = self.client.post(
            "/v1/auth/login", json={"email": email, "password": password, "tenant_id": self.id}
        )
        assert r.status_code == 200, r.text
        return dict(r.json())


def make_tenant(client: httpx.Client, name: str = "Test tenant") -> TenantHandle:
    email = f"admin-{secrets.token_hex(4)}@example.com"
    r = client.post(
        "/v1/tenants",
        json={"name": name, "admin_email": email, "admin_password": PASSWORD},
        headers={"Authorization": f"Bearer {PLATFORM_TOKEN}"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return TenantHandle(
        body["tenant"]["id"], email, body["admin_user"]["id"], body["api_key"]["key"], client
    )
