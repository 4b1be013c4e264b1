"""Sync history: a history id rotated by a restore, a fingerprint per commit, and photo bytes
found in storage after a restore.

Expand only (new nullable or defaulted columns, new tables): safe to run while the previous
release still serves. Revisions that release takes meanwhile have no fingerprint row; cursors
at them carry an empty fingerprint, which the check accepts.

Revision ID: 0019_ops_sync_history
Revises: 0018_afterpo_booking
"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0019_ops_sync_history"
down_revision = "0018_afterpo_booking"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sync_counter", schema=None) as batch_op:
        batch_op.add_column(sa.Column("history_id", sa.String(length=32), server_default="initial", nullable=False))
        batch_op.add_column(sa.Column("history_started_rev", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("restored_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "sync_commits",
        sa.Column("last_rev", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_rev", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("last_rev", name=op.f("pk_sync_commits")),
    )
    op.create_table(
        "restored_blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_restored_blobs")),
    )
    # This database's own history id, and one fingerprint for everything before this release.
    conn = op.get_bind()
    conn.execute(sa.text("UPDATE sync_counter SET history_id = :h WHERE id = 1"), {"h": secrets.token_hex(16)})
    value = conn.execute(sa.text("SELECT value FROM sync_counter WHERE id = 1")).scalar()
    if value:
        conn.execute(sa.text("INSERT INTO sync_commits (last_rev, first_rev, token) VALUES (:v, 1, :t)"),
                     {"v": value, "t": secrets.token_hex(8)})


def downgrade():
    op.drop_table("restored_blobs")
    op.drop_table("sync_commits")
    with op.batch_alter_table("sync_counter", schema=None) as batch_op:
        batch_op.drop_column("restored_at")
        batch_op.drop_column("history_started_rev")
        batch_op.drop_column("history_id")
