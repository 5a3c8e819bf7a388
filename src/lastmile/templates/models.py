"""Tables of the templates domain."""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lastmile.core import clock
from lastmile.core.db import Base, TenantOwned
from lastmile.core.models import Timestamps
from lastmile.core.types import JSONDoc, UTCDateTime


class RouteTemplate(TenantOwned, Timestamps, Base):
    """Recurring stops on chosen weekdays; each such day they become tasks (one run per day)."""

    __tablename__ = "route_templates"
    __table_args__ = (
        Index("ix_route_templates_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_route_templates_tenant_active", "tenant_id", "active"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"), nullable=True)
    driver_id: Mapped[str | None] = mapped_column(ForeignKey("drivers.id"), nullable=True)
    # ["mon", "wed", ...] in week order; the days are those of `timezone`'s calendar.
    weekdays: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Ordered stops as validated by schemas.StopIn (places, local windows, quantities...).
    stops: Mapped[list[dict[str, Any]]] = mapped_column(JSONDoc, default=list)
    # Why the last scheduled materialisation failed (cleared by a success or a change).
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RouteTemplateRun(TenantOwned, Base):
    """One materialisation of a template for one date: written in the same transaction as its
    tasks, unique per (tenant, template, date), so a day's tasks are created once."""

    __tablename__ = "route_template_runs"
    __table_args__ = (
        UniqueConstraint("tenant_id", "template_id", "date"),
        Index("ix_route_template_runs_template_created", "tenant_id", "template_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    template_id: Mapped[str] = mapped_column(ForeignKey("route_templates.id"))
    date: Mapped[dt.date] = mapped_column(Date)
    task_ids: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    actor_id: Mapped[str] = mapped_column(String(40))
    actor_kind: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
