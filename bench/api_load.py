"""Open-loop load test of an authenticated create-and-read endpoint on PostgreSQL.

`make bench` runs this file. It

1. creates a throwaway PostgreSQL database, migrated by the owner (`postgres`) while the
   application connects as the non-owner role `lastmile_app_bench`, so row-level security
   is active exactly as in production;
2. creates a tenant and its admin API key with `lastmile tenant create --json`;
3. starts the real server, `.venv/bin/lastmile serve --port P --workers N`, as its own
   process group;
4. runs the load generator as a separate process (this file with `--generate`): asyncio on
   uvloop with a minimal HTTP/1.1 keep-alive client (httptools parses the responses). It is
   open-loop: request k is due at t0 + k/rate whatever happened to earlier requests, and its
   latency runs from that due time to the last byte of the response, so a slow server (or a
   slow generator) cannot hide its queueing (no coordinated omission). Even-numbered arrivals
   `POST /v1/api-keys` (with an `Idempotency-Key`), odd ones `GET /v1/api-keys/{id}` of the
   newest key created so far;
5. scrapes the server's `/metrics`, prints the figures and writes them to
   `docs/benchmarks.md` (replacing only its own section);
6. stops the server and drops the database, also on errors and Ctrl-C.

Only loopback traffic. Every step has a timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import re
import resource
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DOC = ROOT / "docs" / "benchmarks.md"
APP_ROLE = "lastmile_app_bench"
SECTION = "api-load-create-and-read"
TITLE = "API load: create-and-read on PostgreSQL"
# Chosen by measurement on the 2-core machine, see docs/benchmarks.md: 2 workers did as well as
# 3 and better than 1 or 4; a pool of 20 connections per worker does not overflow under this
# load, while the default 10 (+10 overflow) opens and closes PostgreSQL sessions in bursts.
DEFAULT_WORKERS = "2"
DEFAULT_POOL_SIZE = 20


# --------------------------------------------------------------------------------------
# Load generator (runs in its own process: `api_load.py --generate ...`)
# --------------------------------------------------------------------------------------


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpResponseParser(self)
        self.transport: Any = None
        self.fut: asyncio.Future[tuple[int, bytes]] | None = None
        self.body = bytearray()
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except Exception as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("connection closed by server"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        status = self.parser.get_status_code()
        if not self.parser.should_keep_alive():
            self.close()
        body = bytes(self.body)
        self.body.clear()
        fut, self.fut = self.fut, None
        if fut is not None and not fut.done():
            fut.set_result((status, body))

    def _fail(self, exc: BaseException) -> None:
        self.close()
        fut, self.fut = self.fut, None
        if fut is not None and not fut.done():
            fut.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def send(self, raw: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None and self.fut is None
        self.fut = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return self.fut


class _Pool:
    """Keep-alive connections, opened when none is free (up to `max_size`) and reused last-in
    first-out, as a reverse proxy's upstream keep-alive cache does. Opened under load, a new
    connection is accepted by a uvicorn worker that is free to accept, which spreads the
    load; connections opened into an idle server pile up on one worker."""

    def __init__(self, host: str, port: int, size: int, max_size: int) -> None:
        self.host, self.port, self.size, self.max_size = host, port, size, max_size
        self.idle: deque[_Conn] = deque()
        self.open = 0
        self.opened_total = 0
        self.waiters: deque[asyncio.Future[_Conn]] = deque()
        self.waited = 0

    async def _connect(self) -> _Conn:
        self.open += 1
        self.opened_total += 1
        try:
            _, conn = await asyncio.get_running_loop().create_connection(
                _Conn, self.host, self.port
            )
        except BaseException:
            self.open -= 1
            raise
        return conn

    async def fill(self) -> None:
        # One at a time, spaced: uvicorn's workers share one listening socket and a worker
        # accepts every connection pending when it wakes, so a burst lands on one worker.
        for _ in range(self.size):
            self.idle.append(await self._connect())
            await asyncio.sleep(0.02)

    async def acquire(self) -> _Conn:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
            self.open -= 1
        if self.open < self.max_size:
            return await self._connect()
        self.waited += 1
        fut: asyncio.Future[_Conn] = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        return await fut

    def release(self, conn: _Conn, broken: bool) -> None:
        if broken or conn.closed:
            conn.close()
            self.open -= 1
            if self.waiters:  # replace the lost connection for whoever waits
                waiter = self.waiters.popleft()
                task = asyncio.ensure_future(self._connect())
                task.add_done_callback(lambda t: _hand(waiter, t))
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self.idle.append(conn)

    def close(self) -> None:
        for conn in self.idle:
            conn.close()


def _hand(waiter: asyncio.Future[_Conn], task: asyncio.Task[_Conn]) -> None:
    if waiter.done():
        return
    if task.exception() is not None:
        waiter.set_exception(task.exception())  # type: ignore[arg-type]
    else:
        waiter.set_result(task.result())


@dataclass
class _Sample:
    kind: str  # "POST" or "GET"
    due: float
    lag: float  # how late the generator actually sent it
    latency: float  # due time -> response complete
    status: int  # 0 on transport error / timeout
    error: str = ""


def _cpu_ticks_machine() -> tuple[int, int]:
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return sum(parts), sum(parts) - idle


def _proc_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return 0


def _postgres_pids(dbname: str) -> tuple[list[int], list[int]]:
    """(all postgres processes, backends connected to `dbname`)."""
    every, ours = [], []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/comm") as f:
                if f.read().strip() != "postgres":
                    continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        every.append(int(d))
        if f" {dbname} " in cmd:
            ours.append(int(d))
    return every, ours


def _cpu_snapshot(server_pids: list[int], dbname: str) -> dict[str, Any]:
    pg_all, pg_ours = _postgres_pids(dbname)
    total, busy = _cpu_ticks_machine()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "t": time.monotonic(),
        "total": total,
        "busy": busy,
        "server": {p: _proc_ticks(p) for p in server_pids},
        "pg_all": {p: _proc_ticks(p) for p in pg_all},
        "pg_ours": {p: _proc_ticks(p) for p in pg_ours},
        "self": ru.ru_utime + ru.ru_stime,
    }


def _cpu_delta(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """CPU used between two snapshots, in cores (1.0 = one core fully busy)."""
    hz = os.sysconf("SC_CLK_TCK")
    wall = b["t"] - a["t"]
    ncpu = os.cpu_count() or 1

    def group(name: str) -> float:
        ticks = sum(v - a[name].get(p, 0) for p, v in b[name].items())
        return ticks / hz / wall

    total = b["total"] - a["total"]
    out = {
        "machine_busy_cores": (b["busy"] - a["busy"]) / total * ncpu if total else 0.0,
        "server_cores": group("server"),
        "postgres_cores": group("pg_all"),
        "postgres_bench_backends_cores": group("pg_ours"),
        "generator_cores": (b["self"] - a["self"]) / wall,
    }
    known = out["server_cores"] + out["postgres_bench_backends_cores"] + out["generator_cores"]
    out["other_cores"] = max(0.0, out["machine_busy_cores"] - known)
    return out


async def _generate(args: argparse.Namespace) -> dict[str, Any]:
    host, port = "127.0.0.1", args.port
    auth = f"Authorization: Bearer {args.api_key}\r\n".encode()
    head = f"Host: {host}:{port}\r\n".encode()
    rate = args.rate
    warmup, duration = args.warmup, args.duration
    n_total = round(rate * (warmup + duration))
    n_warm = round(rate * warmup)
    newest_id = [args.seed_id]
    samples: list[_Sample] = []
    pool = _Pool(host, port, args.connections, args.max_connections)
    await pool.fill()
    server_pids = [int(p) for p in args.server_pids.split(",") if p]
    # Not loop.time(): uvloop's clock has millisecond steps and is read once per loop turn.
    clock = time.perf_counter

    def post_raw() -> bytes:
        body = json.dumps({"name": f"bench {secrets.token_hex(4)}", "role": "viewer"}).encode()
        return (
            b"POST /v1/api-keys HTTP/1.1\r\n"
            + head
            + auth
            + b"Content-Type: application/json\r\n"
            + f"Idempotency-Key: bench-{secrets.token_hex(12)}\r\n".encode()
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    def get_raw() -> bytes:
        return (
            f"GET /v1/api-keys/{newest_id[0]} HTTP/1.1\r\n".encode()
            + head
            + auth
            + b"Accept: application/json\r\n\r\n"
        )

    async def one(k: int, due: float) -> None:
        kind = "POST" if k % 2 == 0 else "GET"
        raw = post_raw() if kind == "POST" else get_raw()
        status, error, broken = 0, "", True
        conn = None
        sent = None
        try:
            async with asyncio.timeout(args.timeout):
                conn = await pool.acquire()
                sent = clock()
                status, body = await conn.send(raw)
            broken = False
            if kind == "POST" and status == 201:
                newest_id[0] = json.loads(body)["id"]
            elif status not in (200, 201):
                error = f"HTTP {status}"
        except TimeoutError:
            error = "timeout"
        except Exception as exc:
            error = type(exc).__name__
        finally:
            if conn is not None:
                pool.release(conn, broken)
        done = clock()
        if k >= n_warm:
            lag = (sent if sent is not None else done) - due
            samples.append(_Sample(kind, due, lag, done - due, status, error))

    tasks: set[asyncio.Task[None]] = set()
    cpu_a: dict[str, Any] | None = None
    if warmup <= 0:  # snapshot before the schedule starts: reading /proc takes a few ms
        cpu_a = _cpu_snapshot(server_pids, args.dbname)
    t0 = clock() + 0.05
    window_start = t0 + warmup
    k = 0
    while k < n_total:
        now = clock()
        if cpu_a is None and now >= window_start:
            cpu_a = _cpu_snapshot(server_pids, args.dbname)
        due = t0 + k / rate
        if due > now:
            await asyncio.sleep(due - now)
            continue
        while k < n_total and t0 + k / rate <= now:  # catch up: send every request now due
            task = asyncio.ensure_future(one(k, t0 + k / rate))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            k += 1
    last_due = t0 + (n_total - 1) / rate
    if tasks:
        await asyncio.wait(set(tasks), timeout=args.timeout + 5)
    window_end = clock()
    cpu_b = _cpu_snapshot(server_pids, args.dbname)
    pool.close()
    ok = [s for s in samples if not s.error]
    last_done = max((s.due + s.latency for s in ok), default=window_end)
    per_second: dict[int, list[float]] = {}
    for s in ok:
        per_second.setdefault(int(s.due - window_start), []).append(s.latency)
    timeline = [
        {"second": sec, "n": len(v), "p95_ms": _pct(sorted(v), 95) * 1000, "max_ms": max(v) * 1000}
        for sec, v in sorted(per_second.items())
    ]
    return {
        "measured_requests": n_total - n_warm,
        "completed_ok": len(ok),
        "errors": _count([s.error for s in samples if s.error]),
        "unfinished": len([t for t in tasks if not t.done()]),
        "sent_rate": (len(samples) - 1) / (last_due - window_start) if len(samples) > 1 else 0.0,
        "throughput": len(ok) / (last_done - window_start) if ok else 0.0,
        "window_s": window_end - window_start,
        "latency_ms": {
            "POST": _stats([s.latency for s in ok if s.kind == "POST"]),
            "GET": _stats([s.latency for s in ok if s.kind == "GET"]),
            "all": _stats([s.latency for s in ok]),
        },
        "send_lag_ms": _stats([s.lag for s in samples]),
        "connections": {
            "preopened": args.connections,
            "opened_total": pool.opened_total,
            "max": args.max_connections,
            "times_waited": pool.waited,
        },
        "cpu": _cpu_delta(cpu_a, cpu_b) if cpu_a else {},
        "timeline": timeline,
    }


def _count(items: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


def _pct(sorted_vals: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    idx = max(0, math.ceil(p / 100 * len(sorted_vals)) - 1)
    return sorted_vals[idx]


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    v = sorted(values)
    ms = 1000.0
    return {
        "n": len(v),
        "p50": _pct(v, 50) * ms,
        "p95": _pct(v, 95) * ms,
        "p99": _pct(v, 99) * ms,
        "max": v[-1] * ms,
        "mean": sum(v) / len(v) * ms,
    }


def generator_main(args: argparse.Namespace) -> None:
    try:
        import uvloop

        uvloop.install()
        loop_name = "uvloop"
    except ImportError:  # pragma: no cover
        loop_name = "asyncio"
    result = asyncio.run(_generate(args))
    result["event_loop"] = loop_name
    json.dump(result, sys.stdout)


# --------------------------------------------------------------------------------------
# Orchestration: database, tenant, server, generator, report, teardown
# --------------------------------------------------------------------------------------


class Abort(Exception):
    pass


def _on_signal(signum: int, _frame: Any) -> None:
    raise Abort(f"interrupted by signal {signum}")


@dataclass
class Env:
    admin_url: str = ""
    app_url: str = ""
    dbname: str = ""
    server: subprocess.Popen[bytes] | None = None
    server_log: Path | None = None
    notes: list[str] = field(default_factory=list)


def _plain(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(env: Env, base_url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    from lastmile.migrations import runner

    base = make_url(base_url)
    env.dbname = "lastmile_bench_" + secrets.token_hex(5)
    maint = _plain(base.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(maint, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{env.dbname}"')
    env.admin_url = base.set(database=env.dbname).render_as_string(hide_password=False)
    env.app_url = base.set(database=env.dbname, username=APP_ROLE, password=None).render_as_string(
        hide_password=False
    )
    runner.upgrade(env.admin_url, env.app_url)
    audit = runner.role_audit(env.app_url)
    if any(audit.values()):
        raise Abort(f"the app role could bypass row-level security: {audit}")


def drop_database(env: Env) -> None:
    if not env.dbname:
        return
    import psycopg
    from sqlalchemy.engine import make_url

    maint = _plain(
        make_url(env.admin_url).set(database="postgres").render_as_string(hide_password=False)
    )
    with psycopg.connect(maint, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{env.dbname}" WITH (FORCE)')
    env.dbname = ""


def server_env(env: Env, args: argparse.Namespace) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("LASTMILE_")}
    out.update(
        {
            "LASTMILE_DATABASE_URL": env.app_url,
            "LASTMILE_ENV": "development",
            "LASTMILE_RATE_LIMIT_PER_SECOND": "1000000",
            "LASTMILE_RATE_LIMIT_BURST": "1000000",
            "LASTMILE_LOG_LEVEL": "WARNING",
        }
    )
    if args.pool_size:
        out["LASTMILE_DATABASE_POOL_SIZE"] = str(args.pool_size)
    if args.redis_url:
        out["LASTMILE_REDIS_URL"] = args.redis_url
    return out


def create_tenant(env: Env, args: argparse.Namespace) -> dict[str, str]:
    cmd = [
        str(BIN / "lastmile"),
        "tenant",
        "create",
        "--name",
        "Bench tenant",
        "--admin-email",
        "bench-admin@example.com",
        "--json",
    ]
    res = subprocess.run(
        cmd, env=server_env(env, args), capture_output=True, timeout=60, check=False
    )
    if res.returncode != 0:
        raise Abort(f"lastmile tenant create failed: {res.stderr.decode()[-2000:]}")
    out: dict[str, str] = json.loads(res.stdout.decode().strip().splitlines()[-1])
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(env: Env, args: argparse.Namespace, workers: int, port: int) -> list[int]:
    import httpx

    env.server_log = Path(os.environ.get("TMPDIR", "/tmp")) / f"{env.dbname}-server.log"
    log = env.server_log.open("wb")
    cmd = [
        str(BIN / "lastmile"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    env.server = subprocess.Popen(
        cmd, env=server_env(env, args), stdout=log, stderr=log, start_new_session=True
    )
    deadline = time.monotonic() + 60
    url = f"http://127.0.0.1:{port}/readyz"
    while True:
        if env.server.poll() is not None:
            raise Abort(f"server exited ({env.server.returncode}); see {env.server_log}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise Abort("server not ready after 60 s")
        time.sleep(0.2)
    # uvicorn's workers are children of the supervisor: wait until all of them are up.
    pids = _descendants(env.server.pid)
    deadline = time.monotonic() + 30
    while workers > 1 and len(pids) < workers + 1 and time.monotonic() < deadline:
        time.sleep(0.2)
        pids = _descendants(env.server.pid)
    time.sleep(0.5 if workers > 1 else 0)
    return [env.server.pid, *_descendants(env.server.pid)]


def _descendants(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for child in f.read().split():
                    out.append(int(child))
                    out.extend(_descendants(int(child)))
    except OSError:
        pass
    return out


def stop_server(env: Env) -> None:
    proc, env.server = env.server, None
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)  # the group this script created for the server
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+\S+)?$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
ROUTES = {("POST", "/v1/api-keys"): "POST", ("GET", "/v1/api-keys/{key_id}"): "GET"}


def _parse_metrics(text: str) -> tuple[dict[str, dict[float, float]], float]:
    buckets: dict[str, dict[float, float]] = {"POST": {}, "GET": {}}
    start = 0.0
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if not m:
            continue
        name, labels_raw, value = m.group(1), m.group(2) or "", float(m.group(3))
        if name == "process_start_time_seconds":
            start = value
        if name != "lastmile_http_request_duration_seconds_bucket":
            continue
        labels = dict(_LABEL.findall(labels_raw))
        kind = ROUTES.get((labels.get("method", ""), labels.get("route", "")))
        if kind:
            le = math.inf if labels["le"] == "+Inf" else float(labels["le"])
            buckets[kind][le] = value
    return buckets, start


def _worker_ident(text: str) -> tuple[float, float, float]:
    """Tells workers apart once the load has stopped: start time and request counts."""
    b, start = _parse_metrics(text)
    return start, max(b["POST"].values(), default=0), max(b["GET"].values(), default=0)


def _hist_quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus histogram_quantile(): linear interpolation inside the bucket."""
    if not buckets:
        return None
    les = sorted(buckets)
    total = buckets[les[-1]]
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le in les:
        count = buckets[le]
        if count >= rank:
            if math.isinf(le):
                return prev_le
            if count == prev_count:
                return le
            return prev_le + (le - prev_le) * (rank - prev_count) / (count - prev_count)
        prev_le, prev_count = le, count
    return les[-1]


