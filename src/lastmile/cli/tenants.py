"""`lastmile tenant`, `user` and `apikey`: provisioning from the command line."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.cli.common import in_uow
from lastmile.core.tenancy import TenantContext, bind_session
from lastmile.tenancy import keys, service
from lastmile.tenancy.enums import Role
from lastmile.tenancy.schemas import UserCreate

tenant_app = typer.Typer(help="Tenants.", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys.", no_args_is_help=True)


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Option(help="Tenant name.")],
    admin_email: Annotated[str, typer.Option(help="Email of the first admin.")],
    admin_password: Annotated[str | None, typer.Option(help="Password of the first admin.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a tenant, its first admin and an admin API key (printed once)."""

    async def go(session: AsyncSession) -> dict[str, str]:
        tenant, admin, _key, plain = await service.create_tenant(
            session=session, name=name, admin_email=admin_email, admin_password=admin_password
        )
        return {"tenant_id": tenant.id, "admin_user_id": admin.id, "api_key": plain}

    out = in_uow(go)
    typer.echo(json.dumps(out) if as_json else "\n".join(f"{k}: {v}" for k, v in out.items()))


@user_app.command("create")
def user_create(
    tenant_id: Annotated[str, typer.Option(help="Tenant id (ten_…).")],
    email: Annotated[str, typer.Option()],
    role: Annotated[Role, typer.Option()] = Role.dispatcher,
    name: Annotated[str, typer.Option()] = "User",
    password: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a user in a tenant."""

    async def go(session: AsyncSession) -> dict[str, str]:
        await bind_session(session, tenant_id)
        user = await service.create_user(
            session=session,
            tenant=TenantContext.system(tenant_id),
            data=UserCreate(email=email, name=name, role=role, password=password),
        )
        return {"user_id": user.id, "email": user.email, "role": user.role}

    out = in_uow(go)
    typer.echo(json.dumps(out) if as_json else "\n".join(f"{k}: {v}" for k, v in out.items()))


@apikey_app.command("create")
def apikey_create(
    tenant_id: Annotated[str, typer.Option(help="Tenant id (ten_…).")],
    name: Annotated[str, typer.Option()] = "CLI key",
    role: Annotated[Role, typer.Option()] = Role.admin,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create an API key in a tenant (printed once)."""

    async def go(session: AsyncSession) -> dict[str, str]:
        await bind_session(session, tenant_id)
        key, plain = await keys.create(
            session=session,
            tenant=TenantContext.system(tenant_id),
            name=name,
            role=role,
            scopes=["*"],
            created_by=None,
        )
        return {"api_key_id": key.id, "api_key": plain}

    out = in_uow(go)
    typer.echo(json.dumps(out) if as_json else "\n".join(f"{k}: {v}" for k, v in out.items()))
