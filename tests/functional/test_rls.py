"""PostgreSQL row-level security: the second lock on the tenant door."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from lastmile.core.db import tenant_owned_tables
from lastmile.registry import import_models
from tests.support.databases import TestDatabase, create_postgres, drop_postgres, plain_pg_url

pytestmark = pytest.mark.postgres
import_models()


@pytest.fixture(scope="module")
def pg() -> Iterator[TestDatabase]:
    db = create_postgres()
    with psycopg.connect(plain_pg_url(db.admin_url), autocommit=True) as conn:
        for t in ("ten_a", "ten_b"):
            conn.execute(
                "insert into tenants (id, name, status, created_at, updated_at) "
                "values (%s, %s, 'active', now(), now())",
                (t, t),
            )
            conn.execute(
                "insert into users (id, tenant_id, email, name, role, is_active, created_at, "
                "updated_at) values (%s, %s, %s, 'U', 'admin', true, now(), now())",
                (f"usr_{t}", t, f"{t}@example.com"),
            )
            conn.execute(
                "insert into api_keys (id, tenant_id, name, prefix, digest, role, scopes, "
                "created_at, updated_at) values (%s, %s, 'k', 'lmk_', %s, 'admin', '[]', now(), now())",
                (f"key_{t}", t, f"digest_{t}"),
            )
    try:
        yield db
    finally:
        drop_postgres(db)


def app_conn(db: TestDatabase, tenant: str | None) -> psycopg.Connection:
    conn = psycopg.connect(plain_pg_url(db.url))
    if tenant is not None:
        conn.execute("select set_config('app.tenant_id', %s, true)", (tenant,))
    return conn


def test_tenant_setting_hides_other_tenants_rows(pg: TestDatabase) -> None:
    """With tenant A set, the app role sees only A's rows in every tenant table."""
    with app_conn(pg, "ten_a") as conn:
        assert conn.execute("select tenant_id from users").fetchall() == [("ten_a",)]
        assert conn.execute("select tenant_id from api_keys").fetchall() == [("ten_a",)]
        assert conn.execute("select count(*) from users where tenant_id = 'ten_b'").fetchone() == (
            0,
        )


def test_other_tenants_rows_cannot_be_written(pg: TestDatabase) -> None:
    """With tenant A set, updates and deletes of B's rows touch nothing and inserts for B fail."""
    with app_conn(pg, "ten_a") as conn:
        assert conn.execute("update users set name = 'x' where id = 'usr_ten_b'").rowcount == 0
        assert conn.execute("delete from api_keys where id = 'key_ten_b'").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "insert into users (id, tenant_id, email, name, role, is_active, created_at, "
                "updated_at) values ('usr_evil', 'ten_b', 'e@example.com', 'E', 'admin', true, "
                "now(), now())"
            )
    with app_conn(pg, "ten_a") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("update users set tenant_id = 'ten_b' where id = 'usr_ten_a'")
    with psycopg.connect(plain_pg_url(pg.admin_url)) as admin:
        assert admin.execute(
            "select name, tenant_id from users where id = 'usr_ten_b'"
        ).fetchone() == ("U", "ten_b")
        assert admin.execute("select count(*) from api_keys").fetchone() == (2,)


def test_no_tenant_setting_sees_nothing(pg: TestDatabase) -> None:
    """Without the tenant setting the app role sees no row of any tenant table."""
    with app_conn(pg, None) as conn:
        for table in tenant_owned_tables():
            assert conn.execute(f"select count(*) from {table}").fetchone() == (0,), table


def test_credential_lookup_functions_return_ids_only(pg: TestDatabase) -> None:
    """The SECURITY DEFINER lookups resolve a digest or email to (tenant, id) and nothing more."""
    with app_conn(pg, None) as conn:
        assert conn.execute("select * from lastmile_lookup_api_key('digest_ten_b')").fetchall() == [
            ("ten_b", "key_ten_b")
        ]
        assert conn.execute(
            "select * from lastmile_lookup_login('ten_a@example.com')"
        ).fetchall() == [("ten_a", "usr_ten_a")]


def test_catalog_app_role_cannot_bypass_rls(pg: TestDatabase) -> None:
    """The app role is no superuser, cannot bypass RLS, owns no table; every tenant table forces RLS
    (partitioned ones included)."""
    with app_conn(pg, None) as conn:
        row = conn.execute(
            "select rolsuper, rolbypassrls from pg_roles where rolname = current_user"
        ).fetchone()
        assert row == (False, False)
        owned = conn.execute(
            "select count(*) from pg_tables where schemaname = 'public' "
            "and tableowner = current_user"
        ).fetchone()
        assert owned == (0,)
        flags = dict(
            (name, (rls, force))
            for name, rls, force in conn.execute(
                "select relname, relrowsecurity, relforcerowsecurity from pg_class "
                "where relnamespace = 'public'::regnamespace and relkind in ('r', 'p')"
            ).fetchall()
        )
    tables = tenant_owned_tables()
    assert {"users", "api_keys", "refresh_tokens", "idempotency_keys"} <= set(tables)
    for table in tables:
        assert flags[table] == (True, True), table
