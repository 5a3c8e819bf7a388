"""Webhook delivery on PostgreSQL: deliveries per second to a loopback receiver, and the delay
from commit to delivery while events arrive at a steady rate.

    .venv/bin/python bench/webhooks_bench.py [--events 3000] [--rate 100] [--seconds 30]

Writes its section of docs/benchmarks.md. Targets (issue 5): 300 deliveries/s with signing on
this machine; outbox lag P95 under 1 s at 100 events/s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.receiver import Receiver

from harness import BIN, Database, cli, machine, pct, postgres, server, write_section

ALLOW = {"LASTMILE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}


def tasks(n: int, seed: int) -> dict[str, Any]:
    return {
        "tasks": [
            {"kind": "dropoff", "lat": 52.5 + i * 1e-5, "lng": 13.4, "external_ref": f"W{seed}-{i}"}
            for i in range(n)
        ]
    }


def throughput(db: Database, key: str, events: int) -> dict[str, Any]:
    """Events committed first (no loop running), then one `lastmile worker` relays and
    delivers them all; deliveries/s between the first and the last delivery."""
    headers = {"Authorization": f"Bearer {key}"}
    with (
        Receiver() as r,
        server(db, workers=1, **ALLOW) as base,
        httpx.Client(base_url=base, headers=headers, timeout=120) as c,
    ):
        c.post("/v1/webhook-endpoints", json={"url": r.url}).raise_for_status()
        for seed in range(0, events, 1000):
            c.post("/v1/tasks/batch", json=tasks(min(1000, events - seed), seed)).raise_for_status()
        env = {
            **os.environ,
            **ALLOW,
            "LASTMILE_DATABASE_URL": db.app_url,
            "LASTMILE_LOG_LEVEL": "WARNING",
        }
        worker = subprocess.Popen([str(BIN / "lastmile"), "worker"], env=env)
        try:
            if not r.wait_until(lambda rr: len(rr.delivered()) >= events, 600):
                raise RuntimeError(f"only {len(r.delivered())} of {events} delivered")
            deadline = time.monotonic() + 30
            while pending(db) and time.monotonic() < deadline:  # outcomes being recorded
                time.sleep(0.1)
        finally:
            worker.send_signal(signal.SIGINT)
            worker.wait(30)
        arrivals = sorted(h.arrived for h in r.hits if h.status == 200)
        span = arrivals[-1] - arrivals[0]
        return {
            "events": events,
            "seconds": span,
            "per_second": (len(arrivals) - 1) / span,
            "requests": len(r.hits),
        }


def pending(db: Database) -> int:
    with db.admin() as conn:
        row = conn.execute("select count(*) from webhook_messages where state = 'pending'")
        return int(row.fetchone()[0])  # type: ignore[index]


def steady(db: Database, key: str, rate: int, seconds: int) -> dict[str, Any]:
    """`lastmile serve` with its embedded outbox loop; tasks created at `rate` per second
    (10 per batch request); delay from each event's commit time to its delivery."""
    headers = {"Authorization": f"Bearer {key}"}
    env = {**ALLOW, "LASTMILE_EMBEDDED_WORKER": "true", "LASTMILE_PLANNER_WARM": "false"}
    with (
        Receiver() as r,
        server(db, workers=1, **env) as base,
        httpx.Client(base_url=base, headers=headers, timeout=60) as c,
    ):
        c.post("/v1/webhook-endpoints", json={"url": r.url}).raise_for_status()
        time.sleep(1)
        before = len(r.hits)
        sampler = LagSampler(base)
        per_batch = 10
        interval = per_batch / rate
        stop = time.monotonic() + seconds
        sent, seed = 0, 100_000
        next_at = time.monotonic()
        while time.monotonic() < stop:
            c.post("/v1/tasks/batch", json=tasks(per_batch, seed)).raise_for_status()
            sent += per_batch
            seed += per_batch
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        if not r.wait_until(lambda rr: len(rr.delivered()) - before >= sent, 120):
            raise RuntimeError("not everything was delivered")
        delays = []
        for hit in r.hits[before:]:
            if hit.status != 200:
                continue
            at = datetime.fromisoformat(json.loads(hit.body)["timestamp"].replace("Z", "+00:00"))
            delays.append(hit_wall(hit) - at.timestamp())
        sampler.stop()
        return {
            "rate": rate,
            "seconds": seconds,
            "events": sent,
            "p50": pct(delays, 50),
            "p95": pct(delays, 95),
            "max": max(delays),
            "achieved": sent / seconds,
            "gauge_p95": pct(sampler.values, 95) if sampler.values else None,
            "gauge_max": max(sampler.values) if sampler.values else None,
            "gauge_samples": len(sampler.values),
        }


