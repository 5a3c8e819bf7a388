"""Stored results of creating requests sent with an `Idempotency-Key` (kept 24 h)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import JSON, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from lastmile.core import clock
from lastmile.core.db import Base, TenantOwned
from lastmile.core.errors import Conflict, FieldError, ValidationFailed
from lastmile.core.ids import new_id
from lastmile.core.tenancy import TenantContext, owned, scoped, scoped_delete
from lastmile.core.types import UTCDateTime

STALE_LOCK = timedelta(seconds=60)


class IdempotencyRecord(TenantOwned, Base):
    """One idempotency key of one tenant and the response it produced."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12), default="in_progress")
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    headers: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, index=True)
    locked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class KeyInUse(Conflict):
    code, title = "idempotency-key-in-use", "A request with this Idempotency-Key is in progress"


class KeyReused(ValidationFailed):
    code, title = "idempotency-key-reused", "Idempotency-Key reused with a different request"


@dataclass
class Replay:
    """A stored response to send again."""

    status_code: int
    headers: dict[str, str]
    body: bytes


def fingerprint(method: str, path: str, body: bytes) -> str:
    h = hashlib.sha256()
    h.update(method.encode() + b" " + path.encode() + b"\n")
    h.update(body)
    return h.hexdigest()


def validate_key(key: str) -> str:
    """The key if it is 1 to 255 visible ASCII characters (quotes of the IETF form removed)."""
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not 1 <= len(key) <= 255 or not all(33 <= ord(c) <= 126 for c in key):
        raise ValidationFailed(
            "invalid Idempotency-Key",
            [FieldError("header.Idempotency-Key", "1 to 255 visible ASCII characters")],
        )
    return key


async def _find(session: AsyncSession, tenant: TenantContext, key: str) -> IdempotencyRecord | None:
    return (
        await session.execute(scoped(IdempotencyRecord, tenant).where(IdempotencyRecord.key == key))
    ).scalar_one_or_none()


def _judge(rec: IdempotencyRecord, fp: str, ttl: timedelta) -> Replay | bool | None:
    """Replay, an error, or True when the record may be taken over (expired or abandoned)."""
    now = clock.now()
    if rec.created_at <= now - ttl:
        return True
    if rec.fingerprint != fp:
        raise KeyReused(
            "this Idempotency-Key was used with a different request body or path",
            [FieldError("header.Idempotency-Key", "already used for a different request")],
        )
    if rec.state == "done":
        return Replay(rec.status_code or 200, dict(rec.headers or {}), rec.body or b"")
    if rec.locked_at <= now - STALE_LOCK:
        return True
    raise KeyInUse(
        "the first request with this key has not finished; retry later",
        headers={"Retry-After": "1"},
    )


async def claim(
    *, session: AsyncSession, tenant: TenantContext, key: str, fp: str, ttl: timedelta
) -> Replay | IdempotencyRecord:
    """Take the key for this request (committing the claim) or return what to replay."""
    rec = await _insert(session, tenant, key, fp)
    if rec is not None:
        return rec
    other = await _find(session, tenant, key)
    if other is None:  # its holder released it a moment ago
        raise KeyInUse("concurrent request with this key", headers={"Retry-After": "1"})
    verdict = _judge(other, fp, ttl)
    if isinstance(verdict, Replay):
        return verdict
    # An expired or abandoned claim: take it over.
    await session.execute(
        scoped_delete(IdempotencyRecord, tenant).where(IdempotencyRecord.id == other.id)
    )
    rec = await _insert(session, tenant, key, fp)
    if rec is None:
        raise KeyInUse("concurrent request with this key", headers={"Retry-After": "1"})
    return rec


async def _insert(
    session: AsyncSession, tenant: TenantContext, key: str, fp: str
) -> IdempotencyRecord | None:
    """A committed new claim, or None when the key is already taken."""
    rec = owned(IdempotencyRecord(id=new_id("idk"), key=key, fingerprint=fp), tenant)
    session.add(rec)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return None
    return rec


async def complete(
    *,
    session: AsyncSession,
    record: IdempotencyRecord,
    status_code: int,
    headers: dict[str, str],
    body: bytes,
) -> None:
    """Store the response in the request's own transaction, so it lands with the change."""
    record.state = "done"
    record.status_code = status_code
    record.headers = headers
    record.body = body
    session.add(record)
    await session.flush()


async def release(*, session: AsyncSession, tenant: TenantContext, record_id: str) -> None:
    """Forget a claim whose request failed, so the client may retry with the same key."""
    await session.execute(
        scoped_delete(IdempotencyRecord, tenant).where(IdempotencyRecord.id == record_id)
    )


async def purge_expired(*, session: AsyncSession, tenant: TenantContext, ttl: timedelta) -> int:
    """Delete the tenant's records older than the TTL; returns how many."""
    res = await session.execute(
        scoped_delete(IdempotencyRecord, tenant).where(
            IdempotencyRecord.created_at <= clock.now() - ttl
        )
    )
    return int(res.rowcount or 0)  # type: ignore[attr-defined]
