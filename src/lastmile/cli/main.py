"""`lastmile`: serve, worker, db, tenant, user, apikey, demo, bench, tracking."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from typing import Annotated

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.cli import bench, db, tenants, tracking
from lastmile.cli.common import in_uow
from lastmile.core.config import get_settings
from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.tenancy import keys, service
from lastmile.tenancy.enums import Role

app = typer.Typer(
    help="lastmile: last-mile delivery and dispatch.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def _check_settings() -> None:
    """Refuse to run with settings that are unsafe (production guards) or malformed."""
    try:
        get_settings()
    except ValidationError as exc:
        for err in exc.errors():
            typer.echo(f"configuration error: {err['msg']}", err=True)
        raise typer.Exit(2) from None


app.add_typer(db.app, name="db")
app.add_typer(tenants.tenant_app, name="tenant")
app.add_typer(tenants.user_app, name="user")
app.add_typer(tenants.apikey_app, name="apikey")
app.add_typer(bench.app, name="bench")
app.add_typer(tracking.app, name="tracking")

DEMO_TENANT = "Demo Deliveries"
DEMO_EMAIL = "admin@demo.example.com"
DEMO_PASSWORD = "demo-password-123"


@app.command()
def serve(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
    workers: Annotated[int, typer.Option(help="Uvicorn worker processes.")] = 1,
) -> None:
    """Serve the API (and, in embedded mode, the job loop)."""
    import uvicorn

    s = get_settings()
    uvicorn.run(
        "lastmile.api.app:create_app",
        factory=True,
        host=host or s.host,
        port=port or s.port,
        workers=workers,
        access_log=False,
        log_level="warning",
    )


@app.command()
def worker(
    interval: Annotated[float, typer.Option(help="Seconds between job runs.")] = 60.0,
    once: Annotated[bool, typer.Option(help="Run every job once and exit.")] = False,
) -> None:
    """Run background jobs."""
    from lastmile.core import broker as live
    from lastmile.core.db import make_engine, make_sessionmaker
    from lastmile.workers import outbox, runner

    async def go() -> None:
        # SIGTERM (what process managers send) stops the loops the way Ctrl-C does: the
        # outcomes of requests already answered are recorded before the process exits.
        current = asyncio.current_task()
        if current is not None:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, current.cancel)
        settings = get_settings()
        engine = make_engine(settings.database_url, pool_size=2)
        # Events relayed here reach the API processes' live feeds through Redis.
        broker = live.make_broker(settings.redis_url) if settings.redis_url else None
        stop_live = None
        if broker is not None:
            await broker.start()
            stop_live = live.register(broker)
        try:
            sessions = make_sessionmaker(engine)
            if once:
                await runner.tick(sessions)
                await outbox.run_once(sessions)
            else:
                loop = outbox.OutboxLoop(sessions, get_settings().outbox_interval_seconds)
                await asyncio.gather(runner.run_forever(sessions, interval), loop.run_forever())
        finally:
            if broker is not None and stop_live is not None:
                stop_live()
                await broker.close()
            await engine.dispose()

    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        asyncio.run(go())


@app.command()
def demo(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Create the demo tenant if missing and print its admin login and a fresh API key."""

    async def go(session: AsyncSession) -> dict[str, str]:
        found = await service.find_tenant_by_name(session=session, name=DEMO_TENANT)
        tid = found.id if found else None
        if tid is None:
            tenant, _admin, _key, plain = await service.create_tenant(
                session=session,
                name=DEMO_TENANT,
                admin_email=DEMO_EMAIL,
                admin_password=DEMO_PASSWORD,
            )
            tid = tenant.id
        else:
            await bind_session(session, tid)
            _k, plain = await keys.create(
                session=session,
                tenant=TenantContext.system(tid),
                name="Demo key",
                role=Role.admin,
                scopes=["*"],
                created_by=None,
            )
        return {
            "tenant_id": tid,
            "admin_email": DEMO_EMAIL,
            "admin_password": DEMO_PASSWORD,
            "api_key": plain,
        }

    out = in_uow(go)
    if as_json:
        typer.echo(json.dumps(out))
        return
    s = get_settings()
    typer.echo(
        "\n".join(
            [
                "lastmile demo tenant ready",
                f"  tenant:   {out['tenant_id']}",
                f"  admin:    {out['admin_email']} / {out['admin_password']}",
                f"  API key:  {out['api_key']}",
                f"  console:  {s.public_url}/docs",
                f"  try:      curl -H 'Authorization: Bearer {out['api_key']}' {s.public_url}/v1/me",
            ]
        )
    )


if __name__ == "__main__":
    app()
