"""Join the domain packages' branches (sync, inspections, timeline, review) into one head.

Each domain package added its revision on top of 0001 while they were built side by side;
this revision has no schema change of its own. From here on, a new revision goes on top
of this one, so `flask db upgrade` has a single head to reach.

Revision ID: 0008_merge
Revises: 0002_sync, 0004_inspect, 0005_timeline, 0007_review
"""

revision = "0008_merge"
down_revision = ("0002_sync", "0004_inspect", "0005_timeline", "0007_review")
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
