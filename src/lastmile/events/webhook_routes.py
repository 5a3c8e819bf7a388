"""Webhook endpoints: register, read, change, delete, rotate the secret, test, the delivery log
and replays (admins, and API keys with the `webhooks:*` scopes)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.api.deps import get_session, idempotent, require
from lastmile.api.params import Cursor, Limit
from lastmile.api.routing import CREATE_ERRORS, commit_now, make_router
from lastmile.core.pagination import Page
from lastmile.core.tenancy import TenantContext
from lastmile.events import delivery, endpoints
from lastmile.events.egress import Egress
from lastmile.events.models import WebhookAttempt, WebhookEndpoint
from lastmile.events.schemas import (
    DeliveryRead,
    MessageRead,
    ReplayQueued,
    ReplaySince,
    SecretRotate,
    SecretRotated,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
)
from lastmile.events.sender import HttpSender
from lastmile.tenancy.enums import Role

router = make_router(prefix="/v1", tags=["webhooks"])
Session = Annotated[AsyncSession, Depends(get_session)]
Reader = Annotated[TenantContext, Depends(require(Role.admin, scope="webhooks:read"))]
Writer = Annotated[TenantContext, Depends(require(Role.admin, scope="webhooks:write"))]
DISABLED: dict[int | str, dict[str, Any]] = {
    409: CREATE_ERRORS[409] | {"description": "The endpoint is disabled: enable it first."}
}
IN_FLIGHT: dict[int | str, dict[str, Any]] = {
    409: CREATE_ERRORS[409]
    | {"description": "The endpoint is disabled, or the message is being sent right now."}
}


def _egress(request: Request) -> Egress:
    return Egress.from_settings(request.app.state.settings)


Rules = Annotated[Egress, Depends(_egress)]


def _read(endpoint: WebhookEndpoint) -> WebhookEndpointRead:
    return WebhookEndpointRead.model_validate(endpoint)


def _delivery(attempt: WebhookAttempt, event_type: str) -> DeliveryRead:
    return DeliveryRead(
        id=attempt.id,
        message_id=attempt.message_id,
        event_id=attempt.event_id,
        event_type=event_type,
        attempt=attempt.attempt,
        trigger=attempt.trigger,
        started_at=attempt.started_at,
        succeeded=attempt.status_code is not None and 200 <= attempt.status_code < 300,
        status_code=attempt.status_code,
        latency_ms=attempt.latency_ms,
        response_excerpt=attempt.response_excerpt,
        error=attempt.error,
    )


@router.post(
    "/webhook-endpoints",
    status_code=201,
    response_model=WebhookEndpointCreated,
    dependencies=[Depends(idempotent)],
    responses=CREATE_ERRORS,
)
async def create_webhook_endpoint(
    data: WebhookEndpointCreate, session: Session, ctx: Writer, egress: Rules
) -> WebhookEndpointCreated:
    """Register an endpoint for the given event types (empty: all). The answer holds its
    signing secret, the only time it is shown. URLs must reach a public address (HTTPS in
    production): a private, loopback or link-local one is a 422 naming `body.url`."""
    endpoint, secret = await endpoints.create(session=session, tenant=ctx, data=data, egress=egress)
    return WebhookEndpointCreated(**_read(endpoint).model_dump(), secret=secret)


@router.get("/webhook-endpoints", response_model=Page[WebhookEndpointRead])
async def list_webhook_endpoints(
    session: Session,
    ctx: Reader,
    enabled: Annotated[bool | None, Query(description="Only enabled or disabled ones.")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[WebhookEndpointRead]:
    """The tenant's webhook endpoints, newest first."""
    rows, nxt = await endpoints.search(
        session=session, tenant=ctx, enabled=enabled, limit=limit, cursor=cursor
    )
    return Page[WebhookEndpointRead](data=[_read(r) for r in rows], next_cursor=nxt)


@router.get("/webhook-endpoints/{endpoint_id}", response_model=WebhookEndpointRead)
async def get_webhook_endpoint(
    endpoint_id: str, session: Session, ctx: Reader
) -> WebhookEndpointRead:
    """One webhook endpoint (never its secret)."""
    return _read(await endpoints.require(session=session, tenant=ctx, endpoint_id=endpoint_id))


