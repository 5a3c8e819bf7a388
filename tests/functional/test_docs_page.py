"""The interactive API docs at /docs render in a real browser without leaving the machine."""

from __future__ import annotations

import httpx

from tests.support.browser import local_page

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def test_docs_page_renders_every_operation_offline(server: str, client: httpx.Client) -> None:
    """Swagger UI, served by lastmile itself, lists every operation; no request leaves 127.0.0.1."""
    schema = client.get("/openapi.json").json()
    operations = sum(1 for item in schema["paths"].values() for m in item if m in METHODS)
    with local_page() as visit:
        page = visit.page
        response = page.goto(f"{server}/docs", wait_until="networkidle", timeout=30_000)
        assert response is not None and response.status == 200
        page.wait_for_selector(".opblock", timeout=30_000)
        text = page.inner_text("#swagger-ui")
        rendered = page.locator(".opblock").count()
        title = page.inner_text(".info .title")

    assert "/v1/users" in text and "/v1/api-keys" in text, text[:2000]
    assert title.startswith("lastmile"), title
    assert rendered == operations, f"{rendered} operations rendered, {operations} in the schema"
    seen = visit.seen
    assert any(u.startswith(f"{server}/docs/assets/swagger-ui-bundle.js") for u in seen), seen
    assert f"{server}/openapi.json" in seen, seen
    assert not visit.outside, f"the docs page reached beyond 127.0.0.1: {visit.outside}"
    assert not visit.problems, f"requests failed: {visit.problems}"
