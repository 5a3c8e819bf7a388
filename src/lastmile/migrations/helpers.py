"""Operations migrations share: row-level security on tenant-owned tables (PostgreSQL only)."""

from __future__ import annotations

from alembic import op


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def enable_rls(table: str) -> None:
    """Enable and force RLS on a tenant-owned table with the one tenant policy."""
    if not _pg():
        return
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} "
        "USING (tenant_id = current_setting('app.tenant_id', true)) "
        "WITH CHECK (tenant_id = current_setting('app.tenant_id', true))"
    )
    # The migration (owner) role reads every row: it runs backfills and the
    # SECURITY DEFINER credential lookups. The application role does not own tables.
    op.execute(
        f"CREATE POLICY owner_access ON {table} TO CURRENT_USER USING (true) WITH CHECK (true)"
    )


def disable_rls(table: str) -> None:
    if not _pg():
        return
    op.execute(f"DROP POLICY IF EXISTS owner_access ON {table}")
    op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
    op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")


def create_function(sql: str) -> None:
    """Run DDL on PostgreSQL only (functions, GIN indexes)."""
    if _pg():
        op.execute(sql)


def drop_function(signature: str) -> None:
    if _pg():
        op.execute(f"DROP FUNCTION IF EXISTS {signature}")