@router.patch("/webhook-endpoints/{endpoint_id}", response_model=WebhookEndpointRead)
async def update_webhook_endpoint(
    endpoint_id: str, data: WebhookEndpointUpdate, session: Session, ctx: Writer, egress: Rules
) -> WebhookEndpointRead:
    """Change the URL, event types, description or enabled flag. Enabling clears the disabled
    reason; disabling marks the messages still pending failed (replay them later)."""
    endpoint = await endpoints.update(
        session=session, tenant=ctx, endpoint_id=endpoint_id, data=data, egress=egress
    )
    return _read(endpoint)


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=204)
async def delete_webhook_endpoint(endpoint_id: str, session: Session, ctx: Writer) -> Response:
    """Delete an endpoint with its pending messages and delivery log; the events stay in the
    polling feed."""
    await endpoints.delete(session=session, tenant=ctx, endpoint_id=endpoint_id)
    return Response(status_code=204)


@router.post(
    "/webhook-endpoints/{endpoint_id}/rotate-secret",
    response_model=SecretRotated,
    dependencies=[Depends(idempotent)],
    responses=CREATE_ERRORS,
)
async def rotate_webhook_secret(
    endpoint_id: str, data: SecretRotate, session: Session, ctx: Writer
) -> SecretRotated:
    """A new signing secret, shown once. For `overlap_seconds` (default 24 h, at most 7 days)
    deliveries carry two signatures, by the new and the old secret, so receivers can switch
    without losing a message."""
    endpoint, secret = await endpoints.rotate_secret(
        session=session, tenant=ctx, endpoint_id=endpoint_id, overlap_seconds=data.overlap_seconds
    )
    return SecretRotated(
        id=endpoint.id,
        secret=secret,
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
    )


@router.post(
    "/webhook-endpoints/{endpoint_id}/test",
    response_model=DeliveryRead,
    dependencies=[Depends(idempotent)],
    responses=CREATE_ERRORS,
)
async def test_webhook_endpoint(
    endpoint_id: str, request: Request, session: Session, ctx: Writer, egress: Rules
) -> DeliveryRead:
    """Send a `webhook_endpoint.test` event to this endpoint now (enabled or not), signed like
    every delivery, and answer with the attempt: status code, latency, the start of the answer
    or the error. A ping is sent once, never retried."""
    settings = request.app.state.settings
    claimed = await delivery.prepare_ping(
        session=session,
        tenant=ctx,
        endpoint_id=endpoint_id,
        lease_seconds=settings.webhook_lease_seconds,
    )
    await commit_now(request)  # the request below runs outside any transaction
    async with HttpSender(egress=egress, timeout=settings.webhook_timeout_seconds) as sender:
        outcome = await sender.send(claimed)
    recorded = await delivery.record(session=session, tenant=ctx, claimed=claimed, outcome=outcome)
    return _delivery(recorded.attempt, claimed.event_type)


@router.get("/webhook-endpoints/{endpoint_id}/deliveries", response_model=Page[DeliveryRead])
async def list_webhook_deliveries(
    endpoint_id: str, session: Session, ctx: Reader, limit: Limit = 50, cursor: Cursor = None
) -> Page[DeliveryRead]:
    """The delivery log: every attempt made for this endpoint, newest first, with its time,
    status code, latency, the start of the answer, the error, and the event it carried."""
    rows, nxt = await endpoints.deliveries(
        session=session, tenant=ctx, endpoint_id=endpoint_id, limit=limit, cursor=cursor
    )
    return Page[DeliveryRead](data=[_delivery(a, t) for a, t in rows], next_cursor=nxt)


@router.post(
    "/webhook-endpoints/{endpoint_id}/messages/{message_id}/replay",
    status_code=202,
    response_model=MessageRead,
    dependencies=[Depends(idempotent)],
    responses=IN_FLIGHT,
)
async def replay_webhook_message(
    endpoint_id: str, message_id: str, session: Session, ctx: Writer
) -> MessageRead:
    """Send one message again (delivered or failed), now, with a new round of retries; a
    message still pending is sent now, one being sent right now is a 409. The message id is
    in the delivery log."""
    message = await endpoints.replay_message(
        session=session, tenant=ctx, endpoint_id=endpoint_id, message_id=message_id
    )
    return MessageRead.model_validate(message)


@router.post(
    "/webhook-endpoints/{endpoint_id}/replay",
    status_code=202,
    response_model=ReplayQueued,
    dependencies=[Depends(idempotent)],
    responses=DISABLED,
)
async def replay_failed_webhooks(
    endpoint_id: str, data: ReplaySince, session: Session, ctx: Writer
) -> ReplayQueued:
    """Queue again every message of this endpoint that failed (attempts ran out, or the
    endpoint was disabled) among those created since `since`; each gets a new round of
    retries, in order per task."""
    queued = await endpoints.replay_since(
        session=session, tenant=ctx, endpoint_id=endpoint_id, since=data.since
    )
    return ReplayQueued(queued=queued)
