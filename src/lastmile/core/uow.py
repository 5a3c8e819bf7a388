"""The unit of work: one session, one transaction, the one place that commits."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

AFTER_COMMIT = "after_commit"  # session.info: callables to run once the transaction commits


class UnitOfWork:
    """Holds a session for one request or job; commits only when told, rolls back otherwise."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]):
        self.session = sessionmaker()
        self._committed = False

    async def commit(self) -> None:
        await self.session.commit()
        self._committed = True
        for hook in self.session.info.pop(AFTER_COMMIT, []):
            hook()

    async def rollback(self) -> None:
        await self.session.rollback()
        self.session.info.pop(AFTER_COMMIT, None)

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is not None or not self._committed:
                await self.session.rollback()
        finally:
            await self.session.close()
