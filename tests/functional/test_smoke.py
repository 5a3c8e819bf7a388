"""The server answers on both databases."""

from tests.support.factories import TenantHandle


def test_me_identifies_the_api_key(tenant: TenantHandle) -> None:
    """An admin key of a new tenant authenticates as that tenant's admin."""
    r = tenant.get("/v1/me")
    assert r.status_code == 200
    assert r.json()["tenant_id"] == tenant.id
    assert r.json()["role"] == "admin"
