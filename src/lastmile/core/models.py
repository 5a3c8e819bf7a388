"""Column mixins shared by domain tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Mapped, mapped_column

from lastmile.core import clock
from lastmile.core.types import UTCDateTime


class Timestamps:
    """`created_at` and `updated_at`, timezone-aware UTC."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=clock.now, onupdate=clock.now
    )
