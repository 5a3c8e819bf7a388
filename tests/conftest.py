"""Fixtures: every functional test runs against a live server on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import env

env.apply()

from lastmile.api.app import create_app  # noqa: E402
from lastmile.core.config import Settings  # noqa: E402
from tests.support.databases import (  # noqa: E402
    TestDatabase,
    create_postgres,
    create_sqlite,
    drop_postgres,
)
from tests.support.factories import TenantHandle, make_tenant  # noqa: E402
from tests.support.server import LiveServer  # noqa: E402

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="session", params=BACKENDS)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestDatabase]:
    """A migrated database of each backend, shared by the session."""
    if request.param == "sqlite":
        yield create_sqlite(tmp_path_factory.mktemp("sqlite"))
        return
    db = create_postgres()
    try:
        yield db
    finally:
        drop_postgres(db)


def settings_for(db: TestDatabase, **overrides: object) -> Settings:
    return Settings(database_url=db.url, database_admin_url=db.admin_url, **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def server(database: TestDatabase) -> Iterator[str]:
    """Base URL of a live lastmile server on this database."""
    live = LiveServer(create_app(settings_for(database)))
    url = live.start()
    try:
        yield url
    finally:
        live.stop()


@pytest.fixture
def client(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=30) as c:
        yield c


@pytest.fixture
def new_tenant(client: httpx.Client) -> Callable[..., TenantHandle]:
    return lambda name="Test tenant": make_tenant(client, name)


@pytest.fixture
def tenant(client: httpx.Client) -> TenantHandle:
    return make_tenant(client, "Tenant A")


@pytest.fixture
def other_tenant(client: httpx.Client) -> TenantHandle:
    return make_tenant(client, "Tenant B")


@pytest.fixture
def backend(database: TestDatabase) -> str:
    return database.backend


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
