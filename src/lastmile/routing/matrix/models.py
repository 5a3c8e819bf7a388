"""The table of travel-time matrices: each tenant's provider configuration."""

from __future__ import annotations

from sqlalchemy import Float, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lastmile.core.db import Base, TenantOwned
from lastmile.core.models import Timestamps
from lastmile.core.types import JSONDoc


class RoutingSettings(TenantOwned, Timestamps, Base):
    """A tenant's travel-time provider (offline, osrm, google) and offline estimate parameters;
    the API key is encrypted (core.keystore, purpose ROUTING)."""

    __tablename__ = "routing_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(20), default="offline")
    base_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    api_key_encrypted: Mapped[str | None] = mapped_column(Text, nullable=True)
    detour_factor: Mapped[float] = mapped_column(Float, default=1.3)
    # km/h by vehicle type, only the types the tenant set (the others use the defaults).
    speeds_kmh: Mapped[dict[str, float]] = mapped_column(JSONDoc, default=dict)
