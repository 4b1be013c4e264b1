"""Scope sets: the inspections and POs behind a pull cursor's scope key, so a new assignment
streams the rows it brings instead of forcing a full resync.

Revision ID: 0013_scale_scopes
Revises: 0012_scale_revseq
"""
from alembic import op
import sqlalchemy as sa


revision = "0013_scale_scopes"
down_revision = "0012_scale_revseq"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sync_scope_sets",
        sa.Column("key", sa.String(length=24), nullable=False),
        sa.Column("base", sa.String(length=24), nullable=False),
        sa.Column("inspections", sa.JSON(), nullable=False),
        sa.Column("purchase_orders", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_sync_scope_sets")),
    )


def downgrade():
    op.drop_table("sync_scope_sets")
