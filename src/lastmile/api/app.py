"""create_app(): the FastAPI application with every domain's routes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from lastmile import __version__
from lastmile.api import files, ops, problems
from lastmile.api.middleware import RequestContextMiddleware
from lastmile.api.ratelimit import MemoryLimiter, RedisLimiter
from lastmile.core import broker as live_broker
from lastmile.core.config import Settings, get_settings
from lastmile.core.db import make_engine, make_sessionmaker
from lastmile.core.logging import configure as configure_logging
from lastmile.core.metrics import POOLS
from lastmile.events import service as events_service
from lastmile.events.routes import router as events_router
from lastmile.events.webhook_routes import router as webhooks_router
from lastmile.fleet.routes import router as fleet_router
from lastmile.integrations.routes import router as integrations_router
from lastmile.places.routes import router as places_router
from lastmile.reports.routes import router as reports_router
from lastmile.routing import executor
from lastmile.routing.dispatch_routes import router as dispatch_router
from lastmile.routing.matrix.routes import router as routing_settings_router
from lastmile.routing.plan_routes import router as route_plans_router
from lastmile.tasks.action_routes import router as task_actions_router
from lastmile.tasks.incident_routes import router as incidents_router
from lastmile.tasks.routes import router as tasks_router
from lastmile.templates.routes import router as templates_router
from lastmile.tenancy.routes import router as tenancy_router
from lastmile.tracking.links.routes import router as tracking_links_router
from lastmile.tracking.routes import router as tracking_router
from lastmile.tracking.stream_routes import router as stream_router
from lastmile.workers.outbox import OutboxLoop
from lastmile.workers.runner import run_forever

DESCRIPTION = """Multi-tenant last-mile delivery and dispatch API.

Authenticate with `Authorization: Bearer <API key or access token>`. Errors are RFC 9457
`application/problem+json`. Creating `POST`s accept an `Idempotency-Key` header.
See `docs/api/conventions.md`."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for these settings (default: the environment)."""
    s = settings or get_settings()
    configure_logging(s.log_level, s.log_json)
    engine = make_engine(s.database_url, pool_size=s.database_pool_size)
    limiter: Any = RedisLimiter(s.redis_url) if s.redis_url else MemoryLimiter()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await app.state.broker.start()
        stop_live = live_broker.register(app.state.broker)
        loops: list[asyncio.Task[None]] = []
        stop_waking = None
        if s.embedded_worker:
            loops.append(
                asyncio.create_task(
                    run_forever(app.state.sessions, s.worker_interval_seconds, settings=s)
                )
            )
            outbox = OutboxLoop(app.state.sessions, s.outbox_interval_seconds, settings=s)
            stop_waking = events_service.on_emit(waker=outbox.wake)
            loops.append(asyncio.create_task(outbox.run_forever()))
        if s.planner_warm:
            executor.warm()  # load the solvers in a planner process before the first plan
        yield
        if stop_waking is not None:
            stop_waking()
        for loop in loops:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        stop_live()
        await app.state.broker.close()
        if isinstance(limiter, RedisLimiter):
            await limiter.close()
        await engine.dispose()

    app = FastAPI(
        title="lastmile",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        servers=[{"url": s.public_url, "description": "This lastmile instance"}],
        lifespan=lifespan,
    )
    app.state.settings = s
    app.state.engine = engine
    app.state.sessions = make_sessionmaker(engine)
    app.state.sessions_ro = make_sessionmaker(engine, readonly=True)
    app.state.limiter = limiter
    app.state.broker = live_broker.make_broker(s.redis_url)
    app.state.swagger_dir = ops.swagger_dir(s.static_dir)
    POOLS.pools["main"] = engine.sync_engine.pool

    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=s.max_body_bytes,
        max_upload_bytes=s.max_upload_bytes,
    )
    problems.install(app)
    app.include_router(ops.router)
    app.include_router(tenancy_router)
    app.include_router(places_router)
    app.include_router(routing_settings_router)
    app.include_router(route_plans_router)
    app.include_router(dispatch_router)
    app.include_router(tracking_router)  # before fleet: /v1/drivers/locations is no driver id
    app.include_router(fleet_router)
    app.include_router(files.router)
    app.include_router(incidents_router)
    app.include_router(tasks_router)
    app.include_router(task_actions_router)
    app.include_router(templates_router)
    app.include_router(integrations_router)
    app.include_router(events_router)
    app.include_router(stream_router)
    app.include_router(reports_router)
    app.include_router(tracking_links_router)
    app.include_router(webhooks_router)
    if app.state.swagger_dir.exists():
        app.mount("/docs/assets", StaticFiles(directory=app.state.swagger_dir), name="docs-assets")
    return app
