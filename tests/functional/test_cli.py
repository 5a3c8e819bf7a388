"""The `lastmile` command line against a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.databases import TestDatabase

LASTMILE = str(Path(sys.executable).with_name("lastmile"))


def run(db: TestDatabase, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    e = {
        **os.environ,
        "LASTMILE_DATABASE_URL": db.url,
        "LASTMILE_DATABASE_ADMIN_URL": db.admin_url,
        **env,
    }
    return subprocess.run(
        [LASTMILE, *args], capture_output=True, text=True, env=e, timeout=60, check=False
    )


def test_tenant_create_json_prints_a_working_key(
    database: TestDatabase, client: httpx.Client
) -> None:
    """`tenant create --json` prints tenant_id, admin_user_id and an API key that authenticates."""
    p = run(
        database,
        "tenant",
        "create",
        "--name",
        "CLI Co",
        "--admin-email",
        "cli@example.com",
        "--json",
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert set(out) == {"tenant_id", "admin_user_id", "api_key"}
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {out['api_key']}"}).json()
    assert me["tenant_id"] == out["tenant_id"] and me["role"] == "admin"

    u = run(
        database,
        "user",
        "create",
        "--tenant-id",
        out["tenant_id"],
        "--email",
        "drv@example.com",
        "--role",
        "driver",
        "--json",
    )
    assert u.returncode == 0, u.stderr
    k = run(
        database, "apikey", "create", "--tenant-id", out["tenant_id"], "--role", "viewer", "--json"
    )
    assert k.returncode == 0, k.stderr
    key = json.loads(k.stdout)["api_key"]
    r = client.get("/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert r.json()["role"] == "viewer"


def test_db_check_passes_on_a_migrated_database(database: TestDatabase) -> None:
    """`db check` succeeds when the schema is at head and matches the models."""
    p = run(database, "db", "check")
    assert p.returncode == 0, p.stderr
    assert "ok" in p.stdout


def test_db_check_fails_on_an_unmigrated_database(tmp_path: Path) -> None:
    """`db check` exits non-zero and says to upgrade when the schema is behind."""
    empty = TestDatabase(
        "sqlite", f"sqlite:///{tmp_path}/empty.db", f"sqlite:///{tmp_path}/empty.db"
    )
    p = run(empty, "db", "check")
    assert p.returncode == 1
    assert "lastmile db upgrade" in p.stderr


def test_production_refuses_sqlite_and_default_secret(tmp_path: Path) -> None:
    """In production the CLI refuses to start on SQLite or with the default secret."""
    db = TestDatabase("sqlite", f"sqlite:///{tmp_path}/p.db", f"sqlite:///{tmp_path}/p.db")
    p = run(db, "db", "check", LASTMILE_ENV="production")
    assert p.returncode != 0
    assert "SQLite is refused in production" in p.stderr
    p = run(
        db,
        "db",
        "check",
        LASTMILE_ENV="production",
        LASTMILE_ALLOW_SQLITE_IN_PRODUCTION="1",
        LASTMILE_SECRET_KEY="dev-insecure-secret-change-me-0123456789",
    )
    assert p.returncode != 0
    assert "LASTMILE_SECRET_KEY must be set" in p.stderr


def test_demo_is_repeatable(database: TestDatabase, client: httpx.Client) -> None:
    """`demo` creates the demo tenant once and prints a fresh working key every time."""
    first = json.loads(run(database, "demo", "--json").stdout)
    second = json.loads(run(database, "demo", "--json").stdout)
    assert first["tenant_id"] == second["tenant_id"]
    assert first["api_key"] != second["api_key"]
    for out in (first, second):
        r = client.get("/v1/me", headers={"Authorization": f"Bearer {out['api_key']}"})
        assert r.status_code == 200
    login = client.post(
        "/v1/auth/login", json={"email": first["admin_email"], "password": first["admin_password"]}
    )
    assert login.status_code == 200
