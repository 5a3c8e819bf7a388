"""Webhook endpoints: register, read, change, delete, rotate the secret, disable, and the
delivery log and replays of one endpoint."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import clock, keystore
from lastmile.core.config import get_settings
from lastmile.core.errors import FieldError, ValidationFailed
from lastmile.core.ids import new_id
from lastmile.core.pagination import decode_cursor, encode_cursor, paginate
from lastmile.core.tenancy import TenantContext, owned, scoped, scoped_delete, scoped_update
from lastmile.events import service as events_service
from lastmile.events import signing
from lastmile.events.egress import Egress, Refused
from lastmile.events.errors import (
    EndpointDisabled,
    EndpointNotFound,
    MessageInFlight,
    MessageNotFound,
)
from lastmile.events.models import Event, WebhookAttempt, WebhookEndpoint, WebhookMessage
from lastmile.events.own import WEBHOOK_ENDPOINT_DISABLED
from lastmile.events.schemas import (
    WebhookEndpointCreate,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
)

__all__ = [
    "create",
    "delete",
    "deliveries",
    "disable",
    "get",
    "replay_message",
    "replay_since",
    "require",
    "rotate_secret",
    "search",
    "signing_secrets",
    "update",
]

DISABLED_PENDING = "endpoint disabled before delivery; replay it once the endpoint is enabled"


def _encrypt(secret: str) -> str:
    return keystore.encrypt(secret, secret_key=get_settings().secret_key, purpose=keystore.WEBHOOK)


def _decrypt(token: str | None) -> str | None:
    if not token:
        return None
    return keystore.decrypt(token, secret_key=get_settings().secret_key, purpose=keystore.WEBHOOK)


def signing_secrets(*, endpoint: WebhookEndpoint, at: datetime) -> list[str]:
    """The secrets that sign now: the current one, then the previous while its overlap lasts
    (a secret stored under another LASTMILE_SECRET_KEY cannot be read and is left out)."""
    found = [_decrypt(endpoint.secret)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > at:
        found.append(_decrypt(endpoint.previous_secret))
    return [s for s in found if s]


async def _check_url(egress: Egress, url: str) -> None:
    try:
        await egress.check_registration(url)
    except Refused as exc:
        raise ValidationFailed("webhook URL refused", [FieldError("body.url", str(exc))]) from exc


async def get(
    *, session: AsyncSession, tenant: TenantContext, endpoint_id: str
) -> WebhookEndpoint | None:
    stmt = scoped(WebhookEndpoint, tenant).where(WebhookEndpoint.id == endpoint_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def require(
    *, session: AsyncSession, tenant: TenantContext, endpoint_id: str
) -> WebhookEndpoint:
    endpoint = await get(session=session, tenant=tenant, endpoint_id=endpoint_id)
    if endpoint is None:
        raise EndpointNotFound(f"no webhook endpoint {endpoint_id}")
    return endpoint


async def create(
    *, session: AsyncSession, tenant: TenantContext, data: WebhookEndpointCreate, egress: Egress
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (the only time the secret is given out)."""
    types = events_service.check_types(types=data.event_types, field="body.event_types")
    await _check_url(egress, data.url)
    secret = signing.new_secret()
    endpoint = owned(
        WebhookEndpoint(
            id=new_id("whe"),
            url=data.url,
            description=data.description,
            event_types=types,
            enabled=data.enabled,
            disabled_reason=None if data.enabled else "created disabled",
            disabled_at=None if data.enabled else clock.now(),
            secret=_encrypt(secret),
            created_by=tenant.actor_id,
        ),
        tenant,
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def search(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    enabled: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[WebhookEndpoint], str | None]:
    """Endpoints, newest first."""
    stmt = scoped(WebhookEndpoint, tenant)
    if enabled is not None:
        stmt = stmt.where(WebhookEndpoint.enabled.is_(enabled))
    return await paginate(session, stmt, WebhookEndpoint, limit=limit, cursor=cursor)


async def _fail_pending(
    session: AsyncSession, tenant: TenantContext, endpoint_id: str, reason: str
) -> None:
    """Messages still owed to a disabled endpoint fail (a replay sends them again); a send in
    flight loses its lease, so its outcome is logged but changes nothing."""
    now = clock.now()
    await session.execute(
        scoped_update(WebhookMessage, tenant)
        .where(WebhookMessage.endpoint_id == endpoint_id, WebhookMessage.state == "pending")
        .values(
            state="failed",
            last_error=reason,
            finished_at=now,
            next_attempt_at=None,
            lease_id=None,
            lease_until=None,
        )
    )


async def disable(
    *, session: AsyncSession, tenant: TenantContext, endpoint: WebhookEndpoint, reason: str
) -> None:
    """Disable automatically (410 Gone, 5 days of failures): fail what is pending and emit
    `webhook_endpoint.disabled`."""
    endpoint.enabled = False
    endpoint.disabled_reason = reason[:200]
    endpoint.disabled_at = clock.now()
    await _fail_pending(session, tenant, endpoint.id, DISABLED_PENDING)
    await session.flush()
    events_service.emit(
        session=session,
        tenant=tenant,
        event_type=WEBHOOK_ENDPOINT_DISABLED,
        data=WebhookEndpointRead.model_validate(endpoint),
    )


async def update(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    endpoint_id: str,
    data: WebhookEndpointUpdate,
    egress: Egress,
) -> WebhookEndpoint:
    """Change the given fields; a new URL is checked like a new endpoint's. Enabling clears the
    disabled reason and the failure streak; disabling fails the messages still pending."""
    endpoint = await require(session=session, tenant=tenant, endpoint_id=endpoint_id)
    if data.event_types is not None:
        endpoint.event_types = events_service.check_types(
            types=data.event_types, field="body.event_types"
        )
    if data.url is not None and data.url != endpoint.url:
        await _check_url(egress, data.url)
        endpoint.url = data.url
    if data.description is not None:
        endpoint.description = data.description
    if data.enabled is True and not endpoint.enabled:
        endpoint.enabled = True
        endpoint.disabled_reason = endpoint.disabled_at = endpoint.failing_since = None
    elif data.enabled is False and endpoint.enabled:
        endpoint.enabled = False
        endpoint.disabled_reason = "disabled through the API"
        endpoint.disabled_at = clock.now()
        await _fail_pending(session, tenant, endpoint.id, DISABLED_PENDING)
    endpoint.updated_at = clock.now()
    await session.flush()
    return endpoint


async def delete(*, session: AsyncSession, tenant: TenantContext, endpoint_id: str) -> None:
    """Delete an endpoint with its messages and delivery log; its events stay in the feed."""
    endpoint = await require(session=session, tenant=tenant, endpoint_id=endpoint_id)
    await session.execute(
        scoped_delete(WebhookAttempt, tenant).where(WebhookAttempt.endpoint_id == endpoint.id)
    )
    await session.execute(
        scoped_delete(WebhookMessage, tenant).where(WebhookMessage.endpoint_id == endpoint.id)
    )
    await session.delete(endpoint)
    await session.flush()


async def rotate_secret(
    *, session: AsyncSession, tenant: TenantContext, endpoint_id: str, overlap_seconds: int
) -> tuple[WebhookEndpoint, str]:
    """A new secret; the current one keeps signing next to it for `overlap_seconds` (a secret
    older than that is dropped)."""
    endpoint = await require(session=session, tenant=tenant, endpoint_id=endpoint_id)
    secret = signing.new_secret()
    now = clock.now()
    if overlap_seconds > 0:
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = now + timedelta(seconds=overlap_seconds)
    else:
        endpoint.previous_secret = endpoint.previous_secret_expires_at = None
    endpoint.secret = _encrypt(secret)
    endpoint.updated_at = now
    await session.flush()
    return endpoint, secret


async def deliveries(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    endpoint_id: str,
    limit: int,
    cursor: str | None,
) -> tuple[list[tuple[WebhookAttempt, str]], str | None]:
    """The endpoint's delivery attempts, newest first, each with its event's type."""
    await require(session=session, tenant=tenant, endpoint_id=endpoint_id)
    stmt = scoped(WebhookAttempt, tenant).where(WebhookAttempt.endpoint_id == endpoint_id)
    if cursor:
        at, row_id = decode_cursor(cursor)
        stmt = stmt.where(
            or_(
                WebhookAttempt.started_at < at,
                and_(WebhookAttempt.started_at == at, WebhookAttempt.id < row_id),
            )
        )
    stmt = stmt.order_by(WebhookAttempt.started_at.desc(), WebhookAttempt.id.desc())
    rows = list((await session.execute(stmt.limit(limit + 1))).scalars())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].started_at, rows[-1].id)
    types = await _event_types(session, tenant, {r.event_id for r in rows})
    return [(r, types.get(r.event_id, "")) for r in rows], next_cursor


