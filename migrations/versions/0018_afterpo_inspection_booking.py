"""Inspection booking (factory requests, brand confirms) and token-protected iCalendar feeds.

Revision ID: 0018_afterpo_booking
Revises: 0017_harden_password_resets
"""
from alembic import op
import sqlalchemy as sa

revision = "0018_afterpo_booking"
down_revision = "0017_harden_password_resets"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "inspection_bookings",
        sa.Column("purchase_order_id", sa.Uuid(), nullable=False),
        sa.Column("po_line_id", sa.Uuid(), nullable=True),
        sa.Column("batch_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ready_date", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("proposed_date", sa.Date(), nullable=True),
        sa.Column("scheduled_date", sa.Date(), nullable=True),
        sa.Column("inspector_id", sa.Uuid(), nullable=True),
        sa.Column("inspection_id", sa.Uuid(), nullable=True),
        sa.Column("requested_by_id", sa.Uuid(), nullable=True),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["purchase_order_id"], ["purchase_orders.id"],
                                name=op.f("fk_inspection_bookings_purchase_order_id_purchase_orders")),
        sa.ForeignKeyConstraint(["po_line_id"], ["po_lines.id"], name=op.f("fk_inspection_bookings_po_line_id_po_lines")),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name=op.f("fk_inspection_bookings_batch_id_batches")),
        sa.ForeignKeyConstraint(["inspector_id"], ["users.id"], name=op.f("fk_inspection_bookings_inspector_id_users")),
        sa.ForeignKeyConstraint(["inspection_id"], ["inspections.id"],
                                name=op.f("fk_inspection_bookings_inspection_id_inspections")),
        sa.ForeignKeyConstraint(["requested_by_id"], ["users.id"],
                                name=op.f("fk_inspection_bookings_requested_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_bookings")),
    )
    with op.batch_alter_table("inspection_bookings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inspection_bookings_purchase_order_id"), ["purchase_order_id"],
                              unique=False)
    op.create_table(
        "calendar_feeds",
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_calendar_feeds_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_calendar_feeds_token_sha256")),
    )


def downgrade():
    op.drop_table("calendar_feeds")
    with op.batch_alter_table("inspection_bookings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inspection_bookings_purchase_order_id"))
    op.drop_table("inspection_bookings")
