"""timeline: golden-sample submissions, schedule, materials, milestones, progress, alerts, shipments,
packing lists, export documents, issues and comments

Revision ID: 0005_timeline
Revises: 0001
Create Date: 2026-11-28 04:47:56.956906

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0005_timeline"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('po_alerts',
    sa.Column('purchase_order_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=120), nullable=False),
    sa.Column('severity', sa.String(length=12), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('open_key', sa.String(length=170), nullable=True),
    sa.Column('acknowledged_by_id', sa.Uuid(), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['users.id'], name=op.f('fk_po_alerts_acknowledged_by_id_users')),
    sa.ForeignKeyConstraint(['purchase_order_id'], ['purchase_orders.id'], name=op.f('fk_po_alerts_purchase_order_id_purchase_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_po_alerts')),
    sa.UniqueConstraint('purchase_order_id', 'open_key', name=op.f('uq_po_alerts_purchase_order_id_open_key'))
    )
    with op.batch_alter_table('po_alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_po_alerts_purchase_order_id'), ['purchase_order_id'], unique=False)

    op.create_table('po_materials',
    sa.Column('purchase_order_id', sa.Uuid(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('supplier', sa.String(length=200), nullable=False),
    sa.Column('eta', sa.Date(), nullable=True),
    sa.Column('received_on', sa.Date(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['purchase_order_id'], ['purchase_orders.id'], name=op.f('fk_po_materials_purchase_order_id_purchase_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_po_materials'))
    )
    with op.batch_alter_table('po_materials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_po_materials_purchase_order_id'), ['purchase_order_id'], unique=False)

    op.create_table('po_milestones',
    sa.Column('purchase_order_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=80), nullable=False),
    sa.Column('planned_date', sa.Date(), nullable=True),
    sa.Column('actual_date', sa.Date(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['purchase_order_id'], ['purchase_orders.id'], name=op.f('fk_po_milestones_purchase_order_id_purchase_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_po_milestones')),
    sa.UniqueConstraint('purchase_order_id', 'kind', 'subject', name=op.f('uq_po_milestones_purchase_order_id_kind_subject'))
    )
    with op.batch_alter_table('po_milestones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_po_milestones_purchase_order_id'), ['purchase_order_id'], unique=False)

    op.create_table('production_schedules',
    sa.Column('purchase_order_id', sa.Uuid(), nullable=False),
    sa.Column('production_line', sa.String(length=80), nullable=False),
    sa.Column('slot_start', sa.Date(), nullable=True),
    sa.Column('slot_end', sa.Date(), nullable=True),
    sa.Column('planned_units_per_day', sa.Integer(), nullable=False),
    sa.Column('work_weekdays', sa.String(length=7), nullable=False),
    sa.Column('final_inspection_days', sa.Integer(), nullable=False),
    sa.Column('start_override_reason', sa.Text(), nullable=False),
    sa.Column('start_override_by_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['purchase_order_id'], ['purchase_orders.id'], name=op.f('fk_production_schedules_purchase_order_id_purchase_orders')),
    sa.ForeignKeyConstraint(['start_override_by_id'], ['users.id'], name=op.f('fk_production_schedules_start_override_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_production_schedules')),
    sa.UniqueConstraint('purchase_order_id', name=op.f('uq_production_schedules_purchase_order_id'))
    )
    op.create_table('shipments',
    sa.Column('purchase_order_id', sa.Uuid(), nullable=False),
    sa.Column('reference', sa.String(length=64), nullable=False),
    sa.Column('packing_list_completed_on', sa.Date(), nullable=True),
    sa.Column('booked_on', sa.Date(), nullable=True),
    sa.Column('forwarder', sa.String(length=200), nullable=False),
    sa.Column('booking_number', sa.String(length=80), nullable=False),
    sa.Column('vessel', sa.String(length=120), nullable=False),
    sa.Column('voyage', sa.String(length=40), nullable=False),
    sa.Column('port_of_loading', sa.String(length=80), nullable=False),
    sa.Column('port_of_discharge', sa.String(length=80), nullable=False),
    sa.Column('container_type', sa.String(length=8), nullable=False),
    sa.Column('cargo_cutoff', sa.Date(), nullable=True),
    sa.Column('etd', sa.Date(), nullable=True),
    sa.Column('eta', sa.Date(), nullable=True),
    sa.Column('departed_on', sa.Date(), nullable=True),
    sa.Column('delivered_on', sa.Date(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['purchase_order_id'], ['purchase_orders.id'], name=op.f('fk_shipments_purchase_order_id_purchase_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipments')),
    sa.UniqueConstraint('purchase_order_id', 'reference', name=op.f('uq_shipments_purchase_order_id_reference'))
    )
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipments_purchase_order_id'), ['purchase_order_id'], unique=False)

    op.create_table('export_documents',
    sa.Column('shipment_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=60), nullable=False),
    sa.Column('title', sa.String(length=120), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('storage_key', sa.String(length=200), nullable=True),
    sa.Column('filename', sa.String(length=200), nullable=True),
    sa.Column('content_type', sa.String(length=80), nullable=True),
    sa.Column('size_bytes', sa.Integer(), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('uploaded_by_id', sa.Uuid(), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_export_documents_shipment_id_shipments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'], name=op.f('fk_export_documents_uploaded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_export_documents')),
    sa.UniqueConstraint('shipment_id', 'kind', name=op.f('uq_export_documents_shipment_id_kind'))
    )
    with op.batch_alter_table('export_documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_export_documents_shipment_id'), ['shipment_id'], unique=False)

    op.create_table('packing_cartons',
    sa.Column('shipment_id', sa.Uuid(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('carton_count', sa.Integer(), nullable=False),
    sa.Column('contents', sa.JSON(), nullable=False),
    sa.Column('length_cm', sa.Float(), nullable=False),
    sa.Column('width_cm', sa.Float(), nullable=False),
    sa.Column('height_cm', sa.Float(), nullable=False),
    sa.Column('gross_kg', sa.Float(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_packing_cartons_shipment_id_shipments'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_packing_cartons'))
    )
    with op.batch_alter_table('packing_cartons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_packing_cartons_shipment_id'), ['shipment_id'], unique=False)

    op.create_table('progress_reports',
    sa.Column('purchase_order_id', sa.Uuid(), nullable=False),
    sa.Column('po_line_id', sa.Uuid(), nullable=False),
    sa.Column('report_date', sa.Date(), nullable=False),
    sa.Column('units_produced', sa.Integer(), nullable=False),
    sa.Column('reported_by_id', sa.Uuid(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('rev', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.Column('field_revs', sa.JSON(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['po_line_id'], ['po_lines.id'], name=op.f('fk_progress_reports_po_line_id_po_lines')),
    sa.ForeignKeyConstraint(['purchase_order_id'], ['purchase_orders.id'], name=op.f('fk_progress_reports_purchase_order_id_purchase_orders')),
    sa.ForeignKeyConstraint(['reported_by_id'], ['users.id'], name=op.f('fk_progress_reports_reported_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_progress_reports'))
    )
    with op.batch_alter_table('progress_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_progress_reports_po_line_id'), ['po_line_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_progress_reports_purchase_order_id'), ['purchase_order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_progress_reports_rev'), ['rev'], unique=False)

    op.create_table('golden_sample_submissions',
    sa.Column('purchase_order_id', sa.Uuid(), nullable=False),
    sa.Column('product_id', sa.Uuid(), nullable=False),
    sa.Column('inspection_id', sa.Uuid(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('checks', sa.JSON(), nullable=False),
    sa.Column('discrepancies', sa.JSON(), nullable=False),
    sa.Column('measured', sa.JSON(), nullable=False),
    sa.Column('reference_photos', sa.JSON(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('submitted_by_id', sa.Uuid(), nullable=True),
    sa.Column('decided_by_id', sa.Uuid(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_comment', sa.Text(), nullable=False),
    sa.Column('golden_sample_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_golden_sample_submissions_decided_by_id_users')),
    sa.ForeignKeyConstraint(['golden_sample_id'], ['golden_samples.id'], name=op.f('fk_golden_sample_submissions_golden_sample_id_golden_samples')),
    sa.ForeignKeyConstraint(['inspection_id'], ['inspections.id'], name=op.f('fk_golden_sample_submissions_inspection_id_inspections')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_golden_sample_submissions_product_id_products')),
    sa.ForeignKeyConstraint(['purchase_order_id'], ['purchase_orders.id'], name=op.f('fk_golden_sample_submissions_purchase_order_id_purchase_orders')),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['users.id'], name=op.f('fk_golden_sample_submissions_submitted_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_golden_sample_submissions'))
    )
    with op.batch_alter_table('golden_sample_submissions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_golden_sample_submissions_inspection_id'), ['inspection_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_golden_sample_submissions_product_id'), ['product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_golden_sample_submissions_purchase_order_id'), ['purchase_order_id'], unique=False)

    op.create_table('po_issues',
    sa.Column('purchase_order_id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('severity', sa.String(length=12), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('wont_fix_reason', sa.Text(), nullable=False),
    sa.Column('owner_org_id', sa.Uuid(), nullable=True),
    sa.Column('owner_user_id', sa.Uuid(), nullable=True),
    sa.Column('due_date', sa.Date(), nullable=True),
    sa.Column('expected_delay_days', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Uuid(), nullable=True),
    sa.Column('inspection_id', sa.Uuid(), nullable=True),
    sa.Column('defect_id', sa.Uuid(), nullable=True),
    sa.Column('photo_id', sa.Uuid(), nullable=True),
    sa.Column('alert_id', sa.Uuid(), nullable=True),
    sa.Column('opened_by_id', sa.Uuid(), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['po_alerts.id'], name=op.f('fk_po_issues_alert_id_po_alerts')),
    sa.ForeignKeyConstraint(['batch_id'], ['batches.id'], name=op.f('fk_po_issues_batch_id_batches')),
    sa.ForeignKeyConstraint(['defect_id'], ['defects.id'], name=op.f('fk_po_issues_defect_id_defects')),
    sa.ForeignKeyConstraint(['inspection_id'], ['inspections.id'], name=op.f('fk_po_issues_inspection_id_inspections')),
    sa.ForeignKeyConstraint(['opened_by_id'], ['users.id'], name=op.f('fk_po_issues_opened_by_id_users')),
    sa.ForeignKeyConstraint(['owner_org_id'], ['organisations.id'], name=op.f('fk_po_issues_owner_org_id_organisations')),
    sa.ForeignKeyConstraint(['owner_user_id'], ['users.id'], name=op.f('fk_po_issues_owner_user_id_users')),
    sa.ForeignKeyConstraint(['photo_id'], ['photos.id'], name=op.f('fk_po_issues_photo_id_photos')),
    sa.ForeignKeyConstraint(['purchase_order_id'], ['purchase_orders.id'], name=op.f('fk_po_issues_purchase_order_id_purchase_orders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_po_issues'))
    )
    with op.batch_alter_table('po_issues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_po_issues_inspection_id'), ['inspection_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_po_issues_purchase_order_id'), ['purchase_order_id'], unique=False)

    op.create_table('po_issue_comments',
    sa.Column('issue_id', sa.Uuid(), nullable=False),
    sa.Column('author_id', sa.Uuid(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('attachments', sa.JSON(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_po_issue_comments_author_id_users')),
    sa.ForeignKeyConstraint(['issue_id'], ['po_issues.id'], name=op.f('fk_po_issue_comments_issue_id_po_issues'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_po_issue_comments'))
    )
    with op.batch_alter_table('po_issue_comments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_po_issue_comments_issue_id'), ['issue_id'], unique=False)



def downgrade():
    with op.batch_alter_table('po_issue_comments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_po_issue_comments_issue_id'))

    op.drop_table('po_issue_comments')
    with op.batch_alter_table('po_issues', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_po_issues_purchase_order_id'))
        batch_op.drop_index(batch_op.f('ix_po_issues_inspection_id'))

    op.drop_table('po_issues')
    with op.batch_alter_table('golden_sample_submissions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_golden_sample_submissions_purchase_order_id'))
        batch_op.drop_index(batch_op.f('ix_golden_sample_submissions_product_id'))
        batch_op.drop_index(batch_op.f('ix_golden_sample_submissions_inspection_id'))

    op.drop_table('golden_sample_submissions')
    with op.batch_alter_table('progress_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_progress_reports_rev'))
        batch_op.drop_index(batch_op.f('ix_progress_reports_purchase_order_id'))
        batch_op.drop_index(batch_op.f('ix_progress_reports_po_line_id'))

    op.drop_table('progress_reports')
    with op.batch_alter_table('packing_cartons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_packing_cartons_shipment_id'))

    op.drop_table('packing_cartons')
    with op.batch_alter_table('export_documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_export_documents_shipment_id'))

    op.drop_table('export_documents')
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipments_purchase_order_id'))

    op.drop_table('shipments')
    op.drop_table('production_schedules')
    with op.batch_alter_table('po_milestones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_po_milestones_purchase_order_id'))

    op.drop_table('po_milestones')
    with op.batch_alter_table('po_materials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_po_materials_purchase_order_id'))

    op.drop_table('po_materials')
    with op.batch_alter_table('po_alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_po_alerts_purchase_order_id'))

    op.drop_table('po_alerts')
