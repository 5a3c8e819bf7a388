"""Crash safety of webhook delivery on PostgreSQL with real `lastmile worker` processes: a
worker killed with SIGKILL in the middle of a send loses no event (the next one sends it again
with the same `webhook-id`), and two workers at once never have one message in flight twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.env import TEST_ENV
from tests.support.factories import TenantHandle
from tests.support.fleetkit import BERLIN, ok
from tests.support.receiver import Receiver
from tests.support.webhooklab import Lab, webhook_lab

pytestmark = pytest.mark.postgres

LAT, LNG = BERLIN
HOOKS = "/v1/webhook-endpoints"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with webhook_lab("postgres", tmp_path_factory.mktemp("lab")) as made:
        yield made


class Workers:
    """`lastmile worker` processes on the lab's database, stopped at the end."""

    def __init__(self, lab: Lab, logs: Path) -> None:
        self.lab, self.logs = lab, logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            **TEST_ENV,
            "LASTMILE_DATABASE_URL": self.lab.db.url,
            "LASTMILE_WEBHOOK_TIMEOUT_SECONDS": "2",
            "LASTMILE_WEBHOOK_LEASE_SECONDS": "3",
            "LASTMILE_OUTBOX_INTERVAL_SECONDS": "0.1",
        }
        log = (self.logs / f"worker-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "lastmile.cli.main", "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(lab: Lab, tmp_path: Path) -> Iterator[Workers]:
    made = Workers(lab, tmp_path)
    try:
        yield made
    finally:
        made.stop()


def new_task(t: TenantHandle) -> str:
    return str(ok(t.post("/v1/tasks", json={"kind": "dropoff", "lat": LAT, "lng": LNG}))["id"])


def all_sent(lab: Lab, tenant_id: str, count: int) -> bool:
    messages = lab.messages(tenant_id)
    return len(messages) == count and all(m["state"] == "succeeded" for m in messages)


def test_a_worker_killed_mid_send_loses_nothing(lab: Lab, workers: Workers) -> None:
    """SIGKILL while the receiver holds the first request: the restarted worker delivers every
    event, the interrupted one again with the same webhook-id once its lease ran out."""
    t = lab.tenant()
    with Receiver(hold_first=True) as r:
        ok(t.post(HOOKS, json={"url": r.url}))
        for _ in range(6):
            new_task(t)
        first = workers.start()
        assert r.wait_held(30), "the worker sent nothing"
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
        held = r.hits[0].webhook_id
        r.release()
        workers.start()
        assert r.wait_until(lambda _: all_sent(lab, t.id, 6), 30), lab.messages(t.id)
        events = {m["event_id"] for m in lab.messages(t.id)}
        delivered = r.delivered()
        assert set(delivered) == events  # none lost
        assert held in delivered
        again = [h for h in r.hits if h.webhook_id == held]
        assert len(again) >= 2 and again[0].status == 0 and again[-1].status == 200
        assert again[0].body == again[-1].body
        logged = [a for a in lab.attempts(t.id) if a["event_id"] == held]
        assert [a["status_code"] for a in logged] == [200]  # the killed send left no record


def test_two_workers_never_send_a_message_twice_at_once(lab: Lab, workers: Workers) -> None:
    """Two worker processes share the work: every event is delivered exactly once, each task's
    in order, and the receiver never sees one webhook-id in flight twice."""
    t = lab.tenant()
    with Receiver(delay=0.03) as r:
        ok(t.post(HOOKS, json={"url": r.url}))
        tasks = []
        for _ in range(10):
            tasks.append(new_task(t))
            ok(t.patch(f"/v1/tasks/{tasks[-1]}", json={"notes": "one"}), 200)
        workers.start()
        workers.start()
        assert r.wait_until(lambda rr: len(rr.delivered()) >= 10, 30)
        for task_id in tasks:  # more work while both run
            ok(t.patch(f"/v1/tasks/{task_id}", json={"notes": "two"}), 200)
            ok(t.post(f"/v1/tasks/{task_id}/cancel", json={}), 200)
        assert r.wait_until(lambda _: all_sent(lab, t.id, 40), 30), lab.messages(t.id)
        assert r.overlaps == []
        delivered = r.delivered()
        assert len(delivered) == 40 and all(len(h) == 1 for h in delivered.values())
        assert all(h.status == 200 for h in r.hits)
        messages = lab.messages(t.id)
        order = {m["event_id"]: m["sequence"] for m in messages}
        subject = {m["event_id"]: m["subject"] for m in messages}
        for task_id in tasks:
            got = [h.webhook_id for h in r.hits if subject[h.webhook_id] == task_id]
            assert len(got) == 4 and got == sorted(got, key=order.__getitem__)
        assert r.max_inflight > 1


def test_a_worker_stops_cleanly_on_sigterm(workers: Workers) -> None:
    """SIGTERM, as a process manager sends it, ends `lastmile worker` with status 0."""
    proc = workers.start()
    time.sleep(2)  # running its loops
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    log = (workers.logs / "worker-0.log").read_text()
    assert "Traceback" not in log, log
