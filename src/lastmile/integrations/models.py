"""Tables of the integrations domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lastmile.core.db import Base, TenantOwned
from lastmile.core.models import Timestamps
from lastmile.core.types import JSONDoc, UTCDateTime


class IntegrationOrder(TenantOwned, Timestamps, Base):
    """A merchant order received from an integration and the pickup/drop-off pair it became:
    one row per (tenant, source, external order id), written in the same transaction as the
    two tasks, so an order becomes one pair however often (or concurrently) it is sent."""

    __tablename__ = "integration_orders"
    __table_args__ = (UniqueConstraint("tenant_id", "source", "external_order_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    external_order_id: Mapped[str] = mapped_column(String(128))
    pickup_task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"))
    dropoff_task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"))
    # SHA-256 of the order's canonical JSON: an identical resend changes nothing.
    digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | cancelled
    revision: Mapped[int] = mapped_column(Integer, default=1)  # +1 per accepted change
    # The order as last accepted (canonical form): what an update is compared with.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
