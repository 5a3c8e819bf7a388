"""Webhook endpoints through the API, with deliveries by the server's own outbox loop to real
receivers on loopback: CRUD, secrets shown once, rotation, SSRF refusals, test pings, the
delivery log, replays, 410 Gone."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from lastmile.api.app import create_app
from tests.conftest import settings_for
from tests.support.databases import TestDatabase
from tests.support.factories import TenantHandle, make_tenant
from tests.support.fleetkit import BERLIN, ok
from tests.support.objects_webhooks import NOWHERE, make_endpoint
from tests.support.receiver import Hit, Receiver
from tests.support.server import LiveServer

LAT, LNG = BERLIN
HOOKS = "/v1/webhook-endpoints"


def new_task(t: TenantHandle, **fields: Any) -> str:
    body = {"kind": "dropoff", "lat": LAT, "lng": LNG, **fields}
    return str(ok(t.post("/v1/tasks", json=body))["id"])


def eventually(check: Callable[[], Any], timeout: float = 15) -> Any:
    """The first truthy result of `check()` within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            assert found, "condition not met in time"
            return found
        time.sleep(0.05)


def deliveries(t: TenantHandle, endpoint_id: str, **params: Any) -> list[dict[str, Any]]:
    return list(ok(t.get(f"{HOOKS}/{endpoint_id}/deliveries", params=params), 200)["data"])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def test_endpoint_crud_with_secret_shown_once(tenant: TenantHandle) -> None:
    """An endpoint is created with its secret (shown only then), read, listed, changed and
    deleted; unknown event types are a 422 naming the field."""
    created = ok(
        tenant.post(
            HOOKS,
            json={
                "url": NOWHERE,
                "description": "POS",
                "event_types": ["task.created", "task.completed"],
            },
        )
    )
    secret = created["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    assert created["enabled"] is True and created["event_types"] == [
        "task.created",
        "task.completed",
    ]
    endpoint_id = created["id"]
    read = ok(tenant.get(f"{HOOKS}/{endpoint_id}"), 200)
    assert "secret" not in read and secret not in str(read)
    assert endpoint_id in [e["id"] for e in ok(tenant.get(HOOKS), 200)["data"]]
    assert secret not in tenant.get(HOOKS).text
    changed = ok(
        tenant.patch(
            f"{HOOKS}/{endpoint_id}",
            json={"event_types": [], "description": "all", "enabled": False},
        ),
        200,
    )
    assert changed["event_types"] == [] and changed["description"] == "all"
    assert changed["enabled"] is False and changed["disabled_reason"]
    assert (
        ok(tenant.patch(f"{HOOKS}/{endpoint_id}", json={"enabled": True}), 200)["disabled_reason"]
        is None
    )
    assert [e["id"] for e in ok(tenant.get(HOOKS, params={"enabled": "false"}), 200)["data"]] == []
    bad = tenant.post(HOOKS, json={"url": NOWHERE, "event_types": ["task.created", "task.nope"]})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["body.event_types"]
    assert tenant.request("DELETE", f"{HOOKS}/{endpoint_id}").status_code == 204
    assert tenant.get(f"{HOOKS}/{endpoint_id}").status_code == 404


