"""Engine, sessions and the declarative base shared by every domain."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import ForeignKey, MetaData, String, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, SessionTransaction, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base; every table of every domain hangs off this metadata."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TenantOwned:
    """Mixin for tables whose rows belong to one tenant (row-level security applies)."""

    tenant_id: Mapped[str] = mapped_column(String(40), ForeignKey("tenants.id"), index=True)


def tenant_owned_tables() -> list[str]:
    """Names of every table that carries a tenant_id column."""
    return sorted(t.name for t in Base.metadata.sorted_tables if "tenant_id" in t.columns)


def async_url(url: str) -> str:
    """The async-driver form of a URL written as people write it."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif u.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def sync_url(url: str) -> str:
    """The sync-driver form of a URL (migrations, CLI checks)."""
    u = make_url(url)
    if u.drivername in ("sqlite+aiosqlite",):
        u = u.set(drivername="sqlite")
    elif u.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def ensure_sqlite_dir(url: str) -> None:
    """Create the folder of a SQLite file so a fresh checkout can start."""
    u = make_url(url)
    if u.drivername.startswith("sqlite") and u.database and u.database != ":memory:":
        folder = os.path.dirname(u.database)
        if folder:
            os.makedirs(folder, exist_ok=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    # Writers take the lock up front so a read-then-write never fails with SQLITE_BUSY.
    mode = "DEFERRED" if conn.get_execution_options().get("readonly") else "IMMEDIATE"
    conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """An async engine for the URL, with SQLite made safe for concurrent requests."""
    ensure_sqlite_dir(url)
    aurl = async_url(url)
    if aurl.startswith("sqlite"):
        engine = create_async_engine(aurl, pool_size=pool_size, max_overflow=pool_size)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    return create_async_engine(
        aurl, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False
    )


def make_sessionmaker(
    engine: AsyncEngine, *, readonly: bool = False
) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit; `readonly` ones take no write lock."""
    bind = engine.execution_options(readonly=True) if readonly else engine
    return async_sessionmaker(bind, expire_on_commit=False, autoflush=True)


@event.listens_for(Session, "after_begin")
def _apply_tenant(session: Session, _tx: SessionTransaction, connection: Connection) -> None:
    """Set the PostgreSQL RLS tenant for every transaction of a session bound to a tenant."""
    tenant_id = session.info.get("tenant_id")
    if tenant_id and connection.dialect.name == "postgresql":
        connection.execute(text("select set_config('app.tenant_id', :t, true)"), {"t": tenant_id})