def scrape_metrics(port: int, workers: int) -> dict[str, Any]:
    """Each uvicorn worker keeps its own Prometheus registry (no multiprocess mode): scrape
    over new connections until every worker answered, and add them up."""

    async def scrape_all() -> list[str]:
        loop = asyncio.get_running_loop()
        raw = f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        texts: list[str] = []
        for _ in range(40 * workers):  # each new connection is a fresh race between workers
            _, conn = await loop.create_connection(_Conn, "127.0.0.1", port)
            try:
                async with asyncio.timeout(10):
                    status, body = await conn.send(raw)
            finally:
                conn.close()
            if status == 200:
                texts.append(body.decode())
            if len({_worker_ident(t) for t in texts}) >= workers:
                break
            await asyncio.sleep(0.01)
        return texts

    seen: dict[tuple[float, float, float], dict[str, dict[float, float]]] = {}
    deadline = time.monotonic() + 30
    previous: set[tuple[float, float, float]] = set()
    while True:  # an overloaded server still works off requests its clients gave up on
        seen.clear()
        for text in asyncio.run(scrape_all()):
            seen[_worker_ident(text)] = _parse_metrics(text)[0]
        if (len(seen) <= workers and set(seen) == previous) or time.monotonic() > deadline:
            break
        previous = set(seen)
        time.sleep(0.5)
    merged: dict[str, dict[float, float]] = {"POST": {}, "GET": {}, "all": {}}
    for b in seen.values():
        for kind in ("POST", "GET"):
            for le, v in b[kind].items():
                merged[kind][le] = merged[kind].get(le, 0) + v
                merged["all"][le] = merged["all"].get(le, 0) + v
    per_worker = sorted(
        int(max(b["POST"].values(), default=0) + max(b["GET"].values(), default=0))
        for b in seen.values()
    )
    return {"workers_seen": len(seen), "requests_per_worker": per_worker, "buckets": merged}


