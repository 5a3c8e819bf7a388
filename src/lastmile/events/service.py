"""Emitting events into the outbox (in the caller's transaction) and reading them back."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from lastmile.core import clock
from lastmile.core.errors import FieldError, ValidationFailed
from lastmile.core.ids import new_id
from lastmile.core.tenancy import TenantContext, scoped
from lastmile.core.uow import AFTER_COMMIT
from lastmile.events.catalogue import Envelope, EventType, catalogue
from lastmile.events.models import Event

_wakers: list[Callable[[], None]] = []


def on_emit(*, waker: Callable[[], None]) -> Callable[[], None]:
    """Call `waker` after any transaction that emitted events commits (wakes the relay);
    returns the function that stops it."""
    _wakers.append(waker)

    def stop() -> None:
        if waker in _wakers:
            _wakers.remove(waker)

    return stop


def wake_on_commit(*, session: AsyncSession) -> None:
    """Wake the outbox loop once this session's transaction commits (new work for it)."""
    hooks: list[Callable[[], None]] = session.info.setdefault(AFTER_COMMIT, [])
    for waker in _wakers:
        if waker not in hooks:
            hooks.append(waker)


def _stamp(session: AsyncSession) -> tuple[datetime, int]:
    """The time and order of an event within its transaction (strictly increasing)."""
    n = session.info.get("events.ordinal", 0) + 1
    session.info["events.ordinal"] = n
    wake_on_commit(session=session)
    return clock.now(), n


def _subject(data: BaseModel, subject: str | None) -> str | None:
    return subject if subject is not None else getattr(data, "id", None)


def emit(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    event_type: EventType,
    data: BaseModel | Callable[[], BaseModel],
    subject: str | None = None,
) -> None:
    """Add one event to the outbox; it commits (or not) with the change it announces.

    `data` may be a function giving the resource: it is then read at the next flush, so the
    event shows the object with every change the caller made after emitting."""
    at, ordinal = _stamp(session)
    sync = session.sync_session
    within = sync.get_nested_transaction() or sync.get_transaction()
    pending: list[_Pending] = session.info.setdefault(_PENDING, [])
    pending.append(_Pending(tenant.tenant_id, event_type, data, subject, at, ordinal, within))


@dataclass
class _Pending:
    tenant_id: str
    event_type: EventType
    data: BaseModel | Callable[[], BaseModel]
    subject: str | None
    at: datetime
    ordinal: int
    within: SessionTransaction | None

    def inside(self, transaction: SessionTransaction) -> bool:
        """Whether it was emitted in `transaction` or in a savepoint nested in it."""
        tx = self.within
        while tx is not None:
            if tx is transaction:
                return True
            tx = tx.parent
        return False

    def row(self) -> Event:
        data = self.data if isinstance(self.data, BaseModel) else self.data()
        return Event(
            id=new_id("evt"),
            tenant_id=self.tenant_id,
            type=self.event_type.name,
            version=self.event_type.version,
            subject=_subject(data, self.subject),
            occurred_at=self.at,
            ordinal=self.ordinal,
            data=data.model_dump(mode="json"),
        )


_PENDING = "events.pending"


@event.listens_for(Session, "before_flush")
def _add_pending(session: Session, _context: Any, _instances: Any) -> None:
    """Turn the events emitted since the last flush into outbox rows of this flush."""
    pending: list[_Pending] | None = session.info.pop(_PENDING, None)
    if pending:
        session.add_all([p.row() for p in pending])


@event.listens_for(Session, "before_commit")
def _add_unflushed(session: Session) -> None:
    """Events emitted after the last flush, when nothing else is left to flush."""
    _add_pending(session, None, None)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous: SessionTransaction) -> None:
    """Forget events emitted in a transaction (or savepoint) that rolled back."""
    pending: list[_Pending] | None = session.info.get(_PENDING)
    if pending:
        session.info[_PENDING] = [p for p in pending if not p.inside(previous)]


async def emit_many(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    event_type: EventType,
    items: Sequence[BaseModel],
) -> None:
    """Add one event per item with a single multi-row INSERT (batches, imports)."""
    if not items:
        return
    rows: list[dict[str, Any]] = []
    for data in items:
        at, ordinal = _stamp(session)
        rows.append(
            {
                "id": new_id("evt"),
                "tenant_id": tenant.tenant_id,
                "type": event_type.name,
                "version": event_type.version,
                "subject": _subject(data, None),
                "occurred_at": at,
                "ordinal": ordinal,
                "data": data.model_dump(mode="json"),
                "sequence": None,
                "relayed_at": None,
            }
        )
    await session.execute(insert(Event), rows)


def envelope(*, event: Event) -> Envelope:
    return Envelope(
        id=event.id,
        type=event.type,
        timestamp=event.occurred_at,
        tenant_id=event.tenant_id,
        data=event.data,
    )


def _encode_cursor(sequence: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{sequence}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    """The sequence a cursor names; a 422 naming `after` when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, number = raw.partition(":")
        if kind != "seq" or not number.isdigit():
            raise ValueError(raw)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "invalid cursor", [FieldError("query.after", "not a cursor returned by this API")]
        ) from exc


def check_types(*, types: Sequence[str], field: str) -> list[str]:
    """The event types as given, or a 422 naming each unknown one."""
    known = catalogue()
    unknown = [t for t in types if t not in known]
    if unknown:
        raise ValidationFailed(
            "unknown event type",
            [FieldError(field, f"{t} is not an event type (see /v1/event-types)") for t in unknown],
        )
    return list(dict.fromkeys(types))


async def feed(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    after: str | None,
    types: Sequence[str],
    limit: int,
) -> tuple[list[Event], str, bool]:
    """Relayed events after the cursor, oldest first; the cursor to poll with next; more?"""
    position = _decode_cursor(after) if after else 0
    wanted = check_types(types=types, field="query.types")
    stmt = scoped(Event, tenant).where(Event.sequence.is_not(None), Event.sequence > position)
    if wanted:
        stmt = stmt.where(Event.type.in_(wanted))
    rows = list(
        (await session.execute(stmt.order_by(Event.sequence).limit(limit + 1))).scalars().all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    if rows:
        position = rows[-1].sequence or position
    return rows, _encode_cursor(position), more


async def latest_sequence(*, session: AsyncSession, tenant: TenantContext) -> int:
    stmt = scoped(Event, tenant).with_only_columns(Event.sequence)
    stmt = stmt.where(Event.sequence.is_not(None)).order_by(Event.sequence.desc()).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none() or 0
