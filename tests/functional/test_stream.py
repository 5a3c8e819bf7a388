"""The live feed `/v1/stream` (WebSocket): who may open it and what each caller receives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from lastmile.api.app import create_app
from tests.conftest import settings_for
from tests.support.databases import TestDatabase
from tests.support.factories import TenantHandle
from tests.support.fleetkit import crew, ok
from tests.support.server import LiveServer


def ws_url(server: str) -> str:
    return server.replace("http://", "ws://") + "/v1/stream"


def open_stream(server: str, token: str, via: str = "header") -> ClientConnection:
    if via == "header":
        return connect(ws_url(server), additional_headers={"Authorization": f"Bearer {token}"})
    return connect(f"{ws_url(server)}?access_token={token}")


def receive(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    return dict(json.loads(ws.recv(timeout=timeout)))


def test_callers_without_the_right_role_are_refused_before_the_upgrade(
    server: str, tenant: TenantHandle
) -> None:
    """No token or a bad one: 401 problem; a driver, or a key without tracking:read: 403."""
    refused = {
        "": 401,
        "lmk_not_a_real_key": 401,
        tenant.key("driver"): 403,
        tenant.key("admin", scopes=["tasks:read"]): 403,
    }
    for token, status in refused.items():
        with pytest.raises(InvalidStatus) as caught:
            open_stream(server, token, via="query").close()
        assert caught.value.response.status_code == status, token
        problem = json.loads(caught.value.response.body or b"{}")
        assert problem["status"] == status and problem["type"].startswith("/problems/")


def test_a_dispatcher_connects_with_a_token_in_the_header_or_the_query(
    server: str, tenant: TenantHandle
) -> None:
    user = tenant.user("dispatcher")
    token = tenant.login(user["email"])["access_token"]
    for via in ("header", "query"):
        with open_stream(server, token, via) as ws:
            hello = receive(ws)
            assert hello["type"] == "hello" and hello["tenant_id"] == tenant.id
            assert hello["team_ids"] == []  # a dispatcher managing no team sees none


@pytest.fixture
def quick_server(database: TestDatabase) -> Iterator[str]:
    """A server whose feed sends a heartbeat after 0.2 s of silence."""
    live = LiveServer(create_app(settings_for(database, stream_heartbeat_seconds=0.2)))
    yield live.start()
    live.stop()


def test_a_quiet_feed_sends_heartbeats(quick_server: str, tenant: TenantHandle) -> None:
    with open_stream(quick_server, tenant.key("viewer")) as ws:
        assert receive(ws)["type"] == "hello"
        beats = [receive(ws, timeout=2) for _ in range(3)]
        assert {b["type"] for b in beats} == {"heartbeat"}


def events_until(ws: ClientConnection, task_id: str, last: str) -> list[dict[str, Any]]:
    """Event messages received until `last` arrives for the task (positions are skipped)."""
    seen = []
    while True:
        message = receive(ws)
        if message["type"] != "event":
            continue
        seen.append(message["event"])
        if message["event"]["type"] == last and message["event"]["data"]["id"] == task_id:
            return seen


def test_a_team_dispatcher_gets_its_teams_task_events_in_order(
    server: str, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    """Events reach the feed in commit order; another team's and another tenant's never do."""
    c = crew(tenant)
    # Outside the crew's zone, so in no team.
    elsewhere = ok(tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": 48.1, "lng": 11.5}))
    assert elsewhere["team_id"] is None
    foreign = ok(other_tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": 52.5, "lng": 13.4}))
    with open_stream(server, c.dispatcher_token) as ws:
        assert receive(ws)["team_ids"] == [c.team_id]
        task = ok(
            tenant.post(
                "/v1/tasks",
                json={"kind": "dropoff", "lat": 52.52, "lng": 13.4, "team_id": c.team_id},
            )
        )
        ok(tenant.post(f"/v1/tasks/{elsewhere['id']}/cancel", json={}), 200)
        ok(other_tenant.post(f"/v1/tasks/{foreign['id']}/cancel", json={}), 200)
        ok(tenant.post(f"/v1/tasks/{task['id']}/assign", json={"driver_id": c.driver_id}), 200)
        for step in ("start", "arrive"):
            ok(tenant.post(f"/v1/tasks/{task['id']}/{step}", key=c.driver_token), 200)
        seen = events_until(ws, task["id"], "task.arrived")
    assert [(e["type"], e["data"]["id"]) for e in seen] == [
        (kind, task["id"])
        for kind in ("task.created", "task.assigned", "task.started", "task.arrived")
    ]
    assert all(e["tenant_id"] == tenant.id for e in seen)


def test_an_admin_sees_the_whole_tenant_and_nothing_of_another(
    server: str, tenant: TenantHandle, other_tenant: TenantHandle
) -> None:
    with open_stream(server, tenant.key("admin")) as ws:
        assert receive(ws)["team_ids"] is None
        ok(other_tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": 52.5, "lng": 13.4}))
        mine = ok(tenant.post("/v1/tasks", json={"kind": "dropoff", "lat": 52.5, "lng": 13.4}))
        seen = events_until(ws, mine["id"], "task.created")
    assert [e["data"]["id"] for e in seen] == [mine["id"]]
