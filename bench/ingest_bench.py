"""Location ingest on PostgreSQL: drivers' phones posting batches of points concurrently.

    .venv/bin/python bench/ingest_bench.py [--drivers 40] [--batches 25] [--points 50]
        [--clients 8] [--workers 2] [--dry-run]

`lastmile serve --workers 2` on a fresh PostgreSQL database (the app role does not own the
tables, so RLS applies; day partitions made first by `lastmile tracking maintain`, as the
job loop does). Each of N driver users signs in and posts its own points with
`POST /v1/drivers/me/locations`, `--points` per request, one point a second, from `--clients`
client threads (each with its own keep-alive connection); bodies are encoded before the clock
starts. Every request must answer 200 with all its points accepted. Prints points/s and the
request latency P50/P95 at the client, and writes its section of docs/benchmarks.md unless
--dry-run. Target (issue 6): 5,000 points/s in batches of 50 on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import BIN, Database, cli, machine, pct, postgres, server, write_section

PASSWORD = "bench-password-123"
# Sign-in is not what is measured: cheap password hashing and no login rate limit, for the
# users this benchmark creates on its own throwaway database.
SERVER_ENV = {
    "LASTMILE_ARGON2_TIME_COST": "1",
    "LASTMILE_ARGON2_MEMORY_COST": "1024",
    "LASTMILE_ARGON2_PARALLELISM": "1",
    "LASTMILE_LOGIN_RATE_PER_SECOND": "100000",
    "LASTMILE_LOGIN_BURST": "100000",
}


def maintain(db: Database) -> dict[str, Any]:
    env = {
        **os.environ,
        "LASTMILE_DATABASE_URL": db.app_url,
        "LASTMILE_DATABASE_ADMIN_URL": db.admin_url,
        "LASTMILE_LOG_LEVEL": "WARNING",
    }
    out = subprocess.run(
        [str(BIN / "lastmile"), "tracking", "maintain", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(out.stdout))


def drivers(base: str, key: str, n: int) -> list[str]:
    """n driver users with driver records; their access tokens."""
    headers = {"Authorization": f"Bearer {key}"}
    tokens = []
    with httpx.Client(base_url=base, timeout=60, headers=headers) as c:
        team = c.post("/v1/teams", json={"name": "Bench team"}).raise_for_status().json()
        for i in range(n):
            email = f"driver{i}@bench.example.com"
            user = c.post(
                "/v1/users",
                json={
                    "email": email,
                    "name": f"Driver {i}",
                    "role": "driver",
                    "password": PASSWORD,
                },
            ).raise_for_status()
            c.post(
                "/v1/drivers", json={"user_id": user.json()["id"], "team_ids": [team["id"]]}
            ).raise_for_status()
            login = c.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
            tokens.append(str(login.raise_for_status().json()["access_token"]))
    return tokens


def bodies(tokens: list[str], batches: int, points: int, start: datetime) -> list[list[bytes]]:
    """Per driver, its batches in order: one point a second along a line, encoded."""
    out = []
    for d, _token in enumerate(tokens):
        mine = []
        for b in range(batches):
            pts = []
            for p in range(points):
                k = b * points + p
                at = start + timedelta(seconds=k)
                pts.append(
                    {
                        "lat": 52.4 + d * 0.001 + k * 0.00001,
                        "lng": 13.3 + k * 0.00001,
                        "accuracy": 5.0 + k % 10,
                        "speed": 8.3,
                        "heading": 45,
                        "recorded_at": at.isoformat().replace("+00:00", "Z"),
                    }
                )
            mine.append(json.dumps({"points": pts}).encode())
        out.append(mine)
    return out


def load(base: str, tokens: list[str], work: list[list[bytes]], clients: int) -> dict[str, Any]:
    """Send every batch; client i sends the batches of drivers i, i+clients, ... round-robin."""
    latencies: list[float] = []
    accepted = [0]

    def client(i: int) -> None:
        mine = list(range(i, len(tokens), clients))
        with httpx.Client(base_url=base, timeout=60) as c:
            for b in range(len(work[0])):
                for d in mine:
                    headers = {
                        "Authorization": f"Bearer {tokens[d]}",
                        "Content-Type": "application/json",
                    }
                    t0 = time.perf_counter()
                    r = c.post("/v1/drivers/me/locations", content=work[d][b], headers=headers)
                    latencies.append(time.perf_counter() - t0)
                    r.raise_for_status()
                    body = r.json()
                    assert not body["rejected"] and not body["duplicates"], r.text[:300]
                    accepted[0] += body["accepted"]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    wall = time.perf_counter() - t0
    return {
        "requests": len(latencies),
        "points": accepted[0],
        "wall_s": wall,
        "rate": accepted[0] / wall,
        "p50_ms": pct(latencies, 50) * 1000,
        "p95_ms": pct(latencies, 95) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
    }


def stored(db: Database) -> tuple[int, int, int]:
    """(rows in locations, rows in the DEFAULT partition, day partitions)."""
    with db.admin() as conn:
        rows = conn.execute("select count(*) from locations").fetchone()
        default = conn.execute("select count(*) from pgx_locations_default").fetchone()
        parts = conn.execute(
            "select count(*) from pg_inherits where inhparent = 'locations'::regclass"
        ).fetchone()
    assert rows and default and parts
    return int(rows[0]), int(default[0]), int(parts[0]) - 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--drivers", type=int, default=40)
    ap.add_argument("--batches", type=int, default=25, help="Batches per driver.")
    ap.add_argument("--points", type=int, default=50, help="Points per batch.")
    ap.add_argument("--clients", type=int, default=8, help="Client threads.")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    cmd = "python bench/ingest_bench.py " + " ".join(sys.argv[1:])
    with postgres() as db:
        upkeep = maintain(db)
        t = cli(
            db, "tenant", "create", "--name", "Bench", "--admin-email", "b@example.com", "--json"
        )
        with server(db, workers=args.workers, **SERVER_ENV) as base:
            tokens = drivers(base, t["api_key"], args.drivers)
            span = args.batches * args.points + 30  # seconds of points per driver, + warm-up
            start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=span + 60)
            warm = bodies(tokens, 1, 30, start)
            load(base, tokens, warm, args.clients)  # connections, prepared statements: not counted
            work = bodies(tokens, args.batches, args.points, start + timedelta(seconds=30))
            result = load(base, tokens, work, args.clients)
        rows, in_default, parts = stored(db)
    print(
        f"ingest: {result['rate']:,.0f} points/s ({result['points']:,} points in "
        f"{result['requests']:,} requests of {args.points}, {args.drivers} drivers, "
        f"{args.clients} client threads); request p50 {result['p50_ms']:.1f} ms, "
        f"p95 {result['p95_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms"
    )
    print(f"stored {rows:,} rows ({in_default} in DEFAULT), {parts} day partitions")
    if args.dry_run:
        return
    lines = [
        "## Location ingest on PostgreSQL (issue 6)",
        "",
        f"Command: `{cmd.strip()}` (on {datetime.now(UTC):%Y-%m-%d}, {machine()}; PostgreSQL 15 on "
        f"the same machine; `lastmile serve --workers {args.workers}`; client: httpx threads on "
        "the same machine, so client, server and database share the 2 cores).",
        "",
        f"{args.drivers} driver users each post their own points to "
        f"`POST /v1/drivers/me/locations` in batches of {args.points} (one point a second, "
        f"{args.batches} batches each) from {args.clients} client threads with keep-alive "
        f"connections; RLS on, `locations` partitioned by day (partitions made first by "
        f"`lastmile tracking maintain`: {len(upkeep['created'])} created), every point "
        f"accepted. Each request is one multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING`, "
        f"one upsert of the driver's position and the commit.",
        "",
        f"**{result['rate']:,.0f} points/s** ({result['points']:,} points, "
        f"{result['requests']:,} requests in {result['wall_s']:.1f} s; request P50 "
        f"{result['p50_ms']:.1f} ms, P95 {result['p95_ms']:.1f} ms, P99 {result['p99_ms']:.1f} ms "
        f"at the client). Target 5,000 points/s: "
        f"{'PASS' if result['rate'] >= 5000 else 'FAIL'}. Stored afterwards: {rows:,} rows, "
        f"{in_default} of them in the DEFAULT partition.",
    ]
    write_section("ingest", "\n".join(lines))


if __name__ == "__main__":
    main()
