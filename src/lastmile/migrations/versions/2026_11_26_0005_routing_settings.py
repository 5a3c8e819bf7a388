"""routing settings: each tenant's travel-time provider (offline, osrm, google) and offline speeds

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 00:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import lastmile.core.types
from lastmile.migrations import helpers

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "routing_settings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=True),
        sa.Column("api_key_encrypted", sa.Text(), nullable=True),
        sa.Column("detour_factor", sa.Float(), nullable=False),
        sa.Column(
            "speeds_kmh",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_routing_settings_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_settings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_routing_settings_tenant_id")),
    )
    with op.batch_alter_table("routing_settings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_routing_settings_tenant_id"), ["tenant_id"], unique=False
        )
    helpers.enable_rls("routing_settings")


def downgrade() -> None:
    helpers.disable_rls("routing_settings")
    with op.batch_alter_table("routing_settings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_routing_settings_tenant_id"))

    op.drop_table("routing_settings")
