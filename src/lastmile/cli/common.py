"""Helpers the CLI commands share: one unit of work per command."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.config import get_settings
from lastmile.core.db import make_engine, make_sessionmaker
from lastmile.core.uow import UnitOfWork

T = TypeVar("T")


def in_uow(fn: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `fn` in one unit of work on the configured database and commit it."""

    async def go() -> T:
        engine = make_engine(get_settings().database_url, pool_size=1)
        try:
            async with UnitOfWork(make_sessionmaker(engine)) as uow:
                result = await fn(uow.session)
                await uow.commit()
                return result
        finally:
            await engine.dispose()

    return asyncio.run(go())
