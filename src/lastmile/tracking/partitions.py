"""Day partitions of `locations` on PostgreSQL: make them ahead, move stray rows out of the
DEFAULT partition, drop the expired ones. Run as the table owner (the admin URL): the
application role may not create or drop tables.

Partitions are `pgx_locations_pYYYYMMDD` (UTC days, [00:00, next 00:00)) plus
`pgx_locations_default`; the `pgx_` prefix keeps them out of the migration drift check. Each
partition gets the parent's RLS policies, so even a direct read of one is tenant-filtered.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

PARENT = "locations"
DEFAULT = "pgx_locations_default"
PREFIX = "pgx_locations_p"
_NAME = re.compile(r"^pgx_locations_p(\d{8})$")
# Rows of one day out of DEFAULT into a new table ({table}: name_for(day), never input).
_MOVE = (
    "WITH moved AS (DELETE FROM pgx_locations_default WHERE recorded_at >= :lo AND "
    "recorded_at < :hi RETURNING *) INSERT INTO {table} SELECT * FROM moved"
)
LOCK_KEY = 0x6C6D_7472  # pg_advisory_xact_lock: one maintenance run at a time per database


def name_for(day: date) -> str:
    return f"{PREFIX}{day:%Y%m%d}"


def bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _literal(at: datetime) -> str:
    return f"'{at.astimezone(UTC):%Y-%m-%d %H:%M:%S}+00'"


async def lock(conn: AsyncConnection) -> None:
    """Serialise maintenance runs (two workers, the CLI) for this transaction; wait at most a
    few seconds for another DDL's lock rather than queue the ingest behind it."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    await conn.execute(text("SET LOCAL lock_timeout = '5s'"))


async def existing(conn: AsyncConnection) -> dict[date, str]:
    """The day partitions that exist, by day."""
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = CAST(:parent AS regclass)"
        ),
        {"parent": PARENT},
    )
    out: dict[date, str] = {}
    for (name,) in rows:
        found = _NAME.match(name)
        if found:
            out[datetime.strptime(found.group(1), "%Y%m%d").date()] = name
    return out


async def _secure(conn: AsyncConnection, table: str) -> None:
    """The parent's RLS policies on a new partition (as helpers.enable_rls does)."""
    await conn.execute(text(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"))
    await conn.execute(text(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY"))
    await conn.execute(
        text(
            f"CREATE POLICY tenant_isolation ON {table} "
            "USING (tenant_id = current_setting('app.tenant_id', true)) "
            "WITH CHECK (tenant_id = current_setting('app.tenant_id', true))"
        )
    )
    await conn.execute(
        text(
            f"CREATE POLICY owner_access ON {table} TO CURRENT_USER USING (true) WITH CHECK (true)"
        )
    )


async def ensure(conn: AsyncConnection, day: date) -> tuple[bool, int]:
    """Make the day's partition unless it exists: (created, rows moved from DEFAULT).

    CREATE ... PARTITION OF fails while DEFAULT holds rows of that day, so then the partition
    is built apart, the rows moved into it, and it is attached, all in this transaction."""
    name = name_for(day)
    found = await conn.execute(text("SELECT to_regclass(:n)"), {"n": name})
    if found.scalar() is not None:
        return False, 0
    lo, hi = bounds(day)
    span = f"FROM ({_literal(lo)}) TO ({_literal(hi)})"
    stray = await conn.execute(
        text(
            "SELECT EXISTS (SELECT 1 FROM pgx_locations_default "
            "WHERE recorded_at >= :lo AND recorded_at < :hi)"
        ),
        {"lo": lo, "hi": hi},
    )
    moved = 0
    if not stray.scalar():
        await conn.execute(
            text(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {PARENT} FOR VALUES {span}")
        )
    else:
        await conn.execute(text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)"))
        result = await conn.execute(text(_MOVE.replace("{table}", name)), {"lo": lo, "hi": hi})
        moved = int(result.rowcount or 0)
        await conn.execute(text(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES {span}"))
    await _secure(conn, name)
    return True, moved


async def stray_days(conn: AsyncConnection, since: datetime) -> set[date]:
    """Days (UTC) of rows in DEFAULT recorded since `since`."""
    rows = await conn.execute(
        text(
            "SELECT DISTINCT CAST(date_trunc('day', recorded_at AT TIME ZONE 'UTC') AS date) "
            "FROM pgx_locations_default WHERE recorded_at >= :since"
        ),
        {"since": since},
    )
    return {d for (d,) in rows}


async def drop_before(conn: AsyncConnection, cutoff: datetime) -> list[str]:
    """Drop the day partitions that end at or before `cutoff`; their names."""
    dropped = []
    for day, name in sorted((await existing(conn)).items()):
        if bounds(day)[1] <= cutoff:
            await conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
            dropped.append(name)
    return dropped
