"""`lastmile tracking`: storage upkeep (partitions, retention) and a tenant's retention."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.cli.common import in_uow
from lastmile.core.config import get_settings
from lastmile.core.db import make_engine, make_sessionmaker
from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.tracking import service
from lastmile.tracking.schemas import MAX_RETENTION_DAYS

app = typer.Typer(help="Location telemetry storage.", no_args_is_help=True)


@app.command()
def maintain(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Make day partitions ahead, drop expired ones and delete points past each tenant's
    retention (the job loop does it hourly); safe to run at any time, twice included.
    Partitions need the owner: set LASTMILE_DATABASE_ADMIN_URL when the app role is another."""
    from lastmile.workers import tracking

    async def go() -> dict[str, object]:
        s = get_settings()
        engine = make_engine(s.database_url, pool_size=1)
        try:
            report = await tracking.maintain(make_sessionmaker(engine), s)
        finally:
            await engine.dispose()
        return asdict(report)

    out = asyncio.run(go())
    typer.echo(json.dumps(out) if as_json else "\n".join(f"{k}: {v}" for k, v in out.items()))


@app.command()
def retention(
    tenant_id: Annotated[str, typer.Option(help="Tenant id (ten_…).")],
    days: Annotated[
        int | None,
        typer.Option(min=1, max=MAX_RETENTION_DAYS, help="Set it (days); omit to show it."),
    ] = None,
) -> None:
    """Show or set how many days a tenant's location points are kept."""

    async def go(session: AsyncSession) -> int:
        await bind_session(session, tenant_id)
        ctx = TenantContext.system(tenant_id)
        if days is not None:
            await service.put_tracking_settings(session=session, tenant=ctx, retention_days=days)
        return (await service.get_tracking_settings(session=session, tenant=ctx)).retention_days

    typer.echo(f"{tenant_id}: {in_uow(go)} days")


@app.command("backfill-links")
def backfill_links(
    batch: Annotated[
        int, typer.Option(min=1, max=10_000, help="Drop-offs per transaction.")
    ] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Give every drop-off made before tracking links existed its link (idempotent, batched,
    resumable: run it again after an interruption)."""
    from lastmile.workers import tracking

    async def go() -> dict[str, int]:
        engine = make_engine(get_settings().database_url, pool_size=1)
        try:
            return await tracking.backfill_links(make_sessionmaker(engine), batch)
        finally:
            await engine.dispose()

    out = asyncio.run(go())
    total = sum(out.values())
    typer.echo(json.dumps({"added": total, "tenants": out}) if as_json else f"links added: {total}")
