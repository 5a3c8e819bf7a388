"""tracking links: the digest of each drop-off's recipient link, found before the tenant is
known through a SECURITY DEFINER lookup returning only ids

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 18:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import lastmile.core.types
from lastmile.migrations import helpers

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A recipient opens a link before any tenant is known: run as the owner, return only ids.
LOOKUP_TRACKING_LINK = """
CREATE FUNCTION lastmile_lookup_tracking_link(d text)
RETURNS TABLE (tenant_id varchar, task_id varchar)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT l.tenant_id, l.task_id FROM tracking_links l WHERE l.digest = d
$$
"""


def upgrade() -> None:
    op.create_table(
        "tracking_links",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", lastmile.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_tracking_links_task_id_tasks")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tracking_links_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_tracking_links")),
        sa.UniqueConstraint(
            "tenant_id", "task_id", name=op.f("uq_tracking_links_tenant_id_task_id")
        ),
    )
    with op.batch_alter_table("tracking_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracking_links_tenant_id"), ["tenant_id"], unique=False
        )
    helpers.enable_rls("tracking_links")
    helpers.create_function(LOOKUP_TRACKING_LINK)


def downgrade() -> None:
    helpers.drop_function("lastmile_lookup_tracking_link(text)")
    helpers.disable_rls("tracking_links")
    with op.batch_alter_table("tracking_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracking_links_tenant_id"))
    op.drop_table("tracking_links")