def server_quantiles(final: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """Quantiles of the server's own histogram over the measured window (final - baseline)."""
    window = {
        kind: {le: v - base["buckets"][kind].get(le, 0) for le, v in b.items()}
        for kind, b in final["buckets"].items()
    }
    return {
        "workers_seen": min(final["workers_seen"], base["workers_seen"]),
        "requests_per_worker": final["requests_per_worker"],
        "p50_ms": {k: _ms(_hist_quantile(0.50, v)) for k, v in window.items()},
        "p95_ms": {k: _ms(_hist_quantile(0.95, v)) for k, v in window.items()},
        "p99_ms": {k: _ms(_hist_quantile(0.99, v)) for k, v in window.items()},
    }


def _ms(v: float | None) -> float | None:
    return None if v is None else v * 1000


def run_generator(
    env: Env,
    args: argparse.Namespace,
    port: int,
    key: str,
    seed_id: str,
    server_pids: list[int],
    duration: float,
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--generate",
        "--port",
        str(port),
        "--api-key",
        key,
        "--seed-id",
        seed_id,
        "--rate",
        str(args.rate),
        "--duration",
        str(duration),
        "--warmup",
        "0",
        "--connections",
        str(args.connections),
        "--max-connections",
        str(args.max_connections),
        "--timeout",
        str(args.timeout),
        "--server-pids",
        ",".join(map(str, server_pids)),
        "--dbname",
        env.dbname,
    ]
    bound = duration + args.timeout + 60
    res = subprocess.run(cmd, capture_output=True, timeout=bound, check=False)
    if res.returncode != 0:
        raise Abort(f"load generator failed: {res.stderr.decode()[-3000:]}")
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def machine_busy_cores(seconds: float = 2.0) -> float:
    a = _cpu_ticks_machine()
    time.sleep(seconds)
    b = _cpu_ticks_machine()
    total = b[0] - a[0]
    return (b[1] - a[1]) / total * (os.cpu_count() or 1) if total else 0.0


def wait_for_idle(limit: float, threshold: float = 0.15) -> float:
    """Wait (at most `limit` seconds) until other work on the machine uses less than
    `threshold` cores; returns the last reading. The figures are only as good as the quiet."""
    deadline = time.monotonic() + limit
    busy = machine_busy_cores()
    while busy > threshold and time.monotonic() < deadline:
        print(f"   machine busy ({busy:.2f} cores in use), waiting for quiet...", flush=True)
        time.sleep(5)
        busy = machine_busy_cores()
    return busy


def pg_sessions(env: Env) -> int:
    """Sessions ever opened on the bench database (PostgreSQL's own counter)."""
    import psycopg

    with psycopg.connect(_plain(env.admin_url), autocommit=True, connect_timeout=10) as conn:
        row = conn.execute(
            "select sessions from pg_stat_database where datname = %s", (env.dbname,)
        ).fetchone()
        return int(row[0]) if row else 0


def one_run(
    env: Env, args: argparse.Namespace, workers: int, tenant: dict[str, str]
) -> dict[str, Any]:
    import httpx

    port = args.port or free_port()
    print(f"-- {workers} worker(s) on 127.0.0.1:{port}", flush=True)
    pids = start_server(env, args, workers, port)
    try:
        me = httpx.get(
            f"http://127.0.0.1:{port}/v1/me",
            timeout=10,
            headers={"Authorization": f"Bearer {tenant['api_key']}"},
        )
        if me.status_code != 200:
            raise Abort(f"/v1/me answered {me.status_code}: {me.text}")
        seed = me.json()["actor_id"]
        idle_before = wait_for_idle(args.wait_idle) if args.wait_idle > 0 else None
        if args.warmup > 0:  # same load, not measured: JIT-free Python still has caches to fill
            warm = run_generator(env, args, port, tenant["api_key"], seed, pids, args.warmup)
            print(f"   warm-up: {warm['completed_ok']} ok, errors {warm['errors']}", flush=True)
        baseline = scrape_metrics(port, workers)
        load = os.getloadavg()
        sessions_before = pg_sessions(env)
        result = run_generator(env, args, port, tenant["api_key"], seed, pids, args.duration)
        result["server_metrics"] = server_quantiles(scrape_metrics(port, workers), baseline)
        result["workers"] = workers
        result["pg_sessions_opened"] = pg_sessions(env) - sessions_before
        result["loadavg_before"] = load
        result["busy_before"] = idle_before
        return result
    finally:
        stop_server(env)


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    pg = "unknown"
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(
            _plain(
                os.environ.get(
                    "LASTMILE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
                )
            ),
            connect_timeout=5,
        ) as c:
            row = c.execute("show server_version").fetchone()
            pg = str(row[0]) if row else pg
            row = c.execute("show synchronous_commit").fetchone()
            pg += f" (synchronous_commit={row[0] if row else '?'})"
    mem = "?"
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        mem = f"{int(f.readline().split()[1]) // 1024 // 1024} GiB"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "mem": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": pg,
    }


