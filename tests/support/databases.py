"""Create, migrate and drop throwaway SQLite and PostgreSQL databases for tests."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from lastmile.migrations import runner

APP_ROLE = "lastmile_app_test"


@dataclass(frozen=True)
class TestDatabase:
    __test__ = False  # not a test class

    backend: str
    url: str  # what the app connects with (non-owner role on PostgreSQL)
    admin_url: str  # owner: migrations


def pg_base_url() -> str:
    return os.environ.get("LASTMILE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/")


def _plain(url: str) -> str:
    u = make_url(url).set(drivername="postgresql")
    return u.render_as_string(hide_password=False)


def create_sqlite(folder: Path) -> TestDatabase:
    url = f"sqlite:///{folder / ('lastmile-' + secrets.token_hex(4) + '.db')}"
    runner.upgrade(url)
    return TestDatabase("sqlite", url, url)


def create_postgres(migrate: bool = True) -> TestDatabase:
    base = make_url(pg_base_url())
    name = "lastmile_test_" + secrets.token_hex(5)
    with psycopg.connect(
        _plain(base.set(database="postgres").render_as_string(hide_password=False)), autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    admin = base.set(database=name).render_as_string(hide_password=False)
    app = base.set(database=name, username=APP_ROLE, password=None).render_as_string(
        hide_password=False
    )
    if migrate:
        runner.upgrade(admin, app)
    return TestDatabase("postgres", app, admin)


def drop_postgres(db: TestDatabase) -> None:
    base = make_url(db.admin_url)
    with psycopg.connect(
        _plain(base.set(database="postgres").render_as_string(hide_password=False)), autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{base.database}" WITH (FORCE)')


def plain_pg_url(url: str) -> str:
    """A libpq URL psycopg accepts."""
    return _plain(url)
