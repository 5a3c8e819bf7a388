"""live etas and driver motion

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 04:08:54.196751
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import lastmile.core.types
from lastmile.migrations import helpers

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "driver_motion",
        sa.Column("driver_id", sa.String(length=40), nullable=False),
        sa.Column("anchor_lat", sa.Float(), nullable=False),
        sa.Column("anchor_lng", sa.Float(), nullable=False),
        sa.Column("still_since", lastmile.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "zone_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("etas_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["driver_id"], ["drivers.id"], name=op.f("fk_driver_motion_driver_id_drivers")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_driver_motion_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("driver_id", name=op.f("pk_driver_motion")),
    )
    with op.batch_alter_table("driver_motion", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_driver_motion_tenant_id"), ["tenant_id"], unique=False)

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("eta_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "eta_announced_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "eta_at_dispatch", lastmile.core.types.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("eta_at_start", lastmile.core.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("delayed_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("eta_error_ratio", sa.Float(), nullable=True))
    helpers.enable_rls("driver_motion")


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("eta_error_ratio")
        batch_op.drop_column("delayed_at")
        batch_op.drop_column("eta_at_start")
        batch_op.drop_column("eta_at_dispatch")
        batch_op.drop_column("eta_announced_at")
        batch_op.drop_column("eta_at")

    with op.batch_alter_table("driver_motion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_driver_motion_tenant_id"))

    op.drop_table("driver_motion")
