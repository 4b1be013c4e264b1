"""Index photos by sha256: the upload's look-up of an already stored twin and the storage
housekeeping's "is anything still using these bytes" both search by it.

Revision ID: 0010_photo_sha256
Revises: 0009_mutation_log
"""
from alembic import op

revision = "0010_photo_sha256"
down_revision = "0009_mutation_log"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_photos_sha256"), ["sha256"], unique=False)


def downgrade():
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_photos_sha256"))