_offset = time.time() - time.monotonic()


def hit_wall(hit: Any) -> float:
    """The wall-clock time a request arrived (the receiver notes monotonic time)."""
    return float(hit.arrived + _offset)


class LagSampler:
    """Reads `lastmile_events_outbox_lag_seconds` from /metrics every 0.25 s meanwhile."""

    def __init__(self, base: str) -> None:
        self.base, self.values, self._stop = base, list[float](), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=10) as c:
            while not self._stop.wait(0.25):
                value = _gauge(c.get("/metrics").text, "lastmile_events_outbox_lag_seconds")
                if value is not None:
                    self.values.append(value)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def _gauge(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--rate", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=30)
    args = ap.parse_args()
    start_load = os.getloadavg()[0]
    with postgres() as db:
        key = cli(db, "demo", "--json")["api_key"]
        tp = throughput(db, key, args.events)
        print(json.dumps(tp))
        lag = steady(db, key, args.rate, args.seconds)
        print(json.dumps(lag))
    day = datetime.now(UTC).date().isoformat()
    load = " to ".join(
        f"{x:.1f}" for x in sorted({round(v, 1) for v in (start_load, os.getloadavg()[0])})
    )
    tp_ok = "PASS" if tp["per_second"] >= 300 else "FAIL"
    lag_ok = "PASS" if lag["p95"] < 1.0 else "FAIL"
    write_section(
        "webhooks",
        f"""## Webhook delivery (issue 5)

Command: `python bench/webhooks_bench.py --events {args.events} --rate {args.rate} --seconds {args.seconds}` (on {day}, {machine()}; PostgreSQL on the same machine; the receiver is a threaded Python HTTP server on loopback in the bench process, answering 200 at once; every request signed, with the SSRF check and address pinning of each send; client, server, worker, receiver and database share the cores; load average {load}).

**Deliveries per second**: {args.events} `task.created` events committed first, then one `lastmile worker` (32 requests in flight) relays and delivers them: **{tp["per_second"]:.0f} deliveries/s** ({tp["events"]} in {tp["seconds"]:.1f} s between the first and the last delivery, {tp["requests"]} requests). Target 300/s: {tp_ok}.

**Lag at {args.rate} events/s**: `lastmile serve` with its embedded outbox loop, tasks created through `POST /v1/tasks/batch` (10 per request) at {lag["achieved"]:.0f} events/s for {args.seconds} s ({lag["events"]} events); delay from each event's `timestamp` (taken in its transaction, just before commit) to its arrival at the receiver: P50 {lag["p50"] * 1000:.0f} ms, **P95 {lag["p95"] * 1000:.0f} ms**, max {lag["max"] * 1000:.0f} ms. Target P95 < 1 s: {lag_ok}. The `lastmile_events_outbox_lag_seconds` gauge read every 0.25 s meanwhile ({lag["gauge_samples"]} readings): P95 {lag["gauge_p95"]:.2f} s, max {lag["gauge_max"]:.2f} s.
""",
    )


if __name__ == "__main__":
    main()
