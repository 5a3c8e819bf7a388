"""Integration intake: an order becomes a linked pickup/drop-off pair, exactly once.

Idempotent by construction, as route template runs are: the order row (unique per tenant,
source and external order id) is inserted in the same transaction as its two tasks, inside a
savepoint. A concurrent first send of the same order waits on PostgreSQL for the winner's commit,
fails on the unique key, rolls its savepoint (and its tasks) back and continues as a resend;
SQLite runs writers one at a time. A resend locks the row (`FOR UPDATE`), so concurrent updates
of one order apply one after the other.

The tasks are created, changed and cancelled through the tasks domain's services, so their
history, zone and team tagging, visibility rules and events are those of any other task.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lastmile.core import clock
from lastmile.core.errors import DomainError, FieldError, ValidationFailed
from lastmile.core.ids import new_id
from lastmile.core.tenancy import TenantContext, owned, scoped
from lastmile.integrations.errors import (
    OrderCancelled,
    OrderFinished,
    OrderNotFound,
    OrderStarted,
)
from lastmile.integrations.models import IntegrationOrder
from lastmile.integrations.schemas import OrderIn
from lastmile.places import service as places_service
from lastmile.routing import dispatch
from lastmile.tasks import lifecycle
from lastmile.tasks import service as tasks_service
from lastmile.tasks.enums import Kind, State
from lastmile.tasks.errors import TaskNotFound
from lastmile.tasks.schemas import TaskCreate, TaskUpdate

__all__ = ["META_ORDER", "META_SOURCE", "OrderView", "cancel", "get", "read", "submit"]

# Metadata every task of an order carries (GET /v1/tasks?metadata=external_order_id:1001).
META_SOURCE, META_ORDER = "integration_source", "external_order_id"
NOTES_MAX = 5000  # the tasks' notes limit
CHANGEABLE = frozenset({State.unassigned, State.assigned})
PLACE_KEYS = ("address", "lat", "lng")


@dataclass(frozen=True)
class TaskState:
    id: str
    state: str


@dataclass(frozen=True)
class OrderView:
    """An order, the states of its two tasks, and what the request did to it."""

    order: IntegrationOrder
    pickup: TaskState
    dropoff: TaskState
    outcome: str = "unchanged"


# --- the order as data -------------------------------------------------------------------


def _utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: _utc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_utc(v) for v in value]
    return value


def _canonical(order: OrderIn) -> dict[str, Any]:
    """The order with every default filled in and times in UTC: equal orders, equal documents."""
    return dict(_utc(order.model_dump(mode="python")))


def _digest(document: dict[str, Any]) -> str:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _load(doc: dict[str, Any]) -> dict[str, float]:
    if doc.get("quantities") is not None:
        return dict(doc["quantities"])
    return {"items": float(sum(i["quantity"] for i in doc["items"]))}


def _notes(doc: dict[str, Any]) -> str:
    """The order's notes, then its items, one a line; items that do not fit are counted."""
    head = f"{doc['notes']}\n\n" if doc["notes"] else ""
    lines = ["Items:"]
    for item in doc["items"]:
        sku = f" [{item['sku']}]" if item.get("sku") else ""
        lines.append(f"{item['quantity']} x {item['name']}{sku}")
    text = head + "\n".join(lines)
    if len(text) <= NOTES_MAX:
        return text
    kept = lines[:]
    while kept and len(head + "\n".join(kept)) + 40 > NOTES_MAX:
        kept.pop()
    return head + "\n".join(kept) + f"\n... and {len(lines) - len(kept)} more (see the order)"


def _fields(doc: dict[str, Any], kind: Kind) -> dict[str, Any]:
    """A task's fields from the order document: the store's for the pickup, the customer's for
    the drop-off; the window, load, notes, metadata and team are the pair's."""
    place = doc["pickup"] if kind == Kind.pickup else doc["dropoff"]
    recipient = doc["pickup"]["contact"] if kind == Kind.pickup else doc["recipient"]
    fields: dict[str, Any] = {
        "address": place["address"],
        "lat": place["lat"],
        "lng": place["lng"],
        "recipient": dict(recipient),
        "complete_after": doc["pickup"]["ready_at"] if kind == Kind.pickup else None,
        "complete_before": doc["dropoff"]["deadline"],
        "quantities": _load(doc),
        "notes": _notes(doc),
        "metadata": {META_SOURCE: doc["source"], META_ORDER: doc["external_order_id"]},
    }
    if doc.get("team_id") is not None:
        fields["team_id"] = doc["team_id"]
    return fields


