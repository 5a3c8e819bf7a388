"""HTTP routes of integration intake: send an order, read it, cancel it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Response
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.api.deps import get_session, idempotent, require
from lastmile.api.routing import CREATE_ERRORS, make_router
from lastmile.core.tenancy import TenantContext
from lastmile.integrations import service
from lastmile.integrations.schemas import (
    ORDER_ID_PATTERN,
    SOURCE_PATTERN,
    CancelOrder,
    IntakeResult,
    OrderIn,
    OrderItemRead,
    OrderRead,
    OrderTaskRead,
)
from lastmile.tenancy.enums import Role

Session = Annotated[AsyncSession, Depends(get_session)]
Writer = Annotated[
    TenantContext, Depends(require(Role.admin, Role.dispatcher, scope="integrations:write"))
]
Reader = Annotated[
    TenantContext,
    Depends(require(Role.admin, Role.dispatcher, Role.viewer, scope="integrations:read")),
]
SourcePath = Annotated[str, Path(max_length=64, pattern=SOURCE_PATTERN)]
OrderIdPath = Annotated[str, Path(max_length=128, pattern=ORDER_ID_PATTERN)]
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: CREATE_ERRORS[409]
    | {"description": "The order is under way, cancelled or finished (`type` says which)."}
}

router = make_router(prefix="/v1", tags=["integrations"])


def _read(view: service.OrderView) -> dict[str, Any]:
    order = view.order
    return {
        "id": order.id,
        "source": order.source,
        "external_order_id": order.external_order_id,
        "status": order.status,
        "revision": order.revision,
        "pickup": OrderTaskRead(id=view.pickup.id, state=view.pickup.state),
        "dropoff": OrderTaskRead(id=view.dropoff.id, state=view.dropoff.state),
        "items": [OrderItemRead.model_validate(i) for i in order.payload.get("items", [])],
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "cancelled_at": order.cancelled_at,
    }


def _result(view: service.OrderView) -> IntakeResult:
    return IntakeResult(**_read(view), outcome=view.outcome)


@router.post(
    "/integrations/orders",
    status_code=201,
    response_model=IntakeResult,
    dependencies=[Depends(idempotent)],
    responses={
        200: {
            "model": IntakeResult,
            "description": "The order was received before: unchanged (`outcome` `unchanged`) "
            "or its tasks updated (`updated`).",
        },
        **CONFLICT,
    },
)
async def submit_order(
    data: OrderIn, session: Session, ctx: Writer, response: Response
) -> IntakeResult:
    """Send a merchant order (POS, inventory, food delivery): 201 with a new linked pickup (at
    the store, from `ready_at`) and drop-off (at the customer, by `deadline`). Idempotent on
    `(source, external_order_id)`: the same order again is 200 `unchanged`; a changed order is
    200 `updated` (both tasks follow) while neither task is started, 409 `order-started` after,
    409 `order-cancelled` once cancelled."""
    view = await service.submit(session=session, tenant=ctx, order=data)
    response.status_code = 201 if view.outcome == "created" else 200
    return _result(view)


@router.get(
    "/integrations/orders/{source}/{external_order_id}",
    response_model=OrderRead,
)
async def get_order(
    source: SourcePath, external_order_id: OrderIdPath, session: Session, ctx: Reader
) -> OrderRead:
    """An order received from an integration: its status, items and both tasks' ids and states."""
    view = await service.read(
        session=session, tenant=ctx, source=source, external_order_id=external_order_id
    )
    return OrderRead(**_read(view))


@router.post(
    "/integrations/orders/{source}/{external_order_id}/cancel",
    response_model=IntakeResult,
    responses=CONFLICT,
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"example": {"reason": "customer cancelled"}}}
        }
    },
)
async def cancel_order(
    source: SourcePath,
    external_order_id: OrderIdPath,
    session: Session,
    ctx: Writer,
    data: CancelOrder | None = None,
) -> IntakeResult:
    """Cancel an order: both tasks (those not finished) are cancelled, with the reason in their
    history. Cancelling again is 200 `unchanged`; a delivered or failed order is 409
    `order-finished`."""
    view = await service.cancel(
        session=session,
        tenant=ctx,
        source=source,
        external_order_id=external_order_id,
        reason=data.reason if data else "",
    )
    return _result(view)
