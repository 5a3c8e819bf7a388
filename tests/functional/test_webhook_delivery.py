"""Webhook delivery over simulated days (a fake clock) in a database of its own: the retry
schedule through random failures and an outage, per-task order, Retry-After, the 5-day
disable, the send-time SSRF check and the outbox lag."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lastmile.events.delivery import SCHEDULE
from tests.support.databases import TestDatabase
from tests.support.factories import TenantHandle
from tests.support.fleetkit import BERLIN, ok
from tests.support.receiver import Hit, Receiver
from tests.support.webhooklab import FakeClock, Lab, as_utc, fake_clock, webhook_lab

LAT, LNG = BERLIN
HOOKS = "/v1/webhook-endpoints"
T0 = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def lab(database: TestDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with webhook_lab(database.backend, tmp_path_factory.mktemp("lab")) as made:
        yield made


@pytest.fixture
def fc() -> Iterator[FakeClock]:
    with fake_clock(T0) as made:
        yield made


def task_life(t: TenantHandle) -> str:
    """A task created, changed and cancelled: three events of one subject."""
    task_id = str(ok(t.post("/v1/tasks", json={"kind": "dropoff", "lat": LAT, "lng": LNG}))["id"])
    ok(t.patch(f"/v1/tasks/{task_id}", json={"notes": "ring twice"}), 200)
    ok(t.post(f"/v1/tasks/{task_id}/cancel", json={}), 200)
    return task_id


def simulate(lab: Lab, fc: FakeClock, tenant_id: str, until: datetime, **settings: Any) -> int:
    """Run the outbox at every moment a message falls due, up to `until`; how many runs."""
    runs = 0
    while True:
        lab.deliver(**settings)
        runs += 1
        due = lab.next_due(tenant_id)
        if due is None or due > until:
            return runs
        assert runs < 500, "the simulation does not converge"
        fc.set(due)


def test_retries_follow_the_schedule_through_failures_and_an_outage(
    lab: Lab, fc: FakeClock
) -> None:
    """A receiver down for an hour, then failing half the requests at random: every event is
    delivered once, each task's events in order, each retry on the schedule (±20 %)."""
    rng = random.Random(20261126)
    random_failures: dict[str, int] = {}
    outage = (T0, T0 + timedelta(hours=1))

    def respond(hit: Hit) -> tuple[int, dict[str, str], bytes]:
        if outage[0] <= fc.peek() < outage[1]:
            return 503, {}, b"down for maintenance"
        # Half the requests fail, but never a fifth time in a row for one message, so the
        # schedule's ten attempts can always succeed (the outage takes at most four).
        if random_failures.get(hit.webhook_id, 0) < 4 and rng.random() < 0.5:
            random_failures[hit.webhook_id] = random_failures.get(hit.webhook_id, 0) + 1
            return 500, {}, b"oops"
        return 200, {}, b"ok"

    t = lab.tenant()
    with Receiver(respond=respond) as r:
        ok(lab.client.post(HOOKS, headers=t.headers(), json={"url": r.url}))
        tasks = [task_life(t) for _ in range(4)]
        simulate(lab, fc, t.id, until=T0 + timedelta(minutes=20))
        fc.set(T0 + timedelta(minutes=20))
        tasks += [task_life(t) for _ in range(2)]  # more events during the outage
        simulate(lab, fc, t.id, until=T0 + timedelta(days=4))

        messages = lab.messages(t.id)
        assert len(messages) == 18 and {m["state"] for m in messages} == {"succeeded"}
        delivered = r.delivered()
        assert set(delivered) == {m["event_id"] for m in messages}
        assert all(len(hits) == 1 for hits in delivered.values())  # one worker: no duplicate
        statuses = [h.status for h in r.hits]
        assert 503 in statuses and 500 in statuses and statuses.count(200) == 18

        # In order per task: each success comes after the previous event's success.
        order = {m["event_id"]: m["sequence"] for m in messages}
        subject = {m["event_id"]: m["subject"] for m in messages}
        for task_id in tasks:
            got = [
                h.webhook_id for h in r.hits if h.status == 200 and subject[h.webhook_id] == task_id
            ]
            assert got == sorted(got, key=order.__getitem__) and len(got) == 3

        # Each retry came when the schedule said, and the header carries the attempt's time.
        by_message: dict[str, list[dict[str, Any]]] = {}
        for a in lab.attempts(t.id):
            by_message.setdefault(a["message_id"], []).append(a)
        retries = 0
        for attempts in by_message.values():
            for before, after in itertools.pairwise(attempts):
                gap = (as_utc(after["started_at"]) - as_utc(before["started_at"])).total_seconds()
                planned = SCHEDULE[before["attempt"]]
                assert 0.8 * planned - 1 <= gap <= 1.2 * planned + 1, (before["attempt"], gap)
                retries += 1
        assert retries >= 18
        stamps = sorted(int(h.headers["webhook-timestamp"]) for h in r.hits)
        assert stamps == sorted(
            int(as_utc(a["started_at"]).timestamp()) for a in lab.attempts(t.id)
        )


