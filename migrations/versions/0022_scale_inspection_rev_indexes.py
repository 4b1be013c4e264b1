"""Index (inspection_id, rev) on every table whose rows belong to an inspection, so a pull of
one user's inspections reads only their revision window, not the whole table's.

Revision ID: 0017_scale_insp_rev
Revises: 0013_scale_scopes
"""
from alembic import op

revision = "0017_scale_insp_rev"
down_revision = "0013_scale_scopes"
branch_labels = None
depends_on = None

TABLES = ("checklist_responses", "measurements", "defects", "photos", "comments", "review_decisions",
          "sync_conflicts")


def upgrade():
    for name in TABLES:
        op.create_index(f"ix_{name}_inspection_rev", name, ["inspection_id", "rev"], unique=False)


def downgrade():
    for name in TABLES:
        op.drop_index(f"ix_{name}_inspection_rev", table_name=name)
