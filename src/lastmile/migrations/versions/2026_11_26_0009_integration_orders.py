"""integration orders: merchant orders from integrations and the task pair each became

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 04:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import lastmile.core.types
from lastmile.migrations import helpers

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "integration_orders",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("external_order_id", sa.String(length=128), nullable=False),
        sa.Column("pickup_task_id", sa.String(length=40), nullable=False),
        sa.Column("dropoff_task_id", sa.String(length=40), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("cancelled_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dropoff_task_id"],
            ["tasks.id"],
            name=op.f("fk_integration_orders_dropoff_task_id_tasks"),
        ),
        sa.ForeignKeyConstraint(
            ["pickup_task_id"],
            ["tasks.id"],
            name=op.f("fk_integration_orders_pickup_task_id_tasks"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_integration_orders_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration_orders")),
        sa.UniqueConstraint(
            "tenant_id",
            "source",
            "external_order_id",
            name=op.f("uq_integration_orders_tenant_id_source_external_order_id"),
        ),
    )
    with op.batch_alter_table("integration_orders", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_integration_orders_tenant_id"), ["tenant_id"], unique=False
        )
    helpers.enable_rls("integration_orders")


def downgrade() -> None:
    helpers.disable_rls("integration_orders")
    op.drop_table("integration_orders")