def _check(order: OrderIn) -> None:
    """Rules across fields, each naming its field."""
    ready, deadline = order.pickup.ready_at, order.dropoff.deadline
    if ready is not None and deadline is not None and deadline <= ready:
        raise ValidationFailed(
            "the deadline is not after the ready time",
            [FieldError("body.dropoff.deadline", "must be later than pickup.ready_at")],
        )


# Task fields as the tasks service names them -> the order fields they come from.
_TASK_FIELD = {
    "lat": "{kind}.lat",
    "lng": "{kind}.lng",
    "address": "{kind}.address",
    "recipient": "{contact}",
    "complete_after": "pickup.ready_at",
    "complete_before": "dropoff.deadline",
    "quantities": "quantities",
    "team_id": "team_id",
    "notes": "notes",
}


def _renamed(exc: DomainError, kind: Kind) -> DomainError:
    """The tasks service's error with its fields named as the order's (`body.lat` of the
    pickup is `body.pickup.lat`)."""
    contact = "pickup.contact" if kind == Kind.pickup else "recipient"
    for err in exc.errors:
        name = err.field.removeprefix("body.")
        head, dot, rest = name.partition(".")
        if head in _TASK_FIELD:
            mapped = _TASK_FIELD[head].format(kind=kind.value, contact=contact)
            err.field = f"body.{mapped}{dot}{rest}"
    return exc


# --- reads -------------------------------------------------------------------------------