def test_create_is_idempotent_and_admin_only(tenant: TenantHandle) -> None:
    """A retried create with the same Idempotency-Key replays the first answer (same secret,
    one endpoint); dispatchers and keys without `webhooks:write` are refused."""
    key = {"Idempotency-Key": f"hook-{time.time_ns()}"}
    first = tenant.post(HOOKS, json={"url": NOWHERE, "enabled": False}, headers=key)
    again = tenant.post(HOOKS, json={"url": NOWHERE, "enabled": False}, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert first.json() == again.json()
    dispatcher = tenant.key("dispatcher")
    assert tenant.get(HOOKS, key=dispatcher).status_code == 403
    reader = tenant.key("admin", ["webhooks:read"])
    assert tenant.get(HOOKS, key=reader).status_code == 200
    assert tenant.post(HOOKS, key=reader, json={"url": NOWHERE}).status_code == 403
    events_only = tenant.key("admin", ["events:read"])
    assert tenant.get(HOOKS, key=events_only).status_code == 403


def _verifies(secret: str, hit: Hit) -> bool:
    try:
        Webhook(secret).verify(hit.body, hit.headers)
        return True
    except WebhookVerificationError:
        return False


def test_deliveries_verify_and_rotation_overlaps(tenant: TenantHandle, receiver: Receiver) -> None:
    """Each delivery verifies with the endpoint's secret; after a rotation both secrets sign
    (two signatures) until the overlap ends, then only the new one."""
    endpoint = ok(tenant.post(HOOKS, json={"url": receiver.url, "event_types": ["task.created"]}))
    old = endpoint["secret"]
    first_task = new_task(tenant)
    assert receiver.wait_until(lambda r: len(r.delivered()) == 1, 15)
    hit = receiver.hits[0]
    assert hit.headers["webhook-signature"].count("v1,") == 1 and _verifies(old, hit)
    envelope = Webhook(old).verify(hit.body, hit.headers)
    assert envelope["type"] == "task.created" and envelope["data"]["id"] == first_task
    assert envelope["id"] == hit.headers["webhook-id"] and envelope["tenant_id"] == tenant.id

    rotated = ok(
        tenant.post(f"{HOOKS}/{endpoint['id']}/rotate-secret", json={"overlap_seconds": 4}), 200
    )
    new = rotated["secret"]
    assert new != old and new.startswith("whsec_")
    ends = datetime.fromisoformat(rotated["previous_secret_expires_at"])
    new_task(tenant)
    assert receiver.wait_until(lambda r: len(r.delivered()) == 2, 15)
    during = receiver.hits[-1]
    if datetime.fromtimestamp(int(during.headers["webhook-timestamp"]), UTC) < ends:
        assert during.headers["webhook-signature"].count("v1,") == 2
        assert _verifies(old, during) and _verifies(new, during)
    time.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 0.2)
    new_task(tenant)
    assert receiver.wait_until(lambda r: len(r.delivered()) == 3, 15)
    after = receiver.hits[-1]
    assert after.headers["webhook-signature"].count("v1,") == 1
    assert _verifies(new, after) and not _verifies(old, after)
    assert len({h.headers["webhook-id"] for h in receiver.hits}) == 3


def test_ssrf_targets_refused_without_allow_list(database: TestDatabase) -> None:
    """Without the allow-list, loopback, private, link-local and metadata addresses, and names
    resolving to them, are refused at registration with a 422 naming `body.url`."""
    app = create_app(
        settings_for(database, webhook_allowed_hosts="", embedded_worker=False, planner_warm=False)
    )
    live = LiveServer(app)
    base = live.start()
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            t = make_tenant(client, "SSRF")
            for url in (
                "http://127.0.0.1:8000/hooks",
                "http://10.0.0.1/hooks",
                "http://169.254.169.254/latest/meta-data/",
                "http://[::1]:8000/hooks",
                "http://[::ffff:127.0.0.1]/hooks",
                "http://localhost:8000/hooks",
                "https://localhost/hooks",
            ):
                r = t.post(HOOKS, json={"url": url})
                assert r.status_code == 422, (url, r.text)
                assert [e["field"] for e in r.json()["errors"]] == ["body.url"], url
            endpoint = ok(t.post(HOOKS, json={"url": "https://hooks.example.invalid/x"}))
            r = t.patch(f"{HOOKS}/{endpoint['id']}", json={"url": "http://10.0.0.1/"})
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body.url"
    finally:
        live.stop()


def test_test_ping_answers_with_the_attempt(tenant: TenantHandle, receiver: Receiver) -> None:
    """POST /test sends a signed `webhook_endpoint.test` event now, once, and answers with the
    attempt; the delivery log lists it; a ping to nowhere reports the error."""
    endpoint = make_endpoint(tenant, url=receiver.url)  # disabled: pings still go
    result = ok(tenant.post(f"{HOOKS}/{endpoint['id']}/test"), 200)
    assert result["succeeded"] is True and result["status_code"] == 200
    assert result["trigger"] == "test" and result["event_type"] == "webhook_endpoint.test"
    assert result["response_excerpt"] == '{"ok":true}' and result["latency_ms"] >= 0
    hit = receiver.hits[0]
    assert Webhook(endpoint["secret"]).verify(hit.body, hit.headers)["data"]["id"] == endpoint["id"]
    assert hit.headers["webhook-id"] == result["event_id"]
    log = deliveries(tenant, endpoint["id"])
    assert [d["id"] for d in log] == [result["id"]]
    nowhere = make_endpoint(tenant)
    failed = ok(tenant.post(f"{HOOKS}/{nowhere['id']}/test"), 200)
    assert failed["succeeded"] is False and failed["status_code"] is None
    assert "network error" in failed["error"]
    time.sleep(0.3)
    assert len(receiver.hits) == 1  # a ping is never retried nor sent to other endpoints