def test_retry_after_is_respected(lab: Lab, fc: FakeClock) -> None:
    """429 with `Retry-After: 120` and 503 with an HTTP date push the retry to that time, not
    the schedule's 5 seconds."""
    seen: set[str] = set()
    answers = iter(
        [
            (429, {"Retry-After": "120"}, b"slow down"),
            (503, {"Retry-After": "Thu, 26 Nov 2026 09:00:00 GMT"}, b"busy"),
        ]
    )

    def respond(hit: Hit) -> tuple[int, dict[str, str], bytes]:
        if hit.webhook_id in seen:
            return 200, {}, b"ok"
        seen.add(hit.webhook_id)
        return next(answers)

    t = lab.tenant()
    with Receiver(respond=respond) as r:
        ok(lab.client.post(HOOKS, headers=t.headers(), json={"url": r.url}))
        ok(t.post("/v1/tasks", json={"kind": "dropoff", "lat": LAT, "lng": LNG}))
        lab.deliver()
        first = lab.messages(t.id)[0]
        sent = as_utc(lab.attempts(t.id)[0]["started_at"])
        assert first["state"] == "pending" and first["last_status"] == 429
        assert 120 <= (as_utc(first["next_attempt_at"]) - sent).total_seconds() <= 121
        fc.advance(60)
        lab.deliver()
        assert len(r.hits) == 1  # not before the time asked for
        fc.set(as_utc(first["next_attempt_at"]))
        lab.deliver()
        assert [h.status for h in r.hits] == [429, 200]

        ok(t.post("/v1/tasks", json={"kind": "dropoff", "lat": LAT, "lng": LNG}))
        lab.deliver()
        second = lab.messages(t.id)[1]
        assert second["last_status"] == 503
        retry_at = as_utc(second["next_attempt_at"])
        assert abs(retry_at - datetime(2026, 11, 26, 9, 0, tzinfo=UTC)) < timedelta(seconds=1)
        fc.set(datetime(2026, 11, 26, 9, 0, 1, tzinfo=UTC))
        lab.deliver()
        assert [h.status for h in r.hits] == [429, 200, 503, 200]


def test_five_days_of_failures_disable_the_endpoint(lab: Lab, fc: FakeClock) -> None:
    """An endpoint failing every attempt for 5 days is disabled, `webhook_endpoint.disabled` is
    emitted, its pending messages fail and later events are not sent to it; once enabled, a
    replay that succeeds ends the failure streak."""
    answers = {"status": 500}
    t = lab.tenant()
    with Receiver(respond=lambda hit: (answers["status"], {}, b"")) as r:
        endpoint = ok(lab.client.post(HOOKS, headers=t.headers(), json={"url": r.url}))
        path = f"{HOOKS}/{endpoint['id']}"
        day = 0
        while ok(t.get(path), 200)["enabled"] and day < 8:
            fc.set(T0 + timedelta(days=day))
            ok(t.post("/v1/tasks", json={"kind": "dropoff", "lat": LAT, "lng": LNG}))
            simulate(lab, fc, t.id, until=T0 + timedelta(days=day + 1))
            day += 1
        read = ok(t.get(path), 200)
        assert read["enabled"] is False and "5 days" in read["disabled_reason"]
        failing_since = datetime.fromisoformat(read["failing_since"])
        disabled_at = datetime.fromisoformat(read["disabled_at"])
        assert failing_since < T0 + timedelta(seconds=1)
        assert timedelta(days=5) <= disabled_at - failing_since < timedelta(days=6)
        assert {m["state"] for m in lab.messages(t.id)} == {"failed"}
        assert all(h.status == 500 for h in r.hits)

        lab.deliver()  # relays the disabled event
        disabled = ok(t.get("/v1/events", params={"types": "webhook_endpoint.disabled"}), 200)
        assert [e["data"]["id"] for e in disabled["data"]] == [endpoint["id"]]
        hits = len(r.hits)
        ok(t.post("/v1/tasks", json={"kind": "dropoff", "lat": LAT, "lng": LNG}))
        lab.deliver()
        assert len(r.hits) == hits  # a disabled endpoint gets nothing

        answers["status"] = 200
        ok(t.patch(path, json={"enabled": True}), 200)
        queued = ok(t.post(f"{path}/replay", json={"since": T0.isoformat()}), 202)["queued"]
        assert queued == day
        lab.deliver()
        assert len(r.delivered()) == day
        assert ok(t.get(path), 200)["failing_since"] is None


def test_each_send_checks_the_address_again(lab: Lab, fc: FakeClock) -> None:
    """A URL that passed at registration is checked again at every send: without the
    allow-list the request is refused (logged, retried later) and nothing reaches it."""
    t = lab.tenant()
    with Receiver() as r:
        endpoint = ok(lab.client.post(HOOKS, headers=t.headers(), json={"url": r.url}))
        ok(t.post("/v1/tasks", json={"kind": "dropoff", "lat": LAT, "lng": LNG}))
        lab.deliver(webhook_allowed_hosts="")
        log = ok(t.get(f"{HOOKS}/{endpoint['id']}/deliveries"), 200)["data"]
        assert len(log) == 1 and log[0]["status_code"] is None
        assert log[0]["error"].startswith("refused: 127.0.0.1 is a loopback address")
        assert r.hits == [] and lab.messages(t.id)[0]["state"] == "pending"
        fc.advance(10)
        lab.deliver()
        assert len(r.delivered()) == 1


def test_outbox_lag_is_the_oldest_waiting_age(lab: Lab, fc: FakeClock) -> None:
    """The lag gauge is the age of the oldest event not yet relayed (or message due and not
    yet delivered), and 0 once everything is out."""
    t = lab.tenant()
    lab.deliver()
    assert lab.lag() == pytest.approx(0, abs=0.5)
    ok(t.post("/v1/tasks", json={"kind": "dropoff", "lat": LAT, "lng": LNG}))
    fc.advance(30)
    assert lab.lag() == pytest.approx(30, abs=1)
    lab.deliver()
    assert lab.lag() == pytest.approx(0, abs=0.5)
