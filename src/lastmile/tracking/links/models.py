"""The table of tracking links: which tenant and task a token's digest opens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lastmile.core import clock
from lastmile.core.db import Base, TenantOwned
from lastmile.core.types import UTCDateTime


class TrackingLink(TenantOwned, Base):
    """A drop-off's recipient link, by the SHA-256 of its token (the token itself is derived
    from the task id, never stored). Read before the tenant is known only through the
    `lastmile_lookup_tracking_link` SECURITY DEFINER function on PostgreSQL."""

    __tablename__ = "tracking_links"
    __table_args__ = (UniqueConstraint("tenant_id", "task_id"),)

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
