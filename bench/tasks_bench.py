"""Tasks on PostgreSQL: batch creation throughput, and filtered lists at 1,000,000 tasks.

    .venv/bin/python bench/tasks_bench.py [--batches 30] [--tasks 1000000] [--samples 200]

Writes its section of docs/benchmarks.md. Targets (issue 3): 5,000 tasks/s through
/v1/tasks/batch; P95 of a filtered task list under 30 ms at 1,000,000 tasks in one tenant.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Database, cli, machine, pct, postgres, server, write_section

TEAMS, DRIVERS, ZONES = 20, 200, 20


def batch_body(n: int, seed: int) -> dict[str, Any]:
    rnd = random.Random(seed)
    return {
        "tasks": [
            {
                "kind": "dropoff",
                "lat": 52.4 + rnd.random() * 0.2,
                "lng": 13.3 + rnd.random() * 0.2,
                "address": f"Street {i}",
                "recipient": {"name": "R", "phone": "+49301234567"},
                "quantities": {"parcels": 1 + i % 3},
                "metadata": {"channel": "pos", "n": i},
                "complete_after": "2026-12-01T08:00:00Z",
                "complete_before": "2026-12-01T18:00:00Z",
                "external_ref": f"B{seed}-{i}",
            }
            for i in range(n)
        ]
    }


def bench_batch(base: str, key: str, batches: int, clients: int) -> dict[str, Any]:
    bodies = [batch_body(1000, s) for s in range(batches)]
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, timeout=120) as c:  # warm-up, not counted
        c.post("/v1/tasks/batch", json=batch_body(100, 10_000), headers=headers).raise_for_status()
    latencies: list[float] = []

    def send(body: dict[str, Any]) -> None:
        with httpx.Client(base_url=base, timeout=120) as c:
            t0 = time.perf_counter()
            r = c.post("/v1/tasks/batch", json=body, headers=headers)
            latencies.append(time.perf_counter() - t0)
            r.raise_for_status()
            assert r.json()["created"] == len(body["tasks"]), r.text[:300]

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, bodies))
    wall = time.perf_counter() - t0
    return {
        "tasks": batches * 1000,
        "wall_s": wall,
        "rate": batches * 1000 / wall,
        "p50_ms": pct(latencies, 50) * 1000,
        "p95_ms": pct(latencies, 95) * 1000,
        "clients": clients,
    }


def seed_million(db: Database, tenant_id: str, n: int) -> dict[str, Any]:
    """n tasks in one tenant, written with SQL as the owner (the API would take minutes)."""
    t0 = time.perf_counter()
    with db.admin() as conn:
        conn.execute("SET synchronous_commit = off")
        now = datetime.now(UTC)
        conn.execute(
            "insert into teams (id, tenant_id, name, description, created_at, updated_at) "
            "select 'team_b' || g, %s, 'T' || g, '', %s, %s from generate_series(1, %s) g",
            (tenant_id, now, now, TEAMS),
        )
        conn.execute(
            "insert into zones (id, tenant_id, name, description, geometry, min_lat, min_lng, "
            "max_lat, max_lng, created_at, updated_at) select 'zon_b' || g, %s, 'Z' || g, '', "
            "'{}'::jsonb, 0, 0, 0, 0, %s, %s from generate_series(1, %s) g",
            (tenant_id, now, now, ZONES),
        )
        conn.execute(
            "insert into users (id, tenant_id, email, name, role, is_active, created_at, "
            "updated_at) select 'usr_b' || g, %s, 'd' || g || '@example.com', 'D', 'driver', "
            "true, %s, %s from generate_series(1, %s) g",
            (tenant_id, now, now, DRIVERS),
        )
        conn.execute(
            "insert into drivers (id, tenant_id, user_id, name, phone, skills, shift, on_duty, "
            "created_at, updated_at) select 'drv_b' || g, %s, 'usr_b' || g, 'D', '', '[]', '{}', "
            "true, %s, %s from generate_series(1, %s) g",
            (tenant_id, now, now, DRIVERS),
        )
        conn.execute(
            """
            insert into tasks (id, tenant_id, short_id, kind, state, external_ref, team_id,
              zone_id, driver_id, route_position, address, lat, lng, recipient_name,
              recipient_phone, recipient_notes, complete_after, complete_before, service_seconds,
              quantities, required_skills, priority, requirements, metadata, notes, created_at,
              updated_at)
            select 'tsk_m' || lpad(g::text, 8, '0'), %(t)s, 'M' || g,
              case when g %% 3 = 0 then 'pickup' else 'dropoff' end,
              (array['unassigned','assigned','started','arrived','completed','completed',
                     'completed','failed','cancelled','completed'])[1 + g %% 10],
              'EXT-' || g, 'team_b' || (1 + g %% %(teams)s), 'zon_b' || (1 + g %% %(zones)s),
              case when g %% 10 in (1,2,3,4,5,6,7) then 'drv_b' || (1 + g %% %(drivers)s) end,
              case when g %% 10 in (1,2,3) then g %% 40 end,
              'Street ' || g, 52.4 + (g %% 1000) / 5000.0, 13.3 + (g %% 997) / 5000.0, 'R',
              '+49301234567', '', now() - make_interval(days => g %% 90),
              now() - make_interval(days => g %% 90) + interval '4 hours', 120,
              '{"parcels": 1}'::jsonb, '[]'::jsonb, g %% 5, '{}'::jsonb,
              jsonb_build_object('channel', (array['pos','web','app','phone'])[1 + g %% 4],
                                 'store', 'S' || (g %% 50)),
              '', now() - make_interval(secs => g * 7.776), now()
            from generate_series(1, %(n)s) g
            """,
            {"t": tenant_id, "teams": TEAMS, "zones": ZONES, "drivers": DRIVERS, "n": n},
        )
        conn.execute("analyze tasks")
        conn.commit()
    return {"seed_s": time.perf_counter() - t0}


QUERIES = {
    "newest 50 (no filter)": {},
    "state=assigned": {"state": "assigned"},
    "state=unassigned&state=assigned": {"state": ["unassigned", "assigned"]},
    "team_id": {"team_id": "team_b7"},
    "driver_id&state=assigned": {"driver_id": "drv_b42", "state": "assigned"},
    "zone_id": {"zone_id": "zon_b3"},
    "metadata=channel:phone": {"metadata": "channel:phone"},
    "metadata=store:S7 (2%)": {"metadata": "store:S7"},
    "created in one day": {"created_after": "__day_start__", "created_before": "__day_end__"},
    "external_ref": {"external_ref": "EXT-777777"},
    "team_id, page 5 (cursor)": {"team_id": "team_b7", "__pages__": 5},
}


def bench_lists(base: str, key: str, samples: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    headers = {"Authorization": f"Bearer {key}"}
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with httpx.Client(base_url=base, timeout=30, headers=headers) as c:
        for name, q in QUERIES.items():
            params = {k: v for k, v in q.items() if not k.startswith("__")}
            for k, v in list(params.items()):
                if v == "__day_start__":
                    params[k] = (day - timedelta(days=30)).isoformat()
                if v == "__day_end__":
                    params[k] = (day - timedelta(days=29)).isoformat()
            pages = int(q.get("__pages__", 1))  # type: ignore[call-overload]
            cursor = None
            for _ in range(pages - 1):
                r = c.get(
                    "/v1/tasks",
                    params={**params, "limit": 50, **({"cursor": cursor} if cursor else {})},
                )
                cursor = r.json()["next_cursor"]
            if cursor:
                params["cursor"] = cursor
            lat: list[float] = []
            rows = 0
            for i in range(samples + 10):
                t0 = time.perf_counter()
                r = c.get("/v1/tasks", params={**params, "limit": 50})
                dt = time.perf_counter() - t0
                r.raise_for_status()
                rows = len(r.json()["data"])
                if i >= 10:
                    lat.append(dt * 1000)
            out[name] = {"p50": pct(lat, 50), "p95": pct(lat, 95), "max": max(lat), "rows": rows}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=1_000_000)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    cmd = "python bench/tasks_bench.py " + " ".join(sys.argv[1:])
    with postgres() as db:
        t = cli(
            db, "tenant", "create", "--name", "Bench", "--admin-email", "b@example.com", "--json"
        )
        big = cli(
            db, "tenant", "create", "--name", "Big", "--admin-email", "m@example.com", "--json"
        )
        seeded = seed_million(db, big["tenant_id"], args.tasks)
        print(f"seeded {args.tasks} tasks in {seeded['seed_s']:.0f} s")
        with server(db, workers=args.workers) as base:
            batch = bench_batch(base, t["api_key"], args.batches, args.clients)
            print(
                f"batch: {batch['rate']:.0f} tasks/s ({batch['tasks']} tasks, "
                f"{batch['clients']} clients, request p50 {batch['p50_ms']:.0f} ms)"
            )
            lists = bench_lists(base, big["api_key"], args.samples)
            for name, s in lists.items():
                print(
                    f"list {name:36s} p50 {s['p50']:6.1f} ms  p95 {s['p95']:6.1f} ms  rows {s['rows']:.0f}"
                )
    worst = max(s["p95"] for s in lists.values())
    lines = [
        "## Tasks on PostgreSQL: batch creation and filtered lists (issue 3)",
        "",
        f"Command: `{cmd.strip()}` (on {datetime.now(UTC):%Y-%m-%d}, {machine()}; PostgreSQL 15 on "
        f"the same machine; `lastmile serve --workers {args.workers}`; client: httpx from the same "
        "machine, so client, server and database share the 2 cores).",
        "",
        f"**Batch creation** through `POST /v1/tasks/batch` (1,000 tasks per request, "
        f"{args.clients} concurrent clients, {batch['tasks']:,} tasks with zones tagged, "
        f"history rows written, RLS on): **{batch['rate']:,.0f} tasks/s** "
        f"(request P50 {batch['p50_ms']:.0f} ms, P95 {batch['p95_ms']:.0f} ms). "
        f"Target 5,000/s: {'PASS' if batch['rate'] >= 5000 else 'FAIL'}.",
        "",
        f"**Filtered lists** with {args.tasks:,} tasks in one tenant (seeded by SQL in "
        f"{seeded['seed_s']:.0f} s; {TEAMS} teams, {DRIVERS} drivers, {ZONES} zones), "
        f"`GET /v1/tasks?limit=50&…`, {args.samples} sequential requests each, end-to-end "
        f"latency at the client. Target P95 < 30 ms: {'PASS' if worst < 30 else 'FAIL'} "
        f"(worst P95 {worst:.1f} ms).",
        "",
        "| filter | P50 ms | P95 ms | max ms | rows |",
        "|---|---|---|---|---|",
        *[
            f"| {n} | {s['p50']:.1f} | {s['p95']:.1f} | {s['max']:.1f} | {s['rows']:.0f} |"
            for n, s in lists.items()
        ],
    ]
    write_section("tasks", "\n".join(lines))


if __name__ == "__main__":
    main()
