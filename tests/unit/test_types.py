"""UTCDateTime: naive datetimes refused, values always read back timezone-aware in UTC."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine

from lastmile.core.db import make_engine
from lastmile.core.types import UTCDateTime
from tests.support.databases import create_postgres, drop_postgres

meta = MetaData()
stamps = Table(
    "utc_stamps",
    meta,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime(), nullable=True),
)

PLUS_FIVE = timezone(timedelta(hours=5, minutes=30))


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "pg"])
def test_naive_datetimes_are_refused_at_bind(dialect: object) -> None:
    """Binding a naive datetime raises instead of guessing its zone."""
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1, 12, 0), dialect)  # type: ignore[arg-type]


def test_bind_converts_to_utc() -> None:
    """An aware value in another zone is stored as the same instant in UTC."""
    local = datetime(2026, 1, 1, 17, 30, tzinfo=PLUS_FIVE)
    on_sqlite = UTCDateTime().process_bind_param(local, sqlite.dialect())
    assert on_sqlite == datetime(2026, 1, 1, 12, 0)  # naive UTC text in SQLite
    on_pg = UTCDateTime().process_bind_param(local, postgresql.dialect())
    assert on_pg == local and on_pg.utcoffset() == timedelta(0)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'types.db'}", pool_size=1)
        try:
            yield eng
        finally:
            await eng.dispose()
        return
    db = create_postgres(migrate=False)
    eng = make_engine(db.admin_url, pool_size=1)
    try:
        yield eng
    finally:
        await eng.dispose()
        drop_postgres(db)


async def test_values_come_back_aware_utc(engine: AsyncEngine) -> None:
    """Whatever zone goes in, the same instant comes back with tzinfo UTC (and NULL stays None)."""
    values = {
        1: datetime(2026, 1, 1, 17, 30, 15, 123456, tzinfo=PLUS_FIVE),
        2: datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC),
        3: datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-8))),
    }
    async with engine.begin() as conn:
        await conn.run_sync(meta.create_all)
        if conn.dialect.name == "postgresql":
            # A session zone other than UTC must not leak into the values read back.
            await conn.execute(text("set time zone 'Asia/Tokyo'"))
        await conn.execute(insert(stamps), [{"id": k, "at": v} for k, v in values.items()])
        await conn.execute(insert(stamps).values(id=4, at=None))
        rows = dict((await conn.execute(select(stamps.c.id, stamps.c.at))).all())
    for k, v in values.items():
        got = rows[k]
        assert got.tzinfo is not None and got.utcoffset() == timedelta(0), repr(got)
        assert got == v
        assert got.isoformat().endswith("+00:00")
    assert rows[4] is None


async def test_naive_datetimes_are_refused_by_the_database_layer(engine: AsyncEngine) -> None:
    """Inserting a naive datetime fails before any row is written."""
    async with engine.begin() as conn:
        await conn.run_sync(meta.create_all)
    async with engine.connect() as conn:
        with pytest.raises(StatementError, match="naive"):
            await conn.execute(insert(stamps).values(id=1, at=datetime(2026, 1, 1)))
        await conn.rollback()
        count = (await conn.execute(select(stamps.c.id))).all()
    assert count == []


async def test_comparisons_use_the_same_instant(engine: AsyncEngine) -> None:
    """Filtering by an aware bound in another zone matches the stored UTC instant."""
    at = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    async with engine.begin() as conn:
        await conn.run_sync(meta.create_all)
        await conn.execute(insert(stamps).values(id=1, at=at))
        same = at.astimezone(PLUS_FIVE)
        hit = (await conn.execute(select(stamps.c.id).where(stamps.c.at == same))).all()
        later = (await conn.execute(select(stamps.c.id).where(stamps.c.at > same))).all()
    assert hit == [(1,)]
    assert later == []
