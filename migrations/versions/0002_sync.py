"""sync: per-field revision maps on synced rows; conflicts join the change feed

Revision ID: 0002_sync
Revises: 0001
Create Date: 2026-11-28 04:55:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0002_sync"
down_revision = "0001"
branch_labels = None
depends_on = None

SYNCED_TABLES = ("checklist_templates", "inspections", "checklist_responses", "measurements", "defects",
                 "photos", "comments", "review_decisions", "products", "dimension_specs", "colour_standards",
                 "golden_samples", "purchase_orders", "po_lines", "batches")


def upgrade():
    for table in SYNCED_TABLES:
        op.add_column(table, sa.Column("field_revs", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
    with op.batch_alter_table("sync_conflicts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rev", sa.BigInteger(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                                      server_default=sa.text("CURRENT_TIMESTAMP")))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                                      server_default=sa.text("CURRENT_TIMESTAMP")))
        batch_op.add_column(sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("field_revs", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.create_index(batch_op.f("ix_sync_conflicts_rev"), ["rev"], unique=False)


def downgrade():
    with op.batch_alter_table("sync_conflicts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_conflicts_rev"))
        for column in ("field_revs", "deleted", "updated_at", "created_at", "rev"):
            batch_op.drop_column(column)
    for table in SYNCED_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("field_revs")