def _f(v: Any) -> str:
    return "n/a" if v is None else f"{v:.1f}"


def verdict(r: dict[str, Any], args: argparse.Namespace) -> tuple[bool, str]:
    p95 = r["latency_ms"]["all"].get("p95")
    errors = sum(r["errors"].values()) + r["unfinished"]
    rate_ok = r["throughput"] >= 0.98 * args.rate
    ok = p95 is not None and p95 < args.target_p95_ms and rate_ok and errors == 0
    why = (
        f"P95 {_f(p95)} ms {'<' if p95 is not None and p95 < args.target_p95_ms else '>='} "
        f"{args.target_p95_ms:g} ms, {r['throughput']:.1f} req/s achieved of "
        f"{args.rate:g}, {errors} errors"
    )
    return ok, why


def render(
    results: list[dict[str, Any]], args: argparse.Namespace, command: str, mach: dict[str, str]
) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"## {TITLE}",
        "",
        f"Produced by `{command}` on {when}.",
        "",
        "- Workload: open-loop, even arrivals `POST /v1/api-keys` "
        '(`{"name": …, "role": "viewer"}` with a fresh `Idempotency-Key`), odd arrivals '
        "`GET /v1/api-keys/{id}` of the newest key created; every request authenticated "
        "with the tenant's admin API key (`Authorization: Bearer lmk_…`). Each HTTP request "
        "counts.",
        f"- Target: P95 < {args.target_p95_ms:g} ms at {args.rate:g} requests/s, "
        f"{args.duration:g} s measured after {args.warmup:g} s warm-up.",
        f"- Machine: {mach['nproc']} cores, {mach['cpu']}, {mach['mem']} RAM, "
        f"Linux {mach['kernel']}, Python {mach['python']}, PostgreSQL {mach['postgres']}.",
        "- Database: a throwaway PostgreSQL database, migrated by the owner; the server "
        f"connects as the non-owner role `{APP_ROLE}` (row-level security enforced).",
        "- Server: `lastmile serve --workers N` (uvicorn, uvloop + httptools), "
        "`LASTMILE_ENV=development`, `LASTMILE_LOG_LEVEL=WARNING`, rate limit raised to "
        f"10⁶/s, {'Redis rate limiter' if args.redis_url else 'in-process rate limiter'}, "
        f"DB pool per worker: "
        f"{f'LASTMILE_DATABASE_POOL_SIZE={args.pool_size}' if args.pool_size else 'default'} "
        "(as many again may overflow).",
        "- Load generator: `bench/api_load.py --generate`, a separate process on the same "
        "machine: Python asyncio on uvloop, a minimal HTTP/1.1 keep-alive client "
        f"(httptools parser); keep-alive connections opened on demand (at most "
        f"{args.max_connections}) and reused last-in first-out, like a reverse proxy's "
        "upstream pool. Latency is measured from each request's scheduled "
        "send time to the end of its response (no coordinated omission).",
        "",
    ]
    head = (
        "| workers | verdict | achieved req/s | errors | endpoint | P50 ms | P95 ms "
        "| P99 ms | max ms | server P95 ms |"
    )
    lines += [head, "|" + "---|" * 10]
    for r in results:
        ok, _ = verdict(r, args)
        errs = sum(r["errors"].values()) + r["unfinished"]
        sm = r["server_metrics"]
        lead = [
            str(r["workers"]),
            "**PASS**" if ok else "**FAIL**",
            f"{r['throughput']:.1f}",
            str(errs),
        ]
        for kind in ("POST", "GET", "all"):
            s = r["latency_ms"][kind]
            label = {
                "POST": "POST /v1/api-keys",
                "GET": "GET /v1/api-keys/{id}",
                "all": "**combined**",
            }[kind]
            cells = [
                *lead,
                label,
                _f(s.get("p50")),
                _f(s.get("p95")),
                _f(s.get("p99")),
                _f(s.get("max")),
                _f(sm["p95_ms"].get(kind)),
            ]
            lines.append("| " + " | ".join(cells) + " |")
            lead = ["", "", "", ""]
    if len(results) > 1:
        p95s = sorted(r["latency_ms"]["all"].get("p95", math.inf) for r in results)
        passed = sum(verdict(r, args)[0] for r in results)
        lines += [
            "",
            f"Combined P95 over the {len(results)} runs: min {p95s[0]:.1f} ms, median "
            f"{p95s[len(p95s) // 2]:.1f} ms, max {p95s[-1]:.1f} ms; {passed} of {len(results)} "
            "runs pass.",
        ]
    lines += ["", "Per run:", ""]
    for r in results:
        ok, why = verdict(r, args)
        cpu = r.get("cpu", {})
        sm = r["server_metrics"]
        lag = r["send_lag_ms"]
        lines.append(
            f"- {r['workers']} worker(s): {'PASS' if ok else 'FAIL'} ({why}); "
            f"sent {r['sent_rate']:.1f} req/s, {r['completed_ok']} ok responses in "
            f"{r['window_s']:.1f} s; errors {r['errors'] or 'none'}; "
            f"generator send lag P99 {_f(lag.get('p99'))} ms; "
            f"{r['connections']['opened_total']} client connections, "
            f"{r.get('pg_sessions_opened')} new PostgreSQL sessions; CPU in cores (of "
            f"{mach['nproc']}): machine {cpu.get('machine_busy_cores', 0):.2f}, "
            f"server {cpu.get('server_cores', 0):.2f}, PostgreSQL "
            f"{cpu.get('postgres_cores', 0):.2f} (bench backends "
            f"{cpu.get('postgres_bench_backends_cores', 0):.2f}), generator "
            f"{cpu.get('generator_cores', 0):.2f}, everything else "
            f"{cpu.get('other_cores', 0):.2f}{_disturbed(r)}"
            f"; load average before "
            f"{r['loadavg_before'][0]:.2f}; server histogram (measured window only, "
            f"interpolated in buckets 5/10/20/50 ms) from {sm['workers_seen']}/{r['workers']} "
            f"worker(s); API requests served per worker, warm-up included: "
            f"{sm['requests_per_worker']}."
        )
    lines.append("")
    return "\n".join(lines)


