"""Observability: Prometheus metrics, health and readiness probes, structured JSON logs."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lastmile.api.app import create_app
from lastmile.core.config import Settings
from lastmile.core.metrics import POOLS
from tests.support.databases import create_sqlite
from tests.support.env import PLATFORM_TOKEN
from tests.support.factories import TenantHandle
from tests.support.server import LiveServer

Sample = tuple[str, dict[str, str], float]


def _scrape(client: httpx.Client) -> tuple[str, list[Sample]]:
    r = client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    samples = [
        (s.name, dict(s.labels), float(s.value))
        for fam in text_string_to_metric_families(r.text)
        for s in fam.samples
    ]
    return r.text, samples


def test_latency_histogram_is_labelled_by_route_template(
    tenant: TenantHandle, client: httpx.Client
) -> None:
    """Request latency is a histogram with 0.5 s and 2 s buckets per route template, never raw ids."""
    user = tenant.user("viewer")
    assert tenant.get(f"/v1/users/{user['id']}").status_code == 200
    missing = "usr_" + secrets.token_hex(8)
    assert tenant.get(f"/v1/users/{missing}").status_code == 404
    stray = "stray-" + secrets.token_hex(6)
    assert client.get(f"/no/such/{stray}").status_code == 404

    text, samples = _scrape(client)
    buckets = {
        s[1]["le"]
        for s in samples
        if s[0] == "lastmile_http_request_duration_seconds_bucket"
        and s[1].get("route") == "/v1/users/{user_id}"
        and s[1].get("method") == "GET"
    }
    assert {"0.5", "2.0", "+Inf"} <= buckets
    count = [
        s[2]
        for s in samples
        if s[0] == "lastmile_http_request_duration_seconds_count"
        and s[1] == {"method": "GET", "route": "/v1/users/{user_id}"}
    ]
    assert count and count[0] >= 2
    statuses = {
        s[1]["status"]
        for s in samples
        if s[0] == "lastmile_http_requests_total" and s[1].get("route") == "/v1/users/{user_id}"
    }
    assert {"200", "404"} <= statuses
    for raw in (user["id"], missing, stray, tenant.id):
        assert raw not in text
    routes = {s[1]["route"] for s in samples if "route" in s[1]}
    assert all(not r.startswith("/no/") for r in routes)


def test_in_flight_and_pool_gauges_exist(client: httpx.Client) -> None:
    """The in-flight gauge counts the scrape itself and the DB pool gauges report the main pool."""
    _, samples = _scrape(client)
    by_name: dict[str, list[Sample]] = {}
    for s in samples:
        by_name.setdefault(s[0], []).append(s)
    in_flight = by_name["lastmile_http_requests_in_flight"]
    assert in_flight[0][2] >= 1
    for name in (
        "lastmile_db_pool_size",
        "lastmile_db_pool_checked_out",
        "lastmile_db_pool_overflow",
    ):
        main = [s for s in by_name.get(name, []) if s[1] == {"pool": "main"}]
        assert main, f"{name} has no sample for the main pool"
    size = next(s for s in by_name["lastmile_db_pool_size"] if s[1] == {"pool": "main"})
    assert size[2] >= 1


def test_healthz_and_readyz_on_a_migrated_database(client: httpx.Client) -> None:
    """/healthz is 200, and /readyz is 200 with the schema at the migration head."""
    h = client.get("/healthz")
    assert h.status_code == 200
    assert h.json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ok", "database": "ok", "migrations": "current"}


@pytest.fixture
def unmigrated_server(tmp_path: Path) -> Iterator[str]:
    previous = POOLS.pools.get("main")
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    live = LiveServer(create_app(Settings(database_url=url, database_admin_url=url)))
    try:
        yield live.start()
    finally:
        live.stop()
        if previous is not None:
            POOLS.pools["main"] = previous


def test_readyz_is_503_on_an_unmigrated_database(unmigrated_server: str) -> None:
    """An app on an empty SQLite file is alive (/healthz 200) but not ready (/readyz 503)."""
    with httpx.Client(base_url=unmigrated_server, timeout=30) as c:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503, r.text
        assert r.json()["status"] == "unavailable"
        assert r.json()["database"] != "ok" or r.json()["migrations"] != "current"


# --- logs -------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _log_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def test_access_log_lines_are_json_with_request_tenant_and_route(tmp_path: Path) -> None:
    """`lastmile serve` logs one JSON line per request with request_id, tenant_id and route."""
    db = create_sqlite(tmp_path)
    port = _free_port()
    env = {
        **os.environ,
        "LASTMILE_DATABASE_URL": db.url,
        "LASTMILE_LOG_LEVEL": "INFO",
        "LASTMILE_LOG_JSON": "true",
    }
    env.pop("LASTMILE_DATABASE_ADMIN_URL", None)
    stderr = tmp_path / "stderr.log"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lastmile.cli.main", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        with httpx.Client(base_url=base, timeout=10) as c:
            while True:
                try:
                    if c.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, stderr.read_text()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
            r = c.post(
                "/v1/tenants",
                json={"name": "Logged", "admin_email": "log@example.com"},
                headers={"Authorization": f"Bearer {PLATFORM_TOKEN}"},
            )
            assert r.status_code == 201, r.text
            tenant_id, key = r.json()["tenant"]["id"], r.json()["api_key"]["key"]
            user_id = r.json()["admin_user"]["id"]
            authed = "log-authed-" + secrets.token_hex(4)
            anon = "log-anon-" + secrets.token_hex(4)
            ok = c.get(
                f"/v1/users/{user_id}",
                headers={"Authorization": f"Bearer {key}", "X-Request-ID": authed},
            )
            assert ok.status_code == 200, ok.text
            assert c.get("/v1/me", headers={"X-Request-ID": anon}).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=15)

    lines = _log_lines(stderr)
    by_rid = {line.get("request_id"): line for line in lines if line.get("event") == "request"}
    assert authed in by_rid, stderr.read_text()[-2000:]
    line = by_rid[authed]
    assert line["tenant_id"] == tenant_id
    assert line["route"] == "/v1/users/{user_id}"
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert line["level"] == "info"
    assert "timestamp" in line
    # The next request's line carries its own id and no tenant left over from another request.
    other = by_rid[anon]
    assert other["route"] == "/v1/me"
    assert other["status"] == 401
    assert "tenant_id" not in other