async def _row(
    session: AsyncSession, tenant: TenantContext, source: str, external_order_id: str, lock: bool
) -> IntegrationOrder | None:
    stmt = scoped(IntegrationOrder, tenant).where(
        IntegrationOrder.source == source, IntegrationOrder.external_order_id == external_order_id
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def get(
    *, session: AsyncSession, tenant: TenantContext, source: str, external_order_id: str
) -> IntegrationOrder | None:
    """The order row, whether or not the caller may see its tasks."""
    return await _row(session, tenant, source, external_order_id, lock=False)


async def _tasks(
    session: AsyncSession, tenant: TenantContext, order: IntegrationOrder
) -> tuple[Any, Any]:
    """The order's two tasks; an order whose tasks the caller may not see is not found."""
    try:
        pickup = await tasks_service.require(
            session=session, tenant=tenant, task_id=order.pickup_task_id
        )
        dropoff = await tasks_service.require(
            session=session, tenant=tenant, task_id=order.dropoff_task_id
        )
    except TaskNotFound:
        raise OrderNotFound(f"no order {order.external_order_id} from {order.source}") from None
    return pickup, dropoff


def _view(order: IntegrationOrder, pickup: Any, dropoff: Any, outcome: str) -> OrderView:
    return OrderView(
        order, TaskState(pickup.id, pickup.state), TaskState(dropoff.id, dropoff.state), outcome
    )


async def read(
    *, session: AsyncSession, tenant: TenantContext, source: str, external_order_id: str
) -> OrderView:
    """The order and its tasks' states; 404 when unknown or its tasks are not the caller's to see."""
    order = await get(
        session=session, tenant=tenant, source=source, external_order_id=external_order_id
    )
    if order is None:
        raise OrderNotFound(f"no order {external_order_id} from {source}")
    pickup, dropoff = await _tasks(session, tenant, order)
    return _view(order, pickup, dropoff, "unchanged")


# --- intake ------------------------------------------------------------------------------


async def _place(
    session: AsyncSession, tenant: TenantContext, fields: dict[str, Any], kind: Kind
) -> None:
    """Fill in the coordinates of a place given by its address alone (the tenant's geocoder)."""
    if fields["lat"] is not None:
        return
    found = await places_service.geocode(
        session=session, tenant=tenant, address=fields["address"], field=f"body.{kind}.address"
    )
    if found is None:
        raise ValidationFailed(
            "no geocoder is configured; send coordinates",
            [FieldError(f"body.{kind}.lat", "required when the tenant has no geocoder")],
        )
    fields["lat"], fields["lng"] = found.lat, found.lng


async def _create_pair(
    session: AsyncSession, tenant: TenantContext, doc: dict[str, Any]
) -> tuple[Any, Any]:
    tasks: list[Any] = []
    for kind in (Kind.pickup, Kind.dropoff):
        fields = _fields(doc, kind)
        await _place(session, tenant, fields, kind)
        if tasks:
            fields["depends_on"] = tasks[0].id
        try:
            tasks.append(
                await tasks_service.create(
                    session=session, tenant=tenant, data=TaskCreate(kind=kind, **fields)
                )
            )
        except DomainError as exc:
            raise _renamed(exc, kind) from None
    return tasks[0], tasks[1]


async def submit(*, session: AsyncSession, tenant: TenantContext, order: OrderIn) -> OrderView:
    """Create the order's pair, or, for an order received before: nothing when it is the same,
    both tasks updated when it differs (refused once the order is under way or cancelled)."""
    _check(order)
    doc = _canonical(order)
    sha = _digest(doc)
    row = await _row(session, tenant, order.source, order.external_order_id, lock=True)
    if row is None:
        try:
            async with session.begin_nested():
                pickup, dropoff = await _create_pair(session, tenant, doc)
                row = owned(
                    IntegrationOrder(
                        id=new_id("ord"),
                        source=order.source,
                        external_order_id=order.external_order_id,
                        pickup_task_id=pickup.id,
                        dropoff_task_id=dropoff.id,
                        digest=sha,
                        status="open",
                        revision=1,
                        payload=doc,
                    ),
                    tenant,
                )
                session.add(row)
                await session.flush()
        except IntegrityError:
            # The same order was created concurrently and committed first: this is a resend.
            row = await _row(session, tenant, order.source, order.external_order_id, lock=True)
            if row is None:
                raise
        else:
            await dispatch.auto_assign(session=session, tenant=tenant, task=pickup)
            pickup, dropoff = await _tasks(session, tenant, row)
            return _view(row, pickup, dropoff, "created")
    return await _resend(session, tenant, row, doc, sha)


async def _resend(
    session: AsyncSession,
    tenant: TenantContext,
    row: IntegrationOrder,
    doc: dict[str, Any],
    sha: str,
) -> OrderView:
    pickup, dropoff = await _tasks(session, tenant, row)
    if sha == row.digest:
        return _view(row, pickup, dropoff, "unchanged")
    name = f"order {row.external_order_id} from {row.source}"
    if row.status == "cancelled":
        raise OrderCancelled(f"{name} was cancelled; it can no longer be changed")
    for kind, task in ((Kind.pickup, pickup), (Kind.dropoff, dropoff)):
        if task.state not in CHANGEABLE:
            raise OrderStarted(
                f"{name} cannot be changed: its {kind} task {task.id} is {task.state} "
                f"(an order can change only while both tasks are unassigned or assigned)"
            )
    for kind, task in ((Kind.pickup, pickup), (Kind.dropoff, dropoff)):
        before, after = _fields(row.payload, kind), _fields(doc, kind)
        changes = {k: v for k, v in after.items() if before.get(k) != v}
        if any(k in changes for k in PLACE_KEYS):
            await _place(session, tenant, after, kind)
            changes.update({k: after[k] for k in PLACE_KEYS})
        if not changes:
            continue
        try:
            await tasks_service.update(
                session=session, tenant=tenant, task_id=task.id, data=TaskUpdate(**changes)
            )
        except DomainError as exc:
            raise _renamed(exc, kind) from None
    row.payload, row.digest, row.revision = doc, sha, row.revision + 1
    await session.flush()
    return _view(row, pickup, dropoff, "updated")


async def cancel(
    *,
    session: AsyncSession,
    tenant: TenantContext,
    source: str,
    external_order_id: str,
    reason: str = "",
) -> OrderView:
    """Cancel the order: each of its unfinished tasks is cancelled through the tasks' lifecycle.
    Cancelling a cancelled order changes nothing; a delivered (or failed) one cannot be."""
    row = await _row(session, tenant, source, external_order_id, lock=True)
    if row is None:
        raise OrderNotFound(f"no order {external_order_id} from {source}")
    pickup, dropoff = await _tasks(session, tenant, row)
    if row.status == "cancelled":
        return _view(row, pickup, dropoff, "unchanged")
    if dropoff.state in (State.completed, State.failed):
        raise OrderFinished(
            f"order {external_order_id} from {source} is finished: its dropoff task "
            f"{dropoff.id} is {dropoff.state}"
        )
    why = reason or f"order cancelled by {source}"
    for task in (pickup, dropoff):
        if task.state not in (State.completed, State.failed, State.cancelled):
            await lifecycle.cancel(session=session, tenant=tenant, task_id=task.id, reason=why)
    row.status, row.cancelled_at, row.revision = "cancelled", clock.now(), row.revision + 1
    await session.flush()
    return _view(row, pickup, dropoff, "cancelled")
