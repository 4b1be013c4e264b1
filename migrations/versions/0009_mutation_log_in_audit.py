"""The audit trail is also the sync mutation log: one row per pushed mutation instead of two.

Each pushed mutation used to write a ``sync_mutations`` row (its id and result, for
exactly-once replays) and an ``audit_events`` row (what it changed), which said the same
who, when and which record twice. The audit event now carries the mutation's ``status``
and ``result`` and takes the mutation's id as its own, so its primary key keeps each
mutation once; mutations that changed nothing (rejected ones, say) get an event with action
``none``. Existing log rows are moved over. The per-record index of the audit trail goes:
nothing reads the trail per record, and every push paid for it on every row.

Revision ID: 0009_mutation_log
Revises: 0008_merge
"""
import sqlalchemy as sa
from alembic import op

revision = "0009_mutation_log"
down_revision = "0008_merge"
branch_labels = None
depends_on = None

mutations = sa.table(
    "sync_mutations", sa.column("mutation_id", sa.Uuid()), sa.column("client_id", sa.Uuid()),
    sa.column("user_id", sa.Uuid()), sa.column("entity", sa.String()), sa.column("record_id", sa.Uuid()),
    sa.column("status", sa.String()), sa.column("result", sa.JSON()), sa.column("created_at", sa.DateTime(timezone=True)))
events = sa.table(
    "audit_events", sa.column("id", sa.Uuid()), sa.column("entity", sa.String()), sa.column("record_id", sa.Uuid()),
    sa.column("inspection_id", sa.Uuid()), sa.column("action", sa.String()), sa.column("changes", sa.JSON()),
    sa.column("user_id", sa.Uuid()), sa.column("client_id", sa.Uuid()), sa.column("mutation_id", sa.Uuid()),
    sa.column("status", sa.String()), sa.column("result", sa.JSON()), sa.column("at", sa.DateTime(timezone=True)))
CHUNK = 1000


def upgrade():
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("result", sa.JSON(none_as_null=True), nullable=True))
        batch_op.alter_column("record_id", existing_type=sa.Uuid(), nullable=True)

    bind = op.get_bind()
    m = mutations.alias("m")
    same = m.c.mutation_id == events.c.mutation_id
    bind.execute(events.update().where(events.c.mutation_id.in_(sa.select(m.c.mutation_id))).values(
        status=sa.select(m.c.status).where(same).scalar_subquery(),
        result=sa.select(m.c.result).where(same).scalar_subquery()))
    unlogged = sa.select(mutations).where(~sa.exists().where(events.c.mutation_id == mutations.c.mutation_id))
    rows = [{"id": r.mutation_id, "entity": r.entity, "record_id": r.record_id, "inspection_id": None,
             "action": "none", "changes": {}, "user_id": r.user_id, "client_id": r.client_id,
             "mutation_id": r.mutation_id, "status": r.status, "result": r.result, "at": r.created_at}
            for r in bind.execute(unlogged)]
    for i in range(0, len(rows), CHUNK):
        bind.execute(events.insert(), rows[i:i + CHUNK])

    # A pushed mutation's event is keyed by the mutation id from now on.
    bind.execute(events.update().where(events.c.mutation_id.isnot(None)).values(id=events.c.mutation_id))
    # Nothing reads the trail per record; each push paid for that index on every row.
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_entity_record")
    with op.batch_alter_table("sync_mutations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_mutations_user_id"))
        batch_op.drop_index(batch_op.f("ix_sync_mutations_client_id"))
    op.drop_table("sync_mutations")


def downgrade():
    op.create_table(
        "sync_mutations",
        sa.Column("mutation_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_sync_mutations_user_id_users")),
        sa.PrimaryKeyConstraint("mutation_id", name=op.f("pk_sync_mutations")))
    with op.batch_alter_table("sync_mutations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_mutations_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sync_mutations_user_id"), ["user_id"], unique=False)

    bind = op.get_bind()
    logged = sa.select(events).where(events.c.mutation_id.isnot(None), events.c.status.isnot(None))
    rows = [{"mutation_id": r.mutation_id, "client_id": r.client_id, "user_id": r.user_id, "entity": r.entity,
             "record_id": r.record_id, "status": r.status, "result": r.result, "created_at": r.at}
            for r in bind.execute(logged)]
    for i in range(0, len(rows), CHUNK):
        bind.execute(mutations.insert(), rows[i:i + CHUNK])
    bind.execute(events.delete().where(events.c.action == "none"))

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_entity_record", ["entity", "record_id"], unique=False)
        batch_op.alter_column("record_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column("result")
        batch_op.drop_column("status")
