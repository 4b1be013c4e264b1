"""Webhook signing secrets encrypted at rest (key derived from SECRET_KEY); the column widened for the sealed form.

Revision ID: 0016_harden_webhook_secret
Revises: 0015_afterpo_drift_answer
"""
from alembic import op
import sqlalchemy as sa

revision = "0016_harden_webhook_secret"
down_revision = "0015_afterpo_drift_answer"
branch_labels = None
depends_on = None


def _secret_key() -> str:
    from flask import current_app

    return current_app.config["SECRET_KEY"]


def upgrade():
    from server.secretbox import PREFIX, seal

    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.String(200), type_=sa.String(512))
    conn = op.get_bind()
    table = sa.table("webhook_endpoints", sa.column("id", sa.Uuid()), sa.column("secret", sa.String(512)))
    key = _secret_key()
    for row_id, secret in conn.execute(sa.select(table.c.id, table.c.secret)).all():
        if secret and not secret.startswith(PREFIX):
            conn.execute(table.update().where(table.c.id == row_id).values(secret=seal(secret, key)))


def downgrade():
    from server.secretbox import open_sealed

    conn = op.get_bind()
    table = sa.table("webhook_endpoints", sa.column("id", sa.Uuid()), sa.column("secret", sa.String(512)))
    key = _secret_key()
    for row_id, secret in conn.execute(sa.select(table.c.id, table.c.secret)).all():
        if secret:
            conn.execute(table.update().where(table.c.id == row_id).values(secret=open_sealed(secret, key)))
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        batch_op.alter_column("secret", existing_type=sa.String(512), type_=sa.String(200))
