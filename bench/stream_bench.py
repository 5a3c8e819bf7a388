"""Position-to-stream latency: a driver's point posted to the API until a dispatcher's
`/v1/stream` WebSocket receives it.

    .venv/bin/python bench/stream_bench.py [--positions 300] [--rate 20] [--workers 2]

`lastmile serve --workers 2` on PostgreSQL with Redis (the two server processes reach each
other's streams only through Redis pub/sub, as in production); one driver's positions are
posted one per request with `POST /v1/drivers/{id}/locations` at `--rate` per second, while an
admin's WebSocket on the same server listens. The latency of a position is from just before
its POST is sent to when its message arrives on the socket (client clock, same machine).
Writes its section of docs/benchmarks.md. Target (issue 6): P95 under 500 ms.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import cli, machine, pct, postgres, server, write_section

REDIS_URL = "redis://127.0.0.1:6379/0"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--positions", type=int, default=300)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    cmd = "python bench/stream_bench.py " + " ".join(sys.argv[1:])
    with postgres() as db:
        t = cli(
            db, "tenant", "create", "--name", "Bench", "--admin-email", "b@example.com", "--json"
        )
        with server(db, workers=args.workers, LASTMILE_REDIS_URL=REDIS_URL) as base:
            key = t["api_key"]
            with httpx.Client(
                base_url=base, timeout=30, headers={"Authorization": f"Bearer {key}"}
            ) as c:
                team = c.post("/v1/teams", json={"name": "Stream"}).raise_for_status().json()
                user = c.post(
                    "/v1/users",
                    json={
                        "email": "d@bench.example.com",
                        "name": "Driver",
                        "role": "driver",
                        "password": "bench-password-123",
                    },
                ).raise_for_status()
                driver = (
                    c.post(
                        "/v1/drivers",
                        json={"user_id": user.json()["id"], "team_ids": [team["id"]]},
                    )
                    .raise_for_status()
                    .json()["id"]
                )
                received: dict[str, float] = {}
                url = base.replace("http://", "ws://") + "/v1/stream"
                with connect(url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
                    assert json.loads(ws.recv(timeout=10))["type"] == "hello"

                    def listen() -> None:
                        try:
                            while True:
                                message = json.loads(ws.recv())
                                if message["type"] == "position":
                                    received[message["recorded_at"]] = time.perf_counter()
                        except Exception:
                            return

                    reader = threading.Thread(target=listen, daemon=True)
                    reader.start()
                    sent: dict[str, float] = {}
                    start = datetime.now(UTC) - timedelta(seconds=args.positions)
                    for i in range(args.positions):
                        moment = start + timedelta(seconds=i)
                        body = {
                            "points": [
                                {
                                    "lat": 52.52 + i * 1e-4,
                                    "lng": 13.405,
                                    "recorded_at": moment.isoformat(),
                                }
                            ]
                        }
                        sent[moment.isoformat()] = time.perf_counter()
                        c.post(f"/v1/drivers/{driver}/locations", json=body).raise_for_status()
                        time.sleep(1 / args.rate)
                    deadline = time.monotonic() + 10
                    while len(received) < len(sent) and time.monotonic() < deadline:
                        time.sleep(0.05)
    lost = [k for k in sent if k not in received]
    ms = [(received[k] - sent[k]) * 1000 for k in sent if k in received]
    p50, p95, p99 = pct(ms, 50), pct(ms, 95), pct(ms, 99)
    print(
        f"position -> stream: {len(ms)} of {len(sent)} received; "
        f"p50 {p50:.1f} ms p95 {p95:.1f} ms p99 {p99:.1f} ms max {max(ms):.1f} ms"
    )
    write_section(
        "stream",
        "\n".join(
            [
                "## Live feed: position to stream latency (issue 6)",
                "",
                f"Command: `{cmd.strip()}` (on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
                f"{machine()}; PostgreSQL 15 and Redis 7 on the same machine, "
                f"`lastmile serve --workers {args.workers}` with `LASTMILE_REDIS_URL` so a "
                "position posted to one server process reaches a stream held by the other "
                "through Redis pub/sub; client: httpx and websockets, same machine).",
                "",
                f"One driver's positions posted one per request at {args.rate:g}/s while an "
                "admin's `/v1/stream` WebSocket listens; latency from just before the POST is "
                "sent to the position's message on the socket:",
                "",
                "| positions | received | P50 ms | P95 ms | P99 ms | max ms | target P95 < 500 ms |",
                "|---|---|---|---|---|---|---|",
                f"| {len(sent)} | {len(ms)} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {max(ms):.1f} | "
                f"{'PASS' if p95 < 500 and not lost else 'FAIL'} |",
                "",
                "Each latency includes the whole ingest request (validation, storing the point, "
                "the latest-position upsert, geofence and zone checks, the ETA refresh when due "
                "(every 15 s), the commit) before the message is published.",
            ]
        ),
    )


if __name__ == "__main__":
    main()
