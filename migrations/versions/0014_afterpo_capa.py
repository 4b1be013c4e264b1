"""Corrective and preventive actions (CAPA, 8D style) on issues, and the brand's waiver to close without one.

Revision ID: 0014_afterpo_capa
Revises: 0013_afterpo_pins
"""
from alembic import op
import sqlalchemy as sa

revision = "0014_afterpo_capa"
down_revision = "0013_afterpo_pins"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("po_issues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("capa_waiver_reason", sa.Text(), server_default="", nullable=False))
    op.create_table(
        "capa_steps",
        sa.Column("issue_id", sa.Uuid(), nullable=False),
        sa.Column("step", sa.String(length=24), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("five_whys", sa.JSON(), nullable=False),
        sa.Column("owner_user_id", sa.Uuid(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("effective", sa.Boolean(), nullable=True),
        sa.Column("verified_by_id", sa.Uuid(), nullable=True),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["issue_id"], ["po_issues.id"], ondelete="CASCADE",
                                name=op.f("fk_capa_steps_issue_id_po_issues")),
        sa.ForeignKeyConstraint(["owner_user_id"], ["users.id"], name=op.f("fk_capa_steps_owner_user_id_users")),
        sa.ForeignKeyConstraint(["verified_by_id"], ["users.id"], name=op.f("fk_capa_steps_verified_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capa_steps")),
        sa.UniqueConstraint("issue_id", "step", name=op.f("uq_capa_steps_issue_id_step")),
    )
    with op.batch_alter_table("capa_steps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_capa_steps_issue_id"), ["issue_id"], unique=False)


def downgrade():
    with op.batch_alter_table("capa_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_capa_steps_issue_id"))
    op.drop_table("capa_steps")
    with op.batch_alter_table("po_issues", schema=None) as batch_op:
        batch_op.drop_column("capa_waiver_reason")
