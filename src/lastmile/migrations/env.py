"""Alembic environment: a sync connection on the owner (admin) URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from lastmile.core.db import Base, sync_url
from lastmile.registry import import_models

import_models()
config = context.config
url = sync_url(config.get_main_option("sqlalchemy.url") or "")


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Leave PostgreSQL-only extras (indexes and tables such as partitions, named `pgx_…`, made
    in migrations or by jobs) out of drift checks."""
    return not (type_ in ("index", "table") and name is not None and name.startswith("pgx_"))


def run() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SET lock_timeout = '5s'")
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_object=include_object,
        )
        with context.begin_transaction():
            context.run_migrations()


run()
