"""Tables of the fleet domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lastmile.core import clock
from lastmile.core.db import Base, TenantOwned
from lastmile.core.models import Timestamps
from lastmile.core.types import JSONDoc, UTCDateTime


class Team(TenantOwned, Timestamps, Base):
    """A group of drivers managed by one or more dispatchers."""

    __tablename__ = "teams"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        Index("ix_teams_tenant_created", "tenant_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    hub_id: Mapped[str | None] = mapped_column(ForeignKey("hubs.id"), nullable=True)
    auto_assign: Mapped[str] = mapped_column(String(20), default="off", server_default="off")


class TeamDispatcher(TenantOwned, Base):
    """A dispatcher (user) who manages a team."""

    __tablename__ = "team_dispatchers"

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class Hub(TenantOwned, Timestamps, Base):
    """A depot or store where routes start and end, with opening hours."""

    __tablename__ = "hubs"
    __table_args__ = (Index("ix_hubs_tenant_created", "tenant_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(500), default="")
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    # {"mon": [["08:00", "18:00"]], ...}; missing day = closed; times local to `timezone`.
    opening_hours: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")


class Vehicle(TenantOwned, Timestamps, Base):
    """A vehicle with a type and a capacity per dimension (weight, volume, parcels...)."""

    __tablename__ = "vehicles"
    __table_args__ = (Index("ix_vehicles_tenant_created", "tenant_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    plate: Mapped[str | None] = mapped_column(String(40), nullable=True)
    capacity: Mapped[dict[str, float]] = mapped_column(JSONDoc, default=dict)


class Skill(TenantOwned, Timestamps, Base):
    """A skill name drivers can have and tasks can require (cold_chain, heavy...)."""

    __tablename__ = "skills"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")


class Driver(TenantOwned, Timestamps, Base):
    """A user with the driver role, with phone, vehicle, skills, shifts and duty status."""

    __tablename__ = "drivers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "user_id"),
        Index("ix_drivers_tenant_created", "tenant_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(32), default="")
    vehicle_id: Mapped[str | None] = mapped_column(ForeignKey("vehicles.id"), nullable=True)
    skills: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    # {"mon": {"start": "08:00", "end": "17:00"}, ...} plus start/end places.
    shift: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    start_place: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    end_place: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=False)
    duty_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DriverTeam(TenantOwned, Base):
    """A driver's membership of a team (every driver is in at least one)."""

    __tablename__ = "driver_teams"

    driver_id: Mapped[str] = mapped_column(ForeignKey("drivers.id"), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), primary_key=True, index=True)


class DutyEvent(TenantOwned, Base):
    """One on/off duty change of a driver."""

    __tablename__ = "duty_events"
    __table_args__ = (Index("ix_duty_events_driver_at", "tenant_id", "driver_id", "at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    driver_id: Mapped[str] = mapped_column(ForeignKey("drivers.id"))
    on_duty: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    actor_id: Mapped[str] = mapped_column(String(40))
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lng: Mapped[float | None] = mapped_column(Float, nullable=True)
