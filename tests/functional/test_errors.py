"""Unexpected errors still answer problem+json with the request id, and never leak details."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from lastmile.api.app import create_app
from tests.conftest import settings_for
from tests.support.databases import TestDatabase
from tests.support.server import LiveServer


@pytest.fixture
def crashing_server(database: TestDatabase) -> Iterator[str]:
    app = create_app(settings_for(database, embedded_worker=False))

    @app.get("/boom", include_in_schema=False)
    async def boom() -> None:
        raise RuntimeError("secret internals")

    live = LiveServer(app)
    try:
        yield live.start()
    finally:
        live.stop()


def test_unhandled_error_is_a_problem_with_request_id(crashing_server: str) -> None:
    """A bug answers 500 problem+json carrying the request id, without the exception text."""
    r = httpx.get(f"{crashing_server}/boom", headers={"X-Request-ID": "trace-123"})
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["x-request-id"] == "trace-123"
    assert r.json()["request_id"] == "trace-123"
    assert "secret internals" not in r.text


def test_the_connection_survives_an_unhandled_error(crashing_server: str) -> None:
    """After a 500 the server keeps the connection: the client's next request on it works."""
    with httpx.Client(base_url=crashing_server) as client:
        for _ in range(3):
            assert client.get("/boom").status_code == 500
            assert client.get("/healthz").status_code == 200
