"""Cursor pagination over (created_at, id), newest first."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core.errors import FieldError, ValidationFailed

T = TypeVar("T")
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    """One page of a list: `data`, and `next_cursor` (null on the last page)."""

    data: list[T]
    next_cursor: str | None = None


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; a 422 naming `cursor` when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, row_id = json.loads(raw)
        at = datetime.fromisoformat(created)
        if at.tzinfo is None:
            raise ValueError("cursor time has no timezone")
        return at, str(row_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise ValidationFailed(
            "invalid cursor", [FieldError("query.cursor", "not a cursor returned by this API")]
        ) from exc


async def paginate(
    session: AsyncSession, stmt: Select[Any], model: Any, *, limit: int, cursor: str | None
) -> tuple[list[Any], str | None]:
    """Rows of `stmt` after `cursor`, newest first, and the cursor of the next page."""
    if cursor:
        created, row_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(model.created_at < created, and_(model.created_at == created, model.id < row_id))
        )
    stmt = stmt.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)
    rows = list((await session.execute(stmt)).scalars().all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(last.created_at, last.id)
    return rows, next_cursor
