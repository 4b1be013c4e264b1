"""inspections: template family metadata, switching states, report share links

Revision ID: 0004_inspect
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0004_inspect"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("checklist_templates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("copied_from_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("created_by_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("verdict_rule", sa.JSON(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_checklist_templates_created_by_id_users"), "users",
                                    ["created_by_id"], ["id"])
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.add_column(sa.Column("switching_recorded_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table("switching_states",
    sa.Column("product_id", sa.Uuid(), nullable=False),
    sa.Column("factory_id", sa.Uuid(), nullable=False),
    sa.Column("inspection", sa.String(length=12), nullable=False),
    sa.Column("state", sa.JSON(), nullable=False),
    sa.Column("history", sa.JSON(), nullable=False),
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["factory_id"], ["organisations.id"], name=op.f("fk_switching_states_factory_id_organisations")),
    sa.ForeignKeyConstraint(["product_id"], ["products.id"], name=op.f("fk_switching_states_product_id_products")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_switching_states")),
    sa.UniqueConstraint("product_id", "factory_id", name=op.f("uq_switching_states_product_id_factory_id"))
    )
    with op.batch_alter_table("switching_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_switching_states_factory_id"), ["factory_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_switching_states_product_id"), ["product_id"], unique=False)

    op.create_table("report_share_links",
    sa.Column("inspection_id", sa.Uuid(), nullable=False),
    sa.Column("token_hash", sa.String(length=64), nullable=False),
    sa.Column("created_by_id", sa.Uuid(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("id", sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], name=op.f("fk_report_share_links_created_by_id_users")),
    sa.ForeignKeyConstraint(["inspection_id"], ["inspections.id"], name=op.f("fk_report_share_links_inspection_id_inspections")),
    sa.PrimaryKeyConstraint("id", name=op.f("pk_report_share_links")),
    sa.UniqueConstraint("token_hash", name=op.f("uq_report_share_links_token_hash"))
    )
    with op.batch_alter_table("report_share_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_report_share_links_inspection_id"), ["inspection_id"], unique=False)


def downgrade():
    with op.batch_alter_table("report_share_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_report_share_links_inspection_id"))
    op.drop_table("report_share_links")
    with op.batch_alter_table("switching_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_switching_states_product_id"))
        batch_op.drop_index(batch_op.f("ix_switching_states_factory_id"))
    op.drop_table("switching_states")
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.drop_column("switching_recorded_at")
    with op.batch_alter_table("checklist_templates", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_checklist_templates_created_by_id_users"), type_="foreignkey")
        batch_op.drop_column("verdict_rule")
        batch_op.drop_column("archived_at")
        batch_op.drop_column("created_by_id")
        batch_op.drop_column("copied_from_id")
