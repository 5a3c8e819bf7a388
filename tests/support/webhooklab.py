"""A webhook lab: a database of its own with an API server that does not deliver (no embedded
outbox loop), so a test decides when the outbox runs, under which settings and at which
(fake) time, or lets worker processes do it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from lastmile.api.app import create_app
from lastmile.core import clock
from lastmile.core.config import Settings
from lastmile.core.db import make_engine, make_sessionmaker, sync_url
from lastmile.workers import outbox
from tests.support.databases import TestDatabase, create_postgres, create_sqlite, drop_postgres
from tests.support.factories import TenantHandle, make_tenant
from tests.support.server import LiveServer


class FakeClock:
    """A clock tests set; every reading moves it on by 100 µs, as a real one would."""

    STEP = timedelta(microseconds=100)

    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self) -> datetime:
        self.at += self.STEP
        return self.at

    def peek(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        self.at = max(self.at, at)

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@contextmanager
def fake_clock(start: datetime | None = None) -> Iterator[FakeClock]:
    fc = FakeClock(start or datetime.now(UTC))
    clock.set_clock(fc)
    try:
        yield fc
    finally:
        clock.set_clock(None)


@dataclass
class Lab:
    db: TestDatabase
    url: str
    client: httpx.Client
    tenants: list[TenantHandle] = field(default_factory=list)

    def settings(self, **overrides: Any) -> Settings:
        return Settings(
            database_url=self.db.url,
            database_admin_url=self.db.admin_url,
            **overrides,
        )

    def tenant(self, name: str = "Webhook lab") -> TenantHandle:
        return make_tenant(self.client, name)

    def deliver(self, **overrides: Any) -> int:
        """One outbox run until nothing is due now (relay, send, record); events relayed."""

        async def go() -> int:
            engine = make_engine(self.db.url, pool_size=4)
            try:
                return await outbox.run_once(
                    make_sessionmaker(engine), settings=self.settings(**overrides)
                )
            finally:
                await engine.dispose()

        return asyncio.run(go())

    def lag(self) -> float:
        async def go() -> float:
            engine = make_engine(self.db.url, pool_size=2)
            try:
                return await outbox.update_lag(make_sessionmaker(engine))
            finally:
                await engine.dispose()

        return asyncio.run(go())

    def rows(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        """Rows of a query run by the owner (sees every tenant)."""
        engine = create_engine(sync_url(self.db.admin_url))
        try:
            with engine.connect() as conn:
                return [dict(r._mapping) for r in conn.execute(text(sql), params)]
        finally:
            engine.dispose()

    def messages(self, tenant_id: str) -> list[dict[str, Any]]:
        return self.rows(
            "select m.*, e.type as event_type from webhook_messages m "
            "join events e on e.id = m.event_id where m.tenant_id = :t order by m.sequence",
            t=tenant_id,
        )

    def attempts(self, tenant_id: str) -> list[dict[str, Any]]:
        return self.rows(
            "select * from webhook_attempts where tenant_id = :t order by message_id, attempt",
            t=tenant_id,
        )

    def next_due(self, tenant_id: str) -> datetime | None:
        """When the tenant's next message falls due: the earliest retry time among the first
        pending message of each (endpoint, subject), the others waiting their turn (None:
        nothing pending)."""
        heads: dict[tuple[str, str], dict[str, Any]] = {}
        for m in self.messages(tenant_id):  # in sequence order
            if m["state"] == "pending":
                heads.setdefault((m["endpoint_id"], m["subject"]), m)
        found = [as_utc(m["next_attempt_at"]) for m in heads.values() if m["next_attempt_at"]]
        return min(found) if found else None


@contextmanager
def webhook_lab(backend: str, folder: Path) -> Iterator[Lab]:
    db = create_sqlite(folder) if backend == "sqlite" else create_postgres()
    live = LiveServer(
        create_app(
            Settings(
                database_url=db.url,
                database_admin_url=db.admin_url,
                embedded_worker=False,
                planner_warm=False,
            )
        )
    )
    try:
        base = live.start()
        with httpx.Client(base_url=base, timeout=30) as client:
            yield Lab(db, base, client)
    finally:
        live.stop()
        if backend == "postgres":
            drop_postgres(db)


def as_utc(value: Any) -> datetime:
    """A timestamp read back from either database as an aware UTC datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
