"""The interactive API docs at /docs render in a real browser without leaving the machine."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Request, Route, sync_playwright

CHROMIUM = Path(os.environ.get("LASTMILE_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_SCHEMES = ("data", "blob", "about")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or parts.hostname == "127.0.0.1"


def test_docs_page_renders_every_operation_offline(server: str, client: httpx.Client) -> None:
    """Swagger UI, served by lastmile itself, lists every operation; no request leaves 127.0.0.1."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run `make install` (installs chromium)"
    schema = client.get("/openapi.json").json()
    operations = sum(1 for item in schema["paths"].values() for m in item if m in METHODS)
    seen: list[str] = []
    outside: list[str] = []
    failed: list[str] = []

    def guard(route: Route) -> None:
        if _is_local(route.request.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    def on_request(request: Request) -> None:
        seen.append(request.url)
        if not _is_local(request.url):
            outside.append(request.url)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(service_workers="block")
            context.route("**/*", guard)
            page = context.new_page()
            page.on("request", on_request)
            page.on("requestfailed", lambda r: failed.append(f"{r.url} {r.failure}"))
            page.on(
                "response",
                lambda r: failed.append(f"{r.url} {r.status}") if r.status >= 400 else None,
            )
            response = page.goto(f"{server}/docs", wait_until="networkidle", timeout=30_000)
            assert response is not None and response.status == 200
            page.wait_for_selector(".opblock", timeout=30_000)
            text = page.inner_text("#swagger-ui")
            rendered = page.locator(".opblock").count()
            title = page.inner_text(".info .title")
        finally:
            browser.close()

    assert "/v1/users" in text and "/v1/api-keys" in text, text[:2000]
    assert title.startswith("lastmile"), title
    assert rendered == operations, f"{rendered} operations rendered, {operations} in the schema"
    assert any(u.startswith(f"{server}/docs/assets/swagger-ui-bundle.js") for u in seen), seen
    assert f"{server}/openapi.json" in seen, seen
    assert not outside, f"the docs page reached beyond 127.0.0.1: {outside}"
    assert not failed, f"requests failed: {failed}"