def test_gone_disables_the_endpoint_and_emits_an_event(tenant: TenantHandle) -> None:
    """An endpoint answering 410 Gone is disabled at once, `webhook_endpoint.disabled` is
    emitted, and it receives nothing more."""
    with Receiver(respond=lambda hit: (410, {}, b"gone")) as gone:
        endpoint = ok(tenant.post(HOOKS, json={"url": gone.url, "event_types": ["task.created"]}))
        new_task(tenant)
        read = eventually(
            lambda: (
                (r := ok(tenant.get(f"{HOOKS}/{endpoint['id']}"), 200))["enabled"] is False and r
            )
        )
        assert "410" in read["disabled_reason"] and read["disabled_at"]
        feed = eventually(
            lambda: [
                e
                for e in ok(
                    tenant.get("/v1/events", params={"types": "webhook_endpoint.disabled"}), 200
                )["data"]
                if e["data"]["id"] == endpoint["id"]
            ]
        )
        assert feed[0]["data"]["enabled"] is False
        log = deliveries(tenant, endpoint["id"])
        assert [d["status_code"] for d in log] == [410] and log[0]["error"] == "HTTP 410"
        new_task(tenant)
        time.sleep(0.5)
        assert len(gone.hits) == 1


def test_replay_one_message_and_every_failed_since(tenant: TenantHandle) -> None:
    """Failed messages (here: pending when the endpoint was disabled) are sent again by
    `replay` since a time, and one delivered message by its own replay, with the same
    `webhook-id`; the delivery log shows each attempt with its trigger."""
    answers = {"status": 500}
    with Receiver(respond=lambda hit: (answers["status"], {}, b"")) as r:
        start = datetime.now(UTC) - timedelta(seconds=5)
        endpoint = ok(tenant.post(HOOKS, json={"url": r.url, "event_types": ["task.created"]}))
        path = f"{HOOKS}/{endpoint['id']}"
        new_task(tenant)
        first = eventually(lambda: deliveries(tenant, endpoint["id"]))[0]
        assert first["status_code"] == 500 and first["trigger"] == "schedule"
        ok(tenant.patch(path, json={"enabled": False}), 200)
        assert tenant.post(f"{path}/replay", json={"since": start.isoformat()}).status_code == 409
        ok(tenant.patch(path, json={"enabled": True}), 200)
        answers["status"] = 200
        queued = ok(tenant.post(f"{path}/replay", json={"since": start.isoformat()}), 202)
        assert queued == {"queued": 1}
        assert r.wait_until(lambda rr: len(rr.delivered()) == 1, 15)
        eventually(lambda: len(deliveries(tenant, endpoint["id"])) == 2)  # recorded
        again = ok(tenant.post(f"{path}/messages/{first['message_id']}/replay"), 202)
        assert again["id"] == first["message_id"]
        assert r.wait_until(lambda rr: len(rr.delivered().get(first["event_id"], [])) == 2, 15)
        assert {h.webhook_id for h in r.hits} == {first["event_id"]}
        log = eventually(lambda: (d := deliveries(tenant, endpoint["id"])) and len(d) == 3 and d)
        assert [d["trigger"] for d in log] == ["replay", "replay", "schedule"]
        assert [d["succeeded"] for d in log] == [True, True, False]
        page = deliveries(tenant, endpoint["id"], limit=2)
        assert [d["id"] for d in page] == [d["id"] for d in log[:2]]
        missing = tenant.post(f"{path}/messages/msg_unknown/replay")
        assert missing.status_code == 404


def test_metrics_name_deliveries_and_lag(client: httpx.Client) -> None:
    """The webhook and outbox metrics are exported."""
    text = client.get("/metrics").text
    for name in (
        "lastmile_events_outbox_lag_seconds",
        "lastmile_webhooks_deliveries_total",
        "lastmile_webhooks_attempts_per_message",
        "lastmile_webhooks_endpoints_disabled_total",
        "lastmile_webhooks_messages_failed_total",
    ):
        assert name in text, name