def _disturbed(r: dict[str, Any]) -> str:
    other = r.get("cpu", {}).get("other_cores", 0.0)
    if other <= 0.25:
        return ""
    if (r.get("pg_sessions_opened") or 0) > 2:
        return (
            " (includes PostgreSQL sessions opened and closed during the run: the pool overflowed)"
        )
    return " (DISTURBED: other work shared the CPU)"


def write_doc(section: str) -> None:
    start, end = f"<!-- bench:{SECTION}:start -->", f"<!-- bench:{SECTION}:end -->"
    block = f"{start}\n{section}\n{end}"
    text = (
        DOC.read_text()
        if DOC.exists()
        else (
            "# Benchmarks\n\nEach section is written by the command it names; re-running that "
            "command replaces only its own section.\n"
        )
    )
    if start in text and end in text:
        before, rest = text.split(start, 1)
        after = rest.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)


def print_summary(r: dict[str, Any], args: argparse.Namespace) -> None:
    ok, why = verdict(r, args)
    print(f"   {'PASS' if ok else 'FAIL'}: {why}")
    for kind in ("POST", "GET", "all"):
        s = r["latency_ms"][kind]
        print(
            f"   {kind:4s} n={s.get('n', 0):6d} p50={_f(s.get('p50'))} p95={_f(s.get('p95'))} "
            f"p99={_f(s.get('p99'))} max={_f(s.get('max'))} ms; server p95 "
            f"{_f(r['server_metrics']['p95_ms'].get(kind))} ms"
        )
    worst = sorted(r.get("timeline", []), key=lambda t: -t["p95_ms"])[:3]
    print(
        "   worst seconds: "
        + ", ".join(f"t={t['second']}s p95={t['p95_ms']:.1f} max={t['max_ms']:.1f}" for t in worst)
    )
    print(
        f"   cpu {json.dumps({k: round(v, 2) for k, v in r.get('cpu', {}).items()})}; "
        f"errors {r['errors']}; send lag p99 {_f(r['send_lag_ms'].get('p99'))} ms; "
        f"connections {r['connections']['opened_total']}; "
        f"new PostgreSQL sessions {r.get('pg_sessions_opened')}; "
        f"per worker {r['server_metrics']['requests_per_worker']}",
        flush=True,
    )


