"""Shared by the benchmarks: a throwaway PostgreSQL database, a real server process, the doc."""

from __future__ import annotations

import json
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
BIN = Path(sys.executable).parent
APP_ROLE = "lastmile_app_bench"


@dataclass
class Database:
    name: str
    admin_url: str
    app_url: str

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(make_url(self.admin_url).render_as_string(hide_password=False))


@contextmanager
def postgres(base: str | None = None) -> Iterator[Database]:
    """A migrated database whose app role does not own the tables (RLS applies); dropped after."""
    from lastmile.migrations import runner

    url = make_url(
        base
        or os.environ.get("LASTMILE_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/")
    )
    name = "lastmile_bench_" + secrets.token_hex(4)
    root = url.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(root, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(
        name,
        url.set(database=name).render_as_string(hide_password=False),
        url.set(database=name, username=APP_ROLE, password=None).render_as_string(
            hide_password=False
        ),
    )
    try:
        runner.upgrade(db.admin_url, db.app_url)
        yield db
    finally:
        with psycopg.connect(root, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cli(db: Database, *args: str) -> dict[str, str]:
    env = {**os.environ, "LASTMILE_DATABASE_URL": db.app_url, "LASTMILE_LOG_LEVEL": "WARNING"}
    out = subprocess.run(
        [str(BIN / "lastmile"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(out.stdout))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(db: Database, workers: int = 2, **env: str) -> Iterator[str]:
    """`lastmile serve` as its own process group on a free loopback port; stopped after."""
    port = free_port()
    e = {
        **os.environ,
        "LASTMILE_DATABASE_URL": db.app_url,
        "LASTMILE_LOG_LEVEL": "WARNING",
        "LASTMILE_RATE_LIMIT_PER_SECOND": "1000000",
        "LASTMILE_RATE_LIMIT_BURST": "1000000",
        "LASTMILE_EMBEDDED_WORKER": "false",
        "LASTMILE_DATABASE_POOL_SIZE": "10",
        **env,
    }
    proc = subprocess.Popen(
        [str(BIN / "lastmile"), "serve", "--port", str(port), "--workers", str(workers)],
        env=e,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def write_section(name: str, body: str) -> None:
    """Replace (or add) this benchmark's section of docs/benchmarks.md."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
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
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text)
