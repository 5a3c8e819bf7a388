"""Two `lastmile serve` processes sharing PostgreSQL and Redis: what happens through one
reaches a live feed opened on the other."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.functional.test_stream import events_until, open_stream, receive
from tests.support.databases import TestDatabase
from tests.support.factories import TenantHandle
from tests.support.fleetkit import ok

REDIS_URL = os.environ.get("LASTMILE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def two_servers(database: TestDatabase, tmp_path: Path) -> Iterator[list[str]]:
    if database.backend != "postgres":
        pytest.skip("several processes share one database: PostgreSQL")
    env = {
        **os.environ,
        "LASTMILE_DATABASE_URL": database.url,
        "LASTMILE_REDIS_URL": REDIS_URL,
        "LASTMILE_PLANNER_WARM": "false",
        "LASTMILE_LOG_LEVEL": "WARNING",
    }
    env.pop("LASTMILE_DATABASE_ADMIN_URL", None)
    procs, urls = [], []
    for n in range(2):
        port = _free_port()
        with (tmp_path / f"serve{n}.log").open("wb") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "lastmile.cli.main", "serve", "--port", str(port)],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for proc, url in zip(procs, urls, strict=True):
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert proc.poll() is None, (tmp_path / "serve0.log").read_text()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_an_event_from_one_process_reaches_a_stream_on_the_other(
    two_servers: list[str], tenant: TenantHandle
) -> None:
    first, second = two_servers
    key = tenant.key("admin")
    headers = {"Authorization": f"Bearer {key}"}
    with open_stream(second, key) as ws:
        assert receive(ws)["type"] == "hello"
        r = httpx.post(
            f"{first}/v1/tasks",
            json={"kind": "dropoff", "lat": 52.5, "lng": 13.4},
            headers=headers,
        )
        task = ok(r)
        seen = events_until(ws, task["id"], "task.created")
    assert [e["data"]["id"] for e in seen] == [task["id"]]


def test_a_position_posted_to_one_process_reaches_a_stream_on_the_other(
    two_servers: list[str], tenant: TenantHandle
) -> None:
    first, second = two_servers
    key = tenant.key("admin")
    headers = {"Authorization": f"Bearer {key}"}
    user = tenant.user("driver")
    team = ok(tenant.post("/v1/teams", json={"name": "Feed"}))
    driver = ok(tenant.post("/v1/drivers", json={"user_id": user["id"], "team_ids": [team["id"]]}))[
        "id"
    ]
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    with open_stream(second, key) as ws:
        assert receive(ws)["type"] == "hello"
        for n in range(3):
            body = {
                "points": [
                    {
                        "lat": 52.5 + n * 0.001,
                        "lng": 13.4,
                        "recorded_at": (when + timedelta(seconds=n)).isoformat(),
                    }
                ]
            }
            r = httpx.post(f"{first}/v1/drivers/{driver}/locations", json=body, headers=headers)
            assert ok(r, 200)["accepted"] == 1
        got = []
        while len(got) < 3:
            message = receive(ws)
            if message["type"] == "position":
                got.append((message["driver_id"], message["lat"]))
    assert got == [(driver, 52.5 + n * 0.001) for n in range(3)]
