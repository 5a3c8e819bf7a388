"""Route planning and insertion through the API on PostgreSQL (issue 4 acceptance).

    .venv/bin/python bench/dispatch_bench.py [--runs 20] [--budget 1.5] [--inserts 200]

1. A plan of 200 tasks (windows, pickup-and-drop-off pairs, a skill) for 20 drivers,
   `POST /v1/route-plans?wait=true`, timed end to end at the client, `--runs` times.
   Target: P99 under 2 s.
2. Insertion: 50 drivers with 20 assigned stops each in a team whose auto-assign mode is
   `insert`; `--inserts` new tasks created one by one with `POST /v1/tasks`, each placed in the
   live routes inside the request. Compared with the same creation in a team with auto-assign off
   (the difference is what insertion costs). Target: insertion under 50 ms at P95.

Writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import random
import secrets
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import cli, machine, pct, postgres, server, write_section

HUB = (52.52, 13.405)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def midday_zone() -> str:
    offset = 12 - datetime.now(UTC).hour
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class Api:
    def __init__(self, base: str, key: str) -> None:
        self.c = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120
        )

    def call(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.c.request(method, path, **kw)
        if r.status_code != status:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return r.json()


def fleet(
    api: Api, drivers: int, mode: str, capacity: float, skilled_share: float
) -> tuple[str, list[str]]:
    zone = midday_zone()
    hub = api.call(
        "POST",
        "/v1/hubs",
        201,
        json={"name": "Depot", "lat": HUB[0], "lng": HUB[1], "timezone": zone},
    )
    team = api.call(
        "POST",
        "/v1/teams",
        201,
        json={"name": f"T {secrets.token_hex(3)}", "hub_id": hub["id"], "auto_assign": mode},
    )
    ids = []
    for i in range(drivers):
        user = api.call(
            "POST",
            "/v1/users",
            201,
            json={
                "email": f"d{secrets.token_hex(5)}@example.com",
                "role": "driver",
                "name": f"D{i}",
                "password": "bench-password-123",
            },
        )
        van = api.call(
            "POST",
            "/v1/vehicles",
            201,
            json={"name": f"Van {i}", "type": "van", "capacity": {"parcels": capacity}},
        )
        skills = ["cold_chain"] if i < drivers * skilled_share else []
        d = api.call(
            "POST",
            "/v1/drivers",
            201,
            json={
                "user_id": user["id"],
                "team_ids": [team["id"]],
                "vehicle_id": van["id"],
                "skills": skills,
                "shift": {day: {"start": "06:00", "end": "22:00"} for day in DAYS},
                "start_place": {"hub_id": hub["id"]},
                "end_place": {"hub_id": hub["id"]},
            },
        )
        api.call("POST", f"/v1/drivers/{d['id']}/duty", json={"on_duty": True})
        ids.append(d["id"])
    return team["id"], ids


def task_body(
    rnd: random.Random, team_id: str, now: datetime, spread: float = 1.0, **extra: Any
) -> dict[str, Any]:
    start = now + timedelta(minutes=rnd.randrange(0, 240))
    return {
        "kind": "dropoff",
        "lat": HUB[0] + rnd.uniform(-0.08, 0.08) * spread,
        "lng": HUB[1] + rnd.uniform(-0.12, 0.12) * spread,
        "team_id": team_id,
        "service_seconds": 180,
        "quantities": {"parcels": rnd.randint(1, 3)},
        "complete_after": iso(start),
        "complete_before": iso(start + timedelta(hours=3)),
        **extra,
    }


def bench_plan(api: Api, runs: int, budget: float) -> dict[str, Any]:
    rnd = random.Random(4)
    team_id, drivers = fleet(api, 20, "off", 40, 0.5)
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    ids: list[str] = []
    for i in range(140):
        extra = {"required_skills": ["cold_chain"]} if i % 5 == 0 else {}
        ids.append(
            api.call("POST", "/v1/tasks", 201, json=task_body(rnd, team_id, now, **extra))["id"]
        )
    for _ in range(30):
        p = api.call("POST", "/v1/tasks", 201, json=task_body(rnd, team_id, now, kind="pickup"))
        d = api.call(
            "POST", "/v1/tasks", 201, json=task_body(rnd, team_id, now, depends_on=p["id"])
        )
        ids += [p["id"], d["id"]]
    times, served, engines = [], [], set()
    body = {
        "task_ids": ids,
        "driver_ids": drivers,
        "time_budget_seconds": budget,
        "objective": "vehicles",
    }
    for _ in range(runs):
        t0 = time.perf_counter()
        plan = api.call("POST", "/v1/route-plans", 201, params={"wait": "true"}, json=body)
        times.append(time.perf_counter() - t0)
        assert plan["status"] == "done", plan["status"]
        served.append(plan["summary"]["assigned"])
        engines.add(plan["engine"])
    return {"times": times, "served": served, "engines": sorted(engines), "tasks": len(ids)}


def bench_insert(api: Api, inserts: int, stops: int) -> dict[str, Any]:
    rnd = random.Random(7)
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    team_id, drivers = fleet(api, 50, "off", 1000, 1.0)
    for driver in drivers:
        rows = []
        for _ in range(stops):  # a compact district, visited nearest first
            b = task_body(rnd, team_id, now, spread=0.3)
            b["complete_after"] = iso(now)
            b["complete_before"] = iso(now + timedelta(hours=12))
            rows.append(b)
        here, ordered = HUB, []
        while rows:
            nxt = min(rows, key=lambda r: (r["lat"] - here[0]) ** 2 + (r["lng"] - here[1]) ** 2)
            rows.remove(nxt)
            ordered.append(nxt)
            here = (nxt["lat"], nxt["lng"])
        made = api.call("POST", "/v1/tasks/batch", 200, json={"tasks": ordered})
        tids = [r["task"]["id"] for r in made["results"]]
        api.call("POST", "/v1/tasks/bulk-assign", json={"driver_id": driver, "task_ids": tids})

    def create(n: int) -> list[float]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            made = api.call("POST", "/v1/tasks", 201, json=task_body(rnd, team_id, now, 0.3))
            out.append(time.perf_counter() - t0)
            created.append(made)
        return out

    created: list[dict[str, Any]] = []
    off = create(inserts)
    api.call("PATCH", f"/v1/teams/{team_id}", json={"auto_assign": "insert"})
    created.clear()
    on = create(inserts)
    placed = sum(1 for t in created if t["driver_id"])
    return {"off": off, "on": on, "placed": placed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--budget", type=float, default=1.5)
    ap.add_argument("--inserts", type=int, default=200)
    ap.add_argument("--stops", type=int, default=20)
    args = ap.parse_args()
    cmd = "python bench/dispatch_bench.py " + " ".join(sys.argv[1:])
    with postgres() as db:
        t = cli(
            db, "tenant", "create", "--name", "Bench", "--admin-email", "b@example.com", "--json"
        )
        with server(db, workers=2) as base:
            api = Api(base, t["api_key"])
            plan = bench_plan(api, args.runs, args.budget)
            ms = [x * 1000 for x in plan["times"]]
            print(
                f"plan {plan['tasks']} tasks x 20 drivers: p50 {pct(ms, 50):.0f} ms p95 {pct(ms, 95):.0f} ms p99 {pct(ms, 99):.0f} ms max {max(ms):.0f} ms; served {min(plan['served'])}-{max(plan['served'])}"
            )
            ins = bench_insert(api, args.inserts, args.stops)
    off = [x * 1000 for x in ins["off"]]
    on = [x * 1000 for x in ins["on"]]
    added = pct(on, 95) - pct(off, 95)
    print(
        f"create, auto-assign off: p50 {pct(off, 50):.1f} p95 {pct(off, 95):.1f} ms; insert: p50 {pct(on, 50):.1f} p95 {pct(on, 95):.1f} ms; placed {ins['placed']}/{args.inserts}"
    )
    lines = [
        "## Route planning and insertion through the API (issue 4)",
        "",
        f"Command: `{cmd.strip()}` (on {datetime.now(UTC):%Y-%m-%d}, {machine()}; PostgreSQL 15 and "
        "`lastmile serve --workers 2` on the same machine, offline travel times; client: httpx, "
        "sequential, same machine).",
        "",
        f"**Plan**: {plan['tasks']} tasks (140 drop-offs with 3-hour windows, a fifth of them needing "
        f"the `cold_chain` skill that half the drivers have, and 30 pickup-and-drop-off pairs) for 20 "
        f"drivers with vans, objective `vehicles`, `time_budget_seconds` {args.budget}, "
        f"`POST /v1/route-plans?wait=true` timed at the client, {args.runs} runs "
        f"(engine: {', '.join(plan['engines'])}; tasks served per run {min(plan['served'])} to "
        f"{max(plan['served'])} of {plan['tasks']}):",
        "",
        "| P50 ms | P95 ms | P99 ms | max ms | target P99 < 2,000 ms |",
        "|---|---|---|---|---|",
        f"| {pct(ms, 50):.0f} | {pct(ms, 95):.0f} | {pct(ms, 99):.0f} | {max(ms):.0f} | "
        f"{'PASS' if pct(ms, 99) < 2000 else 'FAIL'} |",
        "",
        f"**Insertion**: 50 drivers with {args.stops} assigned stops each; {args.inserts} new tasks "
        "created one by one with `POST /v1/tasks` in a team with auto-assign `off`, then the same "
        f"number with `insert` (each placed in the live routes inside the request; {ins['placed']} "
        f"of {args.inserts} placed). Request latency at the client:",
        "",
        "| mode | P50 ms | P95 ms | P99 ms |",
        "|---|---|---|---|",
        f"| off | {pct(off, 50):.1f} | {pct(off, 95):.1f} | {pct(off, 99):.1f} |",
        f"| insert | {pct(on, 50):.1f} | {pct(on, 95):.1f} | {pct(on, 99):.1f} |",
        "",
        f"What insertion adds at P95 (insert minus off): {added:.1f} ms; target under 50 ms: "
        f"{'PASS' if added < 50 else 'FAIL'}; the whole insert-mode request, creation included: "
        f"P95 {pct(on, 95):.1f} ms. Insertion is choosing the 8 drivers whose routes pass closest "
        "(one SQL row per driver: its stop nearest the new task), loading those routes and their "
        "travel-time matrix, the search and the assignment writes: 14 SQL statements on top of "
        "the 10 of the creation (counted with an SQLAlchemy cursor hook). The search alone "
        "(bench/insertion_bench.py) takes a few ms; most of the rest is database round trips and "
        "building the problem.",
    ]
    write_section("dispatch", "\n".join(lines))


if __name__ == "__main__":
    main()
