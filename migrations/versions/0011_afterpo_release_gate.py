"""Release gate for shipments: booked container count, document rejection reason, gate waivers.

Revision ID: 0011_afterpo_gate
Revises: 0010_photo_sha256
"""
from alembic import op
import sqlalchemy as sa

revision = "0011_afterpo_gate"
down_revision = "0010_photo_sha256"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("container_count", sa.Integer(), server_default="1", nullable=False))
    with op.batch_alter_table("export_documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rejection_reason", sa.Text(), server_default="", nullable=False))
    op.create_table(
        "shipment_gate_waivers",
        sa.Column("shipment_id", sa.Uuid(), nullable=False),
        sa.Column("item", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("waived_by_id", sa.Uuid(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shipment_id"], ["shipments.id"], ondelete="CASCADE",
                                name=op.f("fk_shipment_gate_waivers_shipment_id_shipments")),
        sa.ForeignKeyConstraint(["waived_by_id"], ["users.id"], name=op.f("fk_shipment_gate_waivers_waived_by_id_users")),
        sa.ForeignKeyConstraint(["revoked_by_id"], ["users.id"],
                                name=op.f("fk_shipment_gate_waivers_revoked_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment_gate_waivers")),
    )
    with op.batch_alter_table("shipment_gate_waivers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shipment_gate_waivers_shipment_id"), ["shipment_id"], unique=False)


def downgrade():
    with op.batch_alter_table("shipment_gate_waivers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shipment_gate_waivers_shipment_id"))
    op.drop_table("shipment_gate_waivers")
    with op.batch_alter_table("export_documents", schema=None) as batch_op:
        batch_op.drop_column("rejection_reason")
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_column("container_count")
