"""route plans: optimisation runs, the planned schedule on tasks, team auto-assign mode

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 00:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import lastmile.core.types
from lastmile.migrations import helpers

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "route_plans",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("objective", sa.String(length=12), nullable=False),
        sa.Column("time_budget_seconds", sa.Float(), nullable=False),
        sa.Column("starts_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("auto_apply", sa.Boolean(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column(
            "request",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "error",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("engine", sa.String(length=20), nullable=True),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("started_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("applied_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_route_plans_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_plans")),
    )
    with op.batch_alter_table("route_plans", schema=None) as batch_op:
        batch_op.create_index("ix_route_plans_status", ["status", "created_at"], unique=False)
        batch_op.create_index(
            "ix_route_plans_tenant_created", ["tenant_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_route_plans_tenant_id"), ["tenant_id"], unique=False)
    helpers.enable_rls("route_plans")
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("auto_assign", sa.String(length=20), server_default="off", nullable=False)
        )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "planned_arrival_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column(
                "planned_departure_at",
                lastmile.core.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("route_plan_id", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("route_plan_id")
        batch_op.drop_column("planned_departure_at")
        batch_op.drop_column("planned_arrival_at")
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_column("auto_assign")
    op.drop_table("route_plans")
