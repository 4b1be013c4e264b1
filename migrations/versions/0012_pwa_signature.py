"""Inspections keep the inspector's drawn signature given with the sign-off (JSON, nullable).

Revision ID: 0012_pwa_signature
Revises: 0011_afterpo_gate
"""
from alembic import op
import sqlalchemy as sa

revision = "0012_pwa_signature"
down_revision = "0011_afterpo_gate"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signature", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.drop_column("signature")
