"""Revisions without a global lock on PostgreSQL: a sequence, announced through advisory locks.

``sync_take_revisions(n)`` announces the lowest revision the transaction can get (a shared
transaction-level advisory lock keyed ``ANNOUNCE_BASE + rev``) and then takes ``n`` from
``sync_rev_seq``; ``sync_safe_revision()`` answers the highest revision below every
announcement still held. See server/sync/revisions.py for why a pull never skips a commit.
SQLite keeps the ``sync_counter`` row (one writer at a time). ``sync_commits`` gets an index on
``first_rev``: with revisions taken concurrently the fingerprint looks commits up by it.

Revision ID: 0012_scale_revseq
Revises: 0019_ops_sync_history
"""
from alembic import op

revision = "0012_scale_revseq"
down_revision = "0019_ops_sync_history"
branch_labels = None
depends_on = None

BASE = 0x5359 << 48  # server.sync.revisions.ANNOUNCE_BASE
HI = BASE >> 32  # the lock's classid in pg_locks


def upgrade():
    op.create_index(op.f("ix_sync_commits_first_rev"), "sync_commits", ["first_rev"], unique=False)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE SEQUENCE sync_rev_seq AS bigint MINVALUE 1 START 1")
    op.execute("SELECT setval('sync_rev_seq', GREATEST((SELECT value FROM sync_counter WHERE id = 1), 1), "
               "(SELECT value FROM sync_counter WHERE id = 1) > 0)")
    op.execute(f"""
CREATE FUNCTION sync_take_revisions(n integer) RETURNS bigint[] LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    low bigint;
BEGIN
    SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END INTO low FROM sync_rev_seq;
    PERFORM pg_advisory_xact_lock_shared({BASE} + low);
    RETURN ARRAY(SELECT nextval('sync_rev_seq') FROM generate_series(1, n));
END $$""")
    op.execute(f"""
CREATE FUNCTION sync_safe_revision() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    handed_out bigint;
    announced bigint;
BEGIN
    SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END INTO handed_out FROM sync_rev_seq;
    SELECT min(((l.classid::bigint - {HI}) << 32) | l.objid::bigint) INTO announced
      FROM pg_locks l
     WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.classid::bigint >= {HI}
       AND l.classid::bigint < {HI + 0x10000}
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database());
    RETURN LEAST(handed_out, COALESCE(announced - 1, handed_out));
END $$""")


def downgrade():
    op.drop_index(op.f("ix_sync_commits_first_rev"), table_name="sync_commits")
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("UPDATE sync_counter SET value = GREATEST(value, (SELECT last_value FROM sync_rev_seq)) WHERE id = 1")
    op.execute("DROP FUNCTION sync_safe_revision()")
    op.execute("DROP FUNCTION sync_take_revisions(integer)")
    op.execute("DROP SEQUENCE sync_rev_seq")
