"""Golden sample pinned per PO line: the version a line is produced and inspected against.

Revision ID: 0013_afterpo_pins
Revises: 0012_pwa_signature
"""
from alembic import op
import sqlalchemy as sa

revision = "0013_afterpo_pins"
down_revision = "0012_pwa_signature"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "po_line_golden_samples",
        sa.Column("po_line_id", sa.Uuid(), nullable=False),
        sa.Column("golden_sample_id", sa.Uuid(), nullable=False),
        sa.Column("pinned_by_id", sa.Uuid(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["po_line_id"], ["po_lines.id"], ondelete="CASCADE",
                                name=op.f("fk_po_line_golden_samples_po_line_id_po_lines")),
        sa.ForeignKeyConstraint(["golden_sample_id"], ["golden_samples.id"],
                                name=op.f("fk_po_line_golden_samples_golden_sample_id_golden_samples")),
        sa.ForeignKeyConstraint(["pinned_by_id"], ["users.id"], name=op.f("fk_po_line_golden_samples_pinned_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_po_line_golden_samples")),
        sa.UniqueConstraint("po_line_id", name=op.f("uq_po_line_golden_samples_po_line_id")),
    )


def downgrade():
    op.drop_table("po_line_golden_samples")
