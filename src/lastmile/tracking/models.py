"""Tables of the tracking domain: location telemetry, each driver's latest position, and the
tenant's tracking settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from lastmile.core import clock
from lastmile.core.db import Base, TenantOwned
from lastmile.core.types import JSONDoc, UTCDateTime


class Location(Base):
    """One point a driver's device recorded, unique per (driver, recorded_at).

    On PostgreSQL the table is partitioned by day on `recorded_at` (partitions named
    `pgx_locations_pYYYYMMDD` and a DEFAULT one, `pgx_locations_default`, made by the migration
    and by the maintenance job; see `partitions.py`); on SQLite it is a plain table. No foreign
    keys: telemetry is written in bulk, the ingest resolves the driver itself, and rows leave by
    retention (whole partitions on PostgreSQL), never one by one with their driver."""

    __tablename__ = "locations"
    __table_args__ = {"postgresql_partition_by": "RANGE (recorded_at)"}

    tenant_id: Mapped[str] = mapped_column(String(40))
    driver_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)  # metres
    speed: Mapped[float | None] = mapped_column(Float, nullable=True)  # metres per second
    heading: Mapped[float | None] = mapped_column(Float, nullable=True)  # degrees from north
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class DriverPosition(TenantOwned, Base):
    """A driver's newest recorded point: one row per driver, moved only by a newer point."""

    __tablename__ = "driver_positions"

    driver_id: Mapped[str] = mapped_column(ForeignKey("drivers.id"), primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    speed: Mapped[float | None] = mapped_column(Float, nullable=True)
    heading: Mapped[float | None] = mapped_column(Float, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)


class TrackingSettings(Base):
    """A tenant's tracking settings; a tenant without a row uses the process defaults
    (`LASTMILE_TRACKING_RETENTION_DAYS`)."""

    __tablename__ = "tracking_settings"

    tenant_id: Mapped[str] = mapped_column(String(40), ForeignKey("tenants.id"), primary_key=True)
    retention_days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=clock.now, onupdate=clock.now
    )


class DriverMotion(TenantOwned, Base):
    """What following a driver's positions needs to remember: where they have been standing
    still since when, which zones they are in, when their ETAs were last refreshed."""

    __tablename__ = "driver_motion"

    driver_id: Mapped[str] = mapped_column(ForeignKey("drivers.id"), primary_key=True)
    anchor_lat: Mapped[float] = mapped_column(Float)
    anchor_lng: Mapped[float] = mapped_column(Float)
    still_since: Mapped[datetime] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    zone_ids: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    etas_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
