"""Settings guards for production and the database URL helpers."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from lastmile.core.config import DEFAULT_DATABASE_URL, DEFAULT_SECRET, Settings
from lastmile.core.db import async_url, sync_url

PG = "postgresql://app:s3cret@db.internal:5432/lastmile"
STRONG = "a-real-production-secret-of-enough-length-0123"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read LASTMILE_* from the environment; these tests pass every value explicitly."""
    for name in ("LASTMILE_SECRET_KEY", "LASTMILE_DATABASE_URL", "LASTMILE_ENV"):
        monkeypatch.delenv(name, raising=False)


def test_production_refuses_the_default_secret() -> None:
    """env=production with the built-in secret key is refused."""
    with pytest.raises(ValidationError, match="LASTMILE_SECRET_KEY"):
        Settings(env="production", database_url=PG)
    with pytest.raises(ValidationError, match="LASTMILE_SECRET_KEY"):
        Settings(env="production", database_url=PG, secret_key=DEFAULT_SECRET)


def test_production_refuses_a_short_secret() -> None:
    """env=production refuses a secret key shorter than 32 characters."""
    with pytest.raises(ValidationError, match="32"):
        Settings(env="production", database_url=PG, secret_key="short-secret")


def test_production_refuses_sqlite() -> None:
    """env=production refuses a SQLite database, the default included."""
    with pytest.raises(ValidationError, match="SQLite"):
        Settings(env="production", secret_key=STRONG)
    with pytest.raises(ValidationError, match="SQLite"):
        Settings(env="production", secret_key=STRONG, database_url="sqlite:///var/prod.db")


def test_production_accepts_explicit_overrides_and_good_settings() -> None:
    """The allow_* flags lift each guard, and a real secret with PostgreSQL passes."""
    s = Settings(env="production", secret_key=STRONG, database_url=PG)
    assert s.env == "production" and not s.is_sqlite
    s = Settings(env="production", allow_default_secret_in_production=True, database_url=PG)
    assert s.secret_key == DEFAULT_SECRET
    s = Settings(env="production", secret_key=STRONG, allow_sqlite_in_production=True)
    assert s.database_url == DEFAULT_DATABASE_URL and s.is_sqlite
    with pytest.raises(ValidationError, match="SQLite"):
        Settings(env="production", allow_default_secret_in_production=True)


def test_guards_apply_only_in_production() -> None:
    """Development and test accept the default secret and SQLite."""
    for env in ("development", "test"):
        s = Settings(env=env)  # type: ignore[arg-type]
        assert s.secret_key == DEFAULT_SECRET and s.is_sqlite


def test_guards_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """LASTMILE_ENV=production from the environment triggers the same guard."""
    monkeypatch.setenv("LASTMILE_ENV", "production")
    monkeypatch.setenv("LASTMILE_DATABASE_URL", PG)
    with pytest.raises(ValidationError, match="LASTMILE_SECRET_KEY"):
        Settings()
    monkeypatch.setenv("LASTMILE_SECRET_KEY", STRONG)
    assert Settings().database_url == PG


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///var/lastmile.db", "sqlite+aiosqlite:///var/lastmile.db"),
        ("sqlite+pysqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        (PG, "postgresql+asyncpg://app:s3cret@db.internal:5432/lastmile"),
        ("postgres://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
    ],
)
def test_async_url(given: str, expected: str) -> None:
    """async_url picks aiosqlite / asyncpg for URLs written the usual ways."""
    assert async_url(given) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite+aiosqlite:///var/lastmile.db", "sqlite:///var/lastmile.db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
        (PG, "postgresql+psycopg://app:s3cret@db.internal:5432/lastmile"),
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
    ],
)
def test_sync_url(given: str, expected: str) -> None:
    """sync_url picks the sync drivers (sqlite, psycopg) used by migrations and the CLI."""
    assert sync_url(given) == expected


def test_url_helpers_keep_passwords_and_query() -> None:
    """Passwords with special characters and query options survive both conversions intact."""
    url = "postgresql://app:p%40ss%2Fw%25rd@h:6543/db?sslmode=require"
    for convert in (async_url, sync_url):
        u = make_url(convert(url))
        assert u.password == "p@ss/w%rd"
        assert (u.host, u.port, u.database) == ("h", 6543, "db")
        assert dict(u.query) == {"sslmode": "require"}
    assert sync_url(async_url(url)) == sync_url(url)
    assert async_url(sync_url(url)) == async_url(url)
