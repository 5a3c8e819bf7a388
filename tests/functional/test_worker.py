"""The background job loop."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, text

from lastmile.core import clock
from lastmile.core.db import make_engine, make_sessionmaker, sync_url
from lastmile.workers import runner
from tests.support.databases import TestDatabase
from tests.support.factories import TenantHandle


def _purge(db: TestDatabase) -> int:
    async def go() -> int:
        engine = make_engine(db.url, pool_size=2)
        try:
            return await runner.purge_idempotency_keys(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _keys(db: TestDatabase, tenant_id: str) -> set[str]:
    engine = create_engine(sync_url(db.admin_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("select key from idempotency_keys where tenant_id = :t"), {"t": tenant_id}
            )
            return {r[0] for r in rows}
    finally:
        engine.dispose()


def test_purge_drops_only_expired_idempotency_keys(
    tenant: TenantHandle, database: TestDatabase
) -> None:
    """The purge job forgets keys older than 24 h in every tenant and keeps fresh ones."""
    old_key, new_key = secrets.token_hex(8), secrets.token_hex(8)
    body = {"name": "k", "role": "viewer"}
    start = datetime.now(UTC)
    clock.set_clock(lambda: start - timedelta(hours=25))
    try:
        assert (
            tenant.post("/v1/api-keys", json=body, headers={"Idempotency-Key": old_key}).status_code
            == 201
        )
    finally:
        clock.set_clock(None)
    assert (
        tenant.post("/v1/api-keys", json=body, headers={"Idempotency-Key": new_key}).status_code
        == 201
    )
    assert _keys(database, tenant.id) == {old_key, new_key}
    assert _purge(database) >= 1
    assert _keys(database, tenant.id) == {new_key}
    # The fresh key still replays; the purged one is a new request.
    again = tenant.post("/v1/api-keys", json=body, headers={"Idempotency-Key": new_key})
    assert again.headers.get("idempotent-replayed") == "true"
    fresh = tenant.post(
        "/v1/api-keys",
        json={"name": "other", "role": "viewer"},
        headers={"Idempotency-Key": old_key},
    )
    assert fresh.status_code == 201 and "idempotent-replayed" not in fresh.headers
