"""tracking: location telemetry (partitioned by day on PostgreSQL), drivers' latest positions,
tenants' tracking settings

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lastmile.core.types
from lastmile.migrations import helpers

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Day partitions (`pgx_locations_pYYYYMMDD`) are made ahead and dropped by the maintenance job
# (lastmile.tracking.partitions); a point no day partition takes lands in the DEFAULT one, which
# the job empties into day partitions. Partitions carry the parent's RLS policies too, so a
# direct read of one is filtered like a read of the parent.
DEFAULT_PARTITION = "CREATE TABLE pgx_locations_default PARTITION OF locations DEFAULT"


def upgrade() -> None:
    op.create_table(
        "locations",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("driver_id", sa.String(length=40), nullable=False),
        sa.Column("recorded_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("speed", sa.Float(), nullable=True),
        sa.Column("heading", sa.Float(), nullable=True),
        sa.Column("received_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("driver_id", "recorded_at", name=op.f("pk_locations")),
        postgresql_partition_by="RANGE (recorded_at)",
    )
    helpers.enable_rls("locations")
    helpers.create_function(DEFAULT_PARTITION)
    helpers.enable_rls("pgx_locations_default")
    op.create_table(
        "driver_positions",
        sa.Column("driver_id", sa.String(length=40), nullable=False),
        sa.Column("recorded_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lng", sa.Float(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("speed", sa.Float(), nullable=True),
        sa.Column("heading", sa.Float(), nullable=True),
        sa.Column("received_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["driver_id"], ["drivers.id"], name=op.f("fk_driver_positions_driver_id_drivers")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_driver_positions_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("driver_id", name=op.f("pk_driver_positions")),
    )
    with op.batch_alter_table("driver_positions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_driver_positions_tenant_id"), ["tenant_id"], unique=False
        )
    helpers.enable_rls("driver_positions")
    op.create_table(
        "tracking_settings",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tracking_settings_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tracking_settings")),
    )
    helpers.enable_rls("tracking_settings")


def downgrade() -> None:
    helpers.disable_rls("tracking_settings")
    op.drop_table("tracking_settings")
    helpers.disable_rls("driver_positions")
    with op.batch_alter_table("driver_positions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_driver_positions_tenant_id"))
    op.drop_table("driver_positions")
    helpers.disable_rls("locations")
    op.drop_table("locations")  # and, on PostgreSQL, every partition with it