async def _event_types(
    session: AsyncSession, tenant: TenantContext, event_ids: set[str]
) -> dict[str, str]:
    if not event_ids:
        return {}
    stmt = scoped(Event, tenant).with_only_columns(Event.id, Event.type)
    rows = await session.execute(stmt.where(Event.id.in_(sorted(event_ids))))
    return {str(row[0]): str(row[1]) for row in rows}


def _requeue(now: datetime) -> dict[str, Any]:
    """A message's columns when it is sent again: due now, a new round of retries."""
    return {
        "state": "pending",
        "next_attempt_at": now,
        "next_trigger": "replay",
        "round_start": WebhookMessage.attempts,
        "finished_at": None,
        "lease_id": None,
        "lease_until": None,
    }


async def replay_message(
    *, session: AsyncSession, tenant: TenantContext, endpoint_id: str, message_id: str
) -> WebhookMessage:
    """Send one message again, now, with a new round of retries (a pending one is made due
    now; one being sent is a 409, so it is never in flight twice)."""
    endpoint = await require(session=session, tenant=tenant, endpoint_id=endpoint_id)
    if not endpoint.enabled:
        raise EndpointDisabled("the endpoint is disabled: enable it, then replay")
    stmt = scoped(WebhookMessage, tenant).where(
        WebhookMessage.id == message_id, WebhookMessage.endpoint_id == endpoint.id
    )
    message = (await session.execute(stmt)).scalar_one_or_none()
    if message is None:
        raise MessageNotFound(f"no message {message_id} for this endpoint")
    now = clock.now()
    if message.state == "pending":
        if message.lease_until is not None and message.lease_until > now:
            raise MessageInFlight("the message is being sent right now: replay it once sent")
        message.next_attempt_at, message.next_trigger = now, "replay"
    else:
        await session.execute(
            scoped_update(WebhookMessage, tenant)
            .where(WebhookMessage.id == message.id)
            .values(**_requeue(now))
        )
        await session.refresh(message)
    events_service.wake_on_commit(session=session)
    await session.flush()
    return message


async def replay_since(
    *, session: AsyncSession, tenant: TenantContext, endpoint_id: str, since: datetime
) -> int:
    """Queue again every failed message of the endpoint created at or after `since`."""
    endpoint = await require(session=session, tenant=tenant, endpoint_id=endpoint_id)
    if not endpoint.enabled:
        raise EndpointDisabled("the endpoint is disabled: enable it, then replay")
    result: Any = await session.execute(
        scoped_update(WebhookMessage, tenant)
        .where(
            WebhookMessage.endpoint_id == endpoint.id,
            WebhookMessage.state == "failed",
            WebhookMessage.created_at >= since,
        )
        .values(**_requeue(clock.now()))
    )
    events_service.wake_on_commit(session=session)
    return int(result.rowcount or 0)
