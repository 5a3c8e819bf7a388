"""Run and inspect migrations; provision the non-owner application role on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from lastmile.core.db import ensure_sqlite_dir, sync_url

HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    return cfg


def head() -> str:
    """The newest revision in the code."""
    rev = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert rev is not None
    return rev


def current(url: str) -> str | None:
    """The revision the database is at (None when never migrated)."""
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade(admin_url: str, app_url: str | None = None) -> None:
    """Migrate to head as the owner, then let the application role use the tables."""
    ensure_sqlite_dir(admin_url)
    command.upgrade(alembic_config(admin_url), "head")
    if app_url is not None:
        provision_app_role(admin_url, app_url)


def provision_app_role(admin_url: str, app_url: str) -> str | None:
    """On PostgreSQL, create the app URL's role (if missing) without ownership or RLS bypass
    and grant it data access; returns the role, or None when there is nothing to do."""
    admin, app = make_url(sync_url(admin_url)), make_url(sync_url(app_url))
    if not admin.drivername.startswith("postgresql") or not app.username:
        return None
    if app.username == admin.username:
        return None
    role = app.username
    engine = create_engine(sync_url(admin_url), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            quoted = conn.dialect.identifier_preparer.quote(role)
            exists = conn.execute(
                text("select 1 from pg_roles where rolname = :r"), {"r": role}
            ).first()
            if not exists:
                conn.exec_driver_sql(f"CREATE ROLE {quoted} LOGIN NOSUPERUSER NOBYPASSRLS")
                if app.password:
                    conn.execute(text(f"ALTER ROLE {quoted} PASSWORD :p"), {"p": app.password})
            db = conn.dialect.identifier_preparer.quote(admin.database or "postgres")
            conn.exec_driver_sql(f"GRANT CONNECT ON DATABASE {db} TO {quoted}")
            conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {quoted}")
            conn.exec_driver_sql(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}"
            )
            conn.exec_driver_sql(
                f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}"
            )
            conn.exec_driver_sql(f"REVOKE ALL ON alembic_version FROM {quoted}")
            conn.exec_driver_sql(f"GRANT SELECT ON alembic_version TO {quoted}")
    finally:
        engine.dispose()
    return role


def role_audit(url: str) -> dict[str, bool]:
    """Whether the role of `url` is a superuser, bypasses RLS, or owns any table."""
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "select rolsuper, rolbypassrls, exists(select 1 from pg_tables "
                    "where schemaname='public' and tableowner = current_user) "
                    "from pg_roles where rolname = current_user"
                )
            ).one()
            return {"superuser": row[0], "bypassrls": row[1], "owns_tables": row[2]}
    finally:
        engine.dispose()
