"""Tables of the routing domain: route plans (optimisation runs and their results)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from lastmile.core.db import Base, TenantOwned
from lastmile.core.models import Timestamps
from lastmile.core.types import JSONDoc, UTCDateTime


class RoutePlan(TenantOwned, Timestamps, Base):
    """An optimisation run: what was asked, its progress, and the routes it found."""

    __tablename__ = "route_plans"
    __table_args__ = (
        Index("ix_route_plans_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_route_plans_status", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    objective: Mapped[str] = mapped_column(String(12))
    time_budget_seconds: Mapped[float] = mapped_column(Float)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    auto_apply: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    request: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    engine: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_by: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
