"""The factory's answer on a drift alert.

Revision ID: 0015_afterpo_drift_answer
Revises: 0014_afterpo_capa
"""
from alembic import op
import sqlalchemy as sa

revision = "0015_afterpo_drift_answer"
down_revision = "0014_afterpo_capa"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("drift_alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answer", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("answered_by_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_drift_alerts_answered_by_id_users"), "users",
                                    ["answered_by_id"], ["id"])


def downgrade():
    with op.batch_alter_table("drift_alerts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_drift_alerts_answered_by_id_users"), type_="foreignkey")
        batch_op.drop_column("answered_at")
        batch_op.drop_column("answered_by_id")
        batch_op.drop_column("answer")
