"""Headless Chromium for page tests, kept on 127.0.0.1: every request is recorded and any that
would leave the machine is aborted and reported."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Page, Request, Route, sync_playwright

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


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or parts.hostname == "127.0.0.1"


@dataclass
class Visit:
    """A page and what it asked for: every URL, those that would have left 127.0.0.1, and
    console errors, page errors and failed or 4xx/5xx requests."""

    page: Page
    seen: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@contextmanager
def local_page(**context: Any) -> Iterator[Visit]:
    """A fresh page in headless Chromium whose requests may only reach 127.0.0.1."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run `make install` (installs chromium)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            ctx = browser.new_context(service_workers="block", **context)
            page = ctx.new_page()
            visit = Visit(page)

            def guard(route: Route) -> None:
                if is_local(route.request.url):
                    route.continue_()
                else:
                    visit.outside.append(route.request.url)
                    route.abort()

            def on_request(request: Request) -> None:
                visit.seen.append(request.url)

            ctx.route("**/*", guard)
            page.on("request", on_request)
            page.on(
                "console", lambda m: visit.problems.append(m.text) if m.type == "error" else None
            )
            page.on("pageerror", lambda e: visit.problems.append(str(e)))
            page.on("requestfailed", lambda r: visit.problems.append(f"{r.url} {r.failure}"))
            page.on(
                "response",
                lambda r: visit.problems.append(f"{r.url} {r.status}") if r.status >= 400 else None,
            )
            yield visit
        finally:
            browser.close()