def save_raw(results: list[dict[str, Any]]) -> Path:
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"api_load-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=1, default=str))
    return path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=300.0, help="requests per second (all kinds)")
    p.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    p.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds first")
    p.add_argument(
        "--workers",
        default=DEFAULT_WORKERS,
        help="uvicorn workers; a comma list runs one measurement per value",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs per worker count")
    p.add_argument("--target-p95-ms", type=float, default=20.0)
    p.add_argument(
        "--connections", type=int, default=0, help="connections opened before the load starts"
    )
    p.add_argument("--max-connections", type=int, default=256)
    p.add_argument("--timeout", type=float, default=10.0, help="per request, seconds")
    p.add_argument(
        "--pool-size",
        type=int,
        default=DEFAULT_POOL_SIZE,
        help="LASTMILE_DATABASE_POOL_SIZE per worker (0: the application's default)",
    )
    p.add_argument("--redis-url", default="", help="use the Redis rate limiter")
    p.add_argument(
        "--pg-url",
        default=os.environ.get("LASTMILE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/"),
        help="PostgreSQL superuser URL (a throwaway database is created there)",
    )
    p.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    p.add_argument(
        "--wait-idle",
        type=float,
        default=180.0,
        help="before each run, wait up to this many seconds for other work to stop (0: no)",
    )
    p.add_argument("--no-write", action="store_true", help=f"do not update {DOC.name}")
    # the generator process
    p.add_argument("--generate", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--api-key", help=argparse.SUPPRESS)
    p.add_argument("--seed-id", help=argparse.SUPPRESS)
    p.add_argument("--server-pids", default="", help=argparse.SUPPRESS)
    p.add_argument("--dbname", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.generate:
        generator_main(args)
        return 0

    command = (
        "make bench"
        if os.environ.get("MAKELEVEL") and len(sys.argv) == 1
        else (
            ".venv/bin/python bench/api_load.py"
            + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])
        )
    )
    workers_list = [int(w) for w in str(args.workers).split(",") for _ in range(args.repeat)]
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    env = Env()
    results: list[dict[str, Any]] = []
    try:
        mach = machine()
        print(f"machine: {mach}", flush=True)
        create_database(env, args.pg_url)
        print(f"database {env.dbname} (app role {APP_ROLE}, RLS enforced)", flush=True)
        tenant = create_tenant(env, args)
        for w in workers_list:
            r = one_run(env, args, w, tenant)
            print_summary(r, args)
            results.append(r)
    except (Abort, KeyboardInterrupt, subprocess.TimeoutExpired) as exc:
        print(f"benchmark aborted: {exc}", file=sys.stderr)
        if env.server_log and env.server_log.exists():
            tail = env.server_log.read_bytes()[-3000:].decode(errors="replace")
            print(f"server log tail:\n{tail}", file=sys.stderr)
        return 2
    finally:
        stop_server(env)
        try:
            drop_database(env)
        except Exception as exc:
            print(f"warning: could not drop {env.dbname}: {exc}", file=sys.stderr)
        if env.server_log and env.server_log.exists():
            env.server_log.unlink()
    if results:
        print(f"raw results: {save_raw(results).relative_to(ROOT)}")
    section = render(results, args, command, mach)
    print()
    print(section)
    if not args.no_write:
        write_doc(section)
        print(f"written to {DOC.relative_to(ROOT)}")
    return 0 if all(verdict(r, args)[0] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
