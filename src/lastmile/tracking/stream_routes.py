"""`/v1/stream`: the dispatcher's live feed over a WebSocket (positions and events)."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from lastmile.api.problems import problem_response
from lastmile.core import clock
from lastmile.core.broker import Broker, channel_for
from lastmile.core.tenancy import TenantContext
from lastmile.core.uow import UnitOfWork
from lastmile.fleet import service as fleet_service
from lastmile.tenancy import auth
from lastmile.tenancy import service as tenancy_service
from lastmile.tenancy.enums import Role
from lastmile.tracking.stream import Feed

router = APIRouter()
ROLES = {Role.admin, Role.dispatcher, Role.viewer}
SCOPE = "tracking:read"


def _token(websocket: WebSocket) -> str | None:
    header = websocket.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return websocket.query_params.get("access_token") or None


async def _deny(websocket: WebSocket, status: int, code: str, title: str, detail: str) -> None:
    await websocket.send_denial_response(problem_response(None, status, code, title, detail))


async def _caller(websocket: WebSocket) -> tuple[TenantContext, set[str] | None] | None:
    """The caller and the teams they see (None: all), or None after refusing the connection."""
    token = _token(websocket)
    async with UnitOfWork(websocket.app.state.sessions_ro) as uow:
        ctx = await auth.authenticate(session=uow.session, token=token) if token else None
        if ctx is None:
            await _deny(
                websocket,
                401,
                "unauthorized",
                "Unauthorized",
                "send Authorization: Bearer <API key or access token>, or ?access_token=",
            )
            return None
        tenant = await tenancy_service.get_tenant(session=uow.session, tenant_id=ctx.tenant_id)
        if tenant is None or tenant.status != "active":
            await _deny(websocket, 403, "forbidden", "Forbidden", "the tenant is not active")
            return None
        if ctx.role not in ROLES or not ctx.has_scope(SCOPE):
            detail = f"the live feed needs the role admin, dispatcher or viewer and {SCOPE}"
            await _deny(websocket, 403, "forbidden", "Forbidden", detail)
            return None
        teams = await fleet_service.visible_team_ids(session=uow.session, tenant=ctx)
    return ctx, teams


@router.websocket("/v1/stream")
async def stream(websocket: WebSocket) -> None:
    """Positions (`{"type": "position", ...}`) and events (`{"type": "event", "event": ...}`)
    as they happen; `{"type": "heartbeat"}` when quiet. See docs/guides/live-feed.md."""
    found = await _caller(websocket)
    if found is None:
        return
    ctx, teams = found
    settings = websocket.app.state.settings
    broker: Broker = websocket.app.state.broker
    feed = Feed(teams, settings.stream_max_events)
    stop = broker.subscribe(channel_for(ctx.tenant_id), feed.offer)
    try:
        await websocket.accept()
        await websocket.send_json(
            {
                "type": "hello",
                "tenant_id": ctx.tenant_id,
                "team_ids": sorted(teams) if teams is not None else None,
                "heartbeat_seconds": settings.stream_heartbeat_seconds,
            }
        )
        sender = asyncio.create_task(_send(websocket, feed, settings.stream_heartbeat_seconds))
        try:
            while True:  # the client's frames are ignored; reading notices it going away
                if (await websocket.receive())["type"] == "websocket.disconnect":
                    break
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await sender
    finally:
        stop()


async def _send(websocket: WebSocket, feed: Feed, heartbeat: float) -> None:
    while True:
        try:
            await asyncio.wait_for(feed.ready.wait(), heartbeat)
        except TimeoutError:
            await websocket.send_json({"type": "heartbeat", "at": clock.now().isoformat()})
            continue
        for message in feed.take():
            await websocket.send_json(message)
