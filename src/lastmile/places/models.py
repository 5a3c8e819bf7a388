"""Tables of the places domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lastmile.core.db import Base, TenantOwned
from lastmile.core.models import Timestamps
from lastmile.core.types import JSONDoc, UTCDateTime


class Zone(TenantOwned, Timestamps, Base):
    """A delivery area: a GeoJSON Polygon or MultiPolygon, with its bounding box for lookups."""

    __tablename__ = "zones"
    __table_args__ = (
        Index("ix_zones_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_zones_bbox", "tenant_id", "min_lat", "max_lat", "min_lng", "max_lng"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    geometry: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    min_lat: Mapped[float] = mapped_column(Float)
    min_lng: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    max_lng: Mapped[float] = mapped_column(Float)
    # Deleted zones are kept (tasks stay tagged with them) but no longer listed or matched.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ZoneTeam(TenantOwned, Base):
    """A team that serves a zone."""

    __tablename__ = "zone_teams"

    zone_id: Mapped[str] = mapped_column(ForeignKey("zones.id"), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), primary_key=True, index=True)


class GeocoderConfig(TenantOwned, Timestamps, Base):
    """A tenant's geocoding provider (none, nominatim, google); the API key is encrypted."""

    __tablename__ = "geocoder_configs"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20), default="none")
    base_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    api_key_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
