"""Shapes of the timeline API. Shape only: permissions and cross-row rules live in ``service``."""
from datetime import date

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..catalog.schemas import PurchaseOrderSchema
from .forecast import is_overdue
from .gate import GATE_ITEMS
from .models import (CAPA_STATUSES, DISCREPANCY_CATEGORIES, DOCUMENT_STATUSES, ISSUE_SEVERITIES, ISSUE_STATUSES, ISSUE_TYPES,
                     MILESTONE_KINDS, SAMPLE_CHECKS)

_text = validate.Length(max=5000)
# Dates outside this range are typing mistakes, and would overflow date arithmetic in the forecast.
_date_range = validate.Range(min=date(2000, 1, 1), max=date(2100, 12, 31))


def _date(**kw) -> fields.Date:
    return fields.Date(validate=_date_range, **kw)

_short = validate.Length(max=200)


class _Record(Schema):
    id = fields.UUID(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


# -- golden samples -----------------------------------------------------------------------------

class SampleCheckSchema(Schema):
    ok = fields.Boolean(required=True)
    note = fields.String(load_default="", validate=_text)


class DiscrepancySchema(Schema):
    category = fields.String(required=True, validate=validate.OneOf(DISCREPANCY_CATEGORIES))
    description = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    severity = fields.String(load_default="major", validate=validate.OneOf(["critical", "major", "minor"]))


class MeasuredSchema(Schema):
    lab = fields.List(fields.Float(validate=validate.Range(min=-200, max=200)), validate=validate.Length(equal=3),
                      metadata={"description": "CIELAB D65 [L*, a*, b*]"})
    length_mm = fields.Float(validate=validate.Range(min=0, min_inclusive=False, max=100000))
    width_mm = fields.Float(validate=validate.Range(min=0, min_inclusive=False, max=100000))
    dimensions = fields.Dict(keys=fields.String(validate=validate.Length(max=80)),
                             values=fields.Float(validate=validate.Range(min=0, max=100000)))

    @validates_schema
    def _lightness(self, data, **_):
        if "lab" in data and not 0 <= data["lab"][0] <= 100:
            raise ValidationError("L* must be between 0 and 100.", "lab")


class SubmissionSchema(_Record):
    purchase_order_id = fields.UUID(dump_only=True)
    product_id = fields.UUID(required=True)
    inspection_id = fields.UUID(allow_none=True, load_default=None)
    status = fields.String(dump_only=True)
    checks = fields.Dict(keys=fields.String(validate=validate.OneOf(SAMPLE_CHECKS)),
                         values=fields.Nested(SampleCheckSchema), load_default=dict,
                         metadata={"description": "materials, colours, finishes, packaging, tooling: {ok, note}"})
    discrepancies = fields.List(fields.Nested(DiscrepancySchema), load_default=list,
                                validate=validate.Length(max=200))
    measured = fields.Nested(MeasuredSchema, load_default=dict)
    reference_photos = fields.List(fields.String(validate=_short), load_default=list,
                                   validate=validate.Length(max=50),
                                   metadata={"description": "storage keys of the reference photos"})
    notes = fields.String(load_default="", validate=_text)
    submitted_by_id = fields.UUID(dump_only=True, allow_none=True)
    decided_by_id = fields.UUID(dump_only=True, allow_none=True)
    decided_at = fields.DateTime(dump_only=True, allow_none=True)
    decision_comment = fields.String(dump_only=True)
    golden_sample_id = fields.UUID(dump_only=True, allow_none=True)


class PinnedGoldenSampleSchema(Schema):
    id = fields.UUID()
    version = fields.Integer()
    status = fields.String()
    approved_at = fields.DateTime(allow_none=True)


class LineGoldenSampleSchema(Schema):
    po_line_id = fields.UUID()
    product_id = fields.UUID()
    sku = fields.String()
    golden_sample = fields.Nested(PinnedGoldenSampleSchema, allow_none=True,
                                  metadata={"description": "the version this line is produced and inspected against"})
    pinned = fields.Boolean()
    latest_approved = fields.Nested(PinnedGoldenSampleSchema, allow_none=True)
    newer_version_available = fields.Boolean()


class ChooseGoldenSampleSchema(Schema):
    golden_sample_id = fields.UUID(required=True)
    product_id = fields.UUID(metadata={"description": "every line of this product on the PO"})
    po_line_id = fields.UUID(metadata={"description": "or just this line"})
    note = fields.String(load_default="", validate=validate.Length(max=2000))

    @validates_schema
    def _target(self, data, **_):
        if not (data.get("product_id") or data.get("po_line_id")):
            raise ValidationError("Name the product or the PO line.", "product_id")


class DecisionSchema(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["approve", "reject"]))
    comment = fields.String(load_default="", validate=_text)


# -- schedule, materials, milestones, progress ---------------------------------------------------

class ScheduleSchema(_Record):
    purchase_order_id = fields.UUID(dump_only=True)
    production_line = fields.String(validate=validate.Length(max=80))
    slot_start = _date(allow_none=True)
    slot_end = _date(allow_none=True)
    planned_units_per_day = fields.Integer(validate=validate.Range(min=0, max=10_000_000))
    work_weekdays = fields.String(validate=validate.Regexp(r"^(?!.*(.).*\1)[0-6]{1,7}$",
                                                           error="Weekday digits 0 (Monday) to 6, each once."),
                                  metadata={"description": "working weekdays, Monday = 0: '012345' = Mon-Sat"})
    final_inspection_days = fields.Integer(validate=validate.Range(min=0, max=60))
    start_override_reason = fields.String(dump_only=True)


class MaterialSchema(_Record):
    purchase_order_id = fields.UUID(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    supplier = fields.String(load_default="", validate=_short)
    eta = _date(allow_none=True, load_default=None)
    received_on = _date(allow_none=True, load_default=None)
    note = fields.String(load_default="", validate=_text)


class MaterialUpdateSchema(Schema):
    supplier = fields.String(validate=_short)
    eta = _date(allow_none=True)
    received_on = _date(allow_none=True)
    note = fields.String(validate=_text)


class MilestoneUpdateSchema(Schema):
    subject = fields.String(load_default="", validate=validate.Length(max=80))
    planned_date = _date(allow_none=True)
    actual_date = _date(allow_none=True)
    note = fields.String(validate=_text)
    override_reason = fields.String(validate=_text, metadata={
        "description": "production_start only: why production starts without an approved golden sample"})


class MilestoneSchema(_Record):
    purchase_order_id = fields.UUID(dump_only=True)
    kind = fields.String(dump_only=True)
    subject = fields.String(dump_only=True)
    planned_date = fields.Date(dump_only=True, allow_none=True)
    actual_date = fields.Date(dump_only=True, allow_none=True)
    note = fields.String(dump_only=True)


class ProgressSchema(Schema):
    id = fields.UUID(load_default=None, metadata={"description": "client-made UUID; resending it changes nothing"})
    rev = fields.Integer(dump_only=True)
    purchase_order_id = fields.UUID(dump_only=True)
    po_line_id = fields.UUID(required=True)
    report_date = _date(required=True)
    units_produced = fields.Integer(required=True, validate=validate.Range(min=0, max=10_000_000))
    note = fields.String(load_default="", validate=validate.Length(max=2000))
    reported_by_id = fields.UUID(dump_only=True, allow_none=True)
    updated_at = fields.DateTime(dump_only=True)


# -- freight ------------------------------------------------------------------------------------

class CartonContentSchema(Schema):
    po_line_id = fields.UUID(required=True)
    units = fields.Integer(required=True, validate=validate.Range(min=1, max=100_000))


class CartonSchema(Schema):
    carton_count = fields.Integer(required=True, validate=validate.Range(min=1, max=1_000_000))
    contents = fields.List(fields.Nested(CartonContentSchema), required=True, validate=validate.Length(min=1, max=50),
                           metadata={"description": "units of each PO line in ONE carton; 2+ lines = mixed"})
    length_cm = fields.Float(required=True, validate=validate.Range(min=0, min_inclusive=False, max=1500))
    width_cm = fields.Float(required=True, validate=validate.Range(min=0, min_inclusive=False, max=300))
    height_cm = fields.Float(required=True, validate=validate.Range(min=0, min_inclusive=False, max=300))
    gross_kg = fields.Float(required=True, validate=validate.Range(min=0, min_inclusive=False, max=30000))


class PackingListSchema(Schema):
    cartons = fields.List(fields.Nested(CartonSchema), required=True, validate=validate.Length(max=2000))


class DocumentSchema(_Record):
    kind = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9_]{1,60}$"))
    title = fields.String(required=True, validate=validate.Length(min=1, max=120))
    required = fields.Boolean(load_default=True)
    position = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True)
    filename = fields.String(dump_only=True, allow_none=True)
    content_type = fields.String(dump_only=True, allow_none=True)
    size_bytes = fields.Integer(dump_only=True, allow_none=True)
    sha256 = fields.String(dump_only=True, allow_none=True)
    storage_key = fields.String(dump_only=True, allow_none=True)
    uploaded_at = fields.DateTime(dump_only=True, allow_none=True)
    rejection_reason = fields.String(dump_only=True)


class DocumentUpdateSchema(Schema):
    status = fields.String(validate=validate.OneOf([s for s in DOCUMENT_STATUSES if s != "missing"]))
    required = fields.Boolean()
    reason = fields.String(validate=validate.Length(max=2000),
                           metadata={"description": "why: required to reject or to mark not applicable"})


class UploadSchema(Schema):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})


class CommentFormSchema(Schema):
    body = fields.String(load_default="", validate=validate.Length(max=10_000))


class ShipmentSchema(_Record):
    purchase_order_id = fields.UUID(dump_only=True)
    reference = fields.String(required=True, validate=validate.Length(min=1, max=64))
    forwarder = fields.String(load_default="", validate=_short)
    booking_number = fields.String(load_default="", validate=validate.Length(max=80))
    vessel = fields.String(load_default="", validate=validate.Length(max=120))
    voyage = fields.String(load_default="", validate=validate.Length(max=40))
    port_of_loading = fields.String(load_default="", validate=validate.Length(max=80))
    port_of_discharge = fields.String(load_default="", validate=validate.Length(max=80))
    container_type = fields.String(load_default="", validate=validate.OneOf(["", "20GP", "40GP", "40HC"]))
    container_count = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100),
                                     metadata={"description": "containers of container_type booked"})
    cargo_cutoff = _date(allow_none=True, load_default=None)
    etd = _date(allow_none=True, load_default=None)
    eta = _date(allow_none=True, load_default=None)
    departed_on = _date(allow_none=True, load_default=None)
    delivered_on = _date(allow_none=True, load_default=None)
    booked_on = fields.Date(dump_only=True, allow_none=True)
    packing_list_completed_on = fields.Date(dump_only=True, allow_none=True)
    cartons = fields.List(fields.Nested(CartonSchema), dump_only=True)
    documents = fields.List(fields.Nested(DocumentSchema), dump_only=True)


class ShipmentUpdateSchema(Schema):
    forwarder = fields.String(validate=_short)
    booking_number = fields.String(validate=validate.Length(max=80))
    vessel = fields.String(validate=validate.Length(max=120))
    voyage = fields.String(validate=validate.Length(max=40))
    port_of_loading = fields.String(validate=validate.Length(max=80))
    port_of_discharge = fields.String(validate=validate.Length(max=80))
    container_type = fields.String(validate=validate.OneOf(["", "20GP", "40GP", "40HC"]))
    container_count = fields.Integer(validate=validate.Range(min=1, max=100))
    cargo_cutoff = _date(allow_none=True)
    etd = _date(allow_none=True)
    eta = _date(allow_none=True)
    departed_on = _date(allow_none=True)
    delivered_on = _date(allow_none=True)
    packing_list_complete = fields.Boolean(metadata={"description": "true: the packing list is final"})


class PackingSummarySchema(Schema):
    ok = fields.Boolean()
    lines = fields.List(fields.Dict())
    mixed_carton_rows = fields.List(fields.Integer())
    unknown_lines = fields.List(fields.String())
    total_cartons = fields.Integer()
    total_units = fields.Integer()
    total_volume_m3 = fields.Float()
    total_gross_kg = fields.Float()
    container_fit = fields.List(fields.Dict())
    best_fit = fields.String(allow_none=True)
    usable_volume_factor = fields.Float()


class ShipmentDetailSchema(Schema):
    shipment = fields.Nested(ShipmentSchema)
    packing = fields.Nested(PackingSummarySchema)
    missing_documents = fields.List(fields.String())


# -- issues -------------------------------------------------------------------------------------

class AttachmentSchema(Schema):
    storage_key = fields.String()
    filename = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    sha256 = fields.String()


class IssueCommentSchema(_Record):
    issue_id = fields.UUID(dump_only=True)
    author_id = fields.UUID(dump_only=True, allow_none=True)
    body = fields.String(dump_only=True)
    attachments = fields.List(fields.Nested(AttachmentSchema), dump_only=True)


class IssueSchema(_Record):
    purchase_order_id = fields.UUID(dump_only=True)
    type = fields.String(required=True, validate=validate.OneOf(ISSUE_TYPES))
    severity = fields.String(load_default="medium", validate=validate.OneOf(ISSUE_SEVERITIES))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=_text)
    status = fields.String(dump_only=True)
    wont_fix_reason = fields.String(dump_only=True)
    owner_org_id = fields.UUID(allow_none=True, load_default=None)
    owner_user_id = fields.UUID(allow_none=True, load_default=None)
    due_date = _date(allow_none=True, load_default=None)
    expected_delay_days = fields.Integer(load_default=0, validate=validate.Range(min=0, max=365))
    batch_id = fields.UUID(allow_none=True, load_default=None)
    inspection_id = fields.UUID(allow_none=True, load_default=None)
    defect_id = fields.UUID(allow_none=True, load_default=None)
    photo_id = fields.UUID(allow_none=True, load_default=None)
    alert_id = fields.UUID(allow_none=True, load_default=None)
    opened_by_id = fields.UUID(dump_only=True, allow_none=True)
    resolved_at = fields.DateTime(dump_only=True, allow_none=True)
    verified_at = fields.DateTime(dump_only=True, allow_none=True)
    overdue = fields.Method("_overdue", dump_only=True)
    capa_waiver_reason = fields.String(dump_only=True)
    comments = fields.List(fields.Nested(IssueCommentSchema), dump_only=True)

    def _overdue(self, issue) -> bool:
        return is_overdue(_today(), issue.due_date, issue.status)


def _today():
    from .service import today_utc

    return today_utc()


class IssueUpdateSchema(Schema):
    status = fields.String(validate=validate.OneOf(ISSUE_STATUSES))
    wont_fix_reason = fields.String(validate=_text)
    type = fields.String(validate=validate.OneOf(ISSUE_TYPES))
    severity = fields.String(validate=validate.OneOf(ISSUE_SEVERITIES))
    title = fields.String(validate=validate.Length(min=1, max=200))
    description = fields.String(validate=_text)
    owner_org_id = fields.UUID(allow_none=True)
    owner_user_id = fields.UUID(allow_none=True)
    due_date = _date(allow_none=True)
    expected_delay_days = fields.Integer(validate=validate.Range(min=0, max=365))
    capa_waiver_reason = fields.String(validate=_text, metadata={
        "description": "brand editors: close (verified) an issue whose CAPA is not proven effective"})


class IssueQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(ISSUE_STATUSES + ("unresolved",)))


class FromInspectionSchema(Schema):
    inspection_id = fields.UUID(required=True)


# -- alerts and the PO view ---------------------------------------------------------------------

class AlertSchema(_Record):
    purchase_order_id = fields.UUID(dump_only=True)
    kind = fields.String()
    subject = fields.String()
    severity = fields.String()
    message = fields.String()
    details = fields.Dict()
    status = fields.String()
    acknowledged_at = fields.DateTime(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)


class AlertQuerySchema(Schema):
    include_resolved = fields.Boolean(load_default=False)


class TimelineMilestoneSchema(Schema):
    kind = fields.String(metadata={"enum": list(MILESTONE_KINDS)})
    subject = fields.String()
    label = fields.String()
    planned_date = fields.Date(allow_none=True)
    forecast_date = fields.Date(allow_none=True)
    actual_date = fields.Date(allow_none=True)
    status = fields.String(metadata={"enum": ["done", "late", "at_risk", "on_track", "not_planned"]})
    details = fields.Dict()


class AttentionSchema(Schema):
    type = fields.String(metadata={"enum": ["alert", "issue", "milestone"]})
    id = fields.UUID(allow_none=True)
    severity = fields.String()
    kind = fields.String()
    message = fields.String()


class RiskSchema(Schema):
    score = fields.Integer()
    level = fields.String(metadata={"enum": ["low", "medium", "high"]})


class ForecastSchema(Schema):
    produced_units = fields.Integer()
    remaining_units = fields.Integer()
    total_units = fields.Integer()
    rate_units_per_day = fields.Float(allow_none=True)
    rate_source = fields.String()
    start_date = fields.Date(allow_none=True)
    completion_date = fields.Date(allow_none=True)
    final_inspection_date = fields.Date(allow_none=True)
    ready_to_ship_date = fields.Date(allow_none=True)
    needed_by = fields.Date(allow_none=True)
    needed_for = fields.String(allow_none=True)
    slack_days = fields.Integer(allow_none=True)


class TimelineInspectionSchema(Schema):
    id = fields.UUID()
    kind = fields.String()
    status = fields.String()
    verdict = fields.String(attribute="final_verdict", metadata={
        "description": "the verdict that stands: the brand's override, else the computed one"})
    computed_verdict = fields.String(attribute="verdict")
    batch_id = fields.UUID(allow_none=True)
    scheduled_for = fields.DateTime(allow_none=True)
    signed_off_at = fields.DateTime(allow_none=True)


class LineProgressSchema(Schema):
    po_line_id = fields.UUID()
    sku = fields.String()
    ordered_units = fields.Integer()
    produced_units = fields.Integer()


class TimelineDriftSchema(Schema):
    id = fields.UUID()
    batch_id = fields.UUID()
    kind = fields.String()
    standard_name = fields.String()
    rule = fields.String()
    level = fields.String(metadata={"description": "warning | alarm"})
    status = fields.String()
    message = fields.String()
    opened_at = fields.DateTime()
    answer = fields.String()
    answered_at = fields.DateTime(allow_none=True)


class TimelineSchema(Schema):
    purchase_order = fields.Nested(PurchaseOrderSchema)
    today = fields.Date()
    risk = fields.Nested(RiskSchema)
    forecast = fields.Nested(ForecastSchema)
    attention = fields.List(fields.Nested(AttentionSchema))
    milestones = fields.List(fields.Nested(TimelineMilestoneSchema))
    inspections = fields.List(fields.Nested(TimelineInspectionSchema))
    alerts = fields.List(fields.Nested(AlertSchema))
    issues = fields.List(fields.Nested(IssueSchema))
    drift_alerts = fields.List(fields.Nested(TimelineDriftSchema), metadata={
        "description": "unresolved colour/dimension drift alerts of the PO's batches (not for inspectors)"})
    progress = fields.List(fields.Nested(LineProgressSchema))
    shipments = fields.List(fields.Nested(ShipmentDetailSchema))


class RiskPurchaseOrderSchema(Schema):
    id = fields.UUID()
    po_number = fields.String()
    brand_id = fields.UUID()
    factory_id = fields.UUID()
    status = fields.String()
    planned_ship_date = fields.Date(allow_none=True)
    destination = fields.String()


class RiskRowSchema(Schema):
    purchase_order = fields.Nested(RiskPurchaseOrderSchema)
    risk = fields.Nested(RiskSchema)
    completion_date = fields.Date(allow_none=True)
    needed_by = fields.Date(allow_none=True)
    slack_days = fields.Integer(allow_none=True)
    produced_units = fields.Integer()
    total_units = fields.Integer()
    open_alerts = fields.Integer()
    open_drift_alerts = fields.Integer()
    open_issues = fields.Integer()
    overdue_issues = fields.Integer()
    top_attention = fields.String(allow_none=True)


# -- release gate -------------------------------------------------------------------------------

class GateWaiverRefSchema(Schema):
    id = fields.String()
    reason = fields.String()
    waived_by_id = fields.String(allow_none=True)
    waived_at = fields.String()


class GateItemSchema(Schema):
    item = fields.String(metadata={"description": "production_incomplete, final_inspection_not_passed, "
                                                  "document_missing, document_not_approved, document_rejected, "
                                                  "packing_list_incomplete, container_not_booked, container_too_small"})
    subject = fields.String()
    message = fields.String()
    details = fields.Dict()
    waiver = fields.Nested(GateWaiverRefSchema)


class GateSchema(Schema):
    shipment_id = fields.UUID()
    reference = fields.String()
    released = fields.Boolean()
    departed_on = fields.Date(allow_none=True)
    ready = fields.Boolean()
    missing = fields.List(fields.Nested(GateItemSchema))
    waived = fields.List(fields.Nested(GateItemSchema))


class ReleaseSchema(Schema):
    departed_on = _date(load_default=None, allow_none=True, metadata={"description": "default: today"})


class WaiverSchema(_Record):
    shipment_id = fields.UUID(dump_only=True)
    item = fields.String(required=True, validate=validate.OneOf(GATE_ITEMS))
    subject = fields.String(load_default="", validate=validate.Length(max=120))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    waived_by_id = fields.UUID(dump_only=True, allow_none=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)
    revoked_by_id = fields.UUID(dump_only=True, allow_none=True)


class ShipmentAuditSchema(Schema):
    id = fields.UUID()
    action = fields.String()
    changes = fields.Dict()
    user_id = fields.UUID(allow_none=True)
    at = fields.DateTime()


# -- CAPA ---------------------------------------------------------------------------------------

class CapaStepSchema(Schema):
    id = fields.UUID(dump_only=True)
    step = fields.String(dump_only=True)
    description = fields.String(validate=_text)
    five_whys = fields.List(fields.String(validate=validate.Length(min=1, max=1000)), validate=validate.Length(max=5),
                            metadata={"description": "root cause only: up to five answers to 'why?'"})
    owner_user_id = fields.UUID(allow_none=True)
    due_date = _date(allow_none=True)
    status = fields.String(validate=validate.OneOf(CAPA_STATUSES))
    completed_at = fields.DateTime(dump_only=True, allow_none=True)
    effective = fields.Boolean(dump_only=True, allow_none=True)
    verified_by_id = fields.UUID(dump_only=True, allow_none=True)
    verified_at = fields.DateTime(dump_only=True, allow_none=True)
    evidence = fields.List(fields.Nested(AttachmentSchema), dump_only=True)
    overdue = fields.Boolean(dump_only=True)


class CapaSchema(Schema):
    issue_id = fields.UUID()
    responsible_org_id = fields.UUID(allow_none=True)
    steps = fields.List(fields.Nested(CapaStepSchema))
    closable = fields.Boolean()
    close_blocked_by = fields.String(allow_none=True)
    capa_waiver_reason = fields.String()


class EffectivenessSchema(Schema):
    effective = fields.Boolean(required=True)
    note = fields.String(load_default="", validate=_text)


# -- inspection booking -------------------------------------------------------------------------

class BookingSchema(_Record):
    purchase_order_id = fields.UUID(dump_only=True)
    po_line_id = fields.UUID(allow_none=True, load_default=None)
    batch_id = fields.UUID(allow_none=True, load_default=None)
    kind = fields.String(load_default="final", validate=validate.OneOf(["pre_production", "inline", "final"]))
    ready_date = _date(required=True)
    quantity = fields.Integer(required=True, validate=validate.Range(min=1, max=10_000_000))
    note = fields.String(load_default="", validate=validate.Length(max=2000))
    status = fields.String(dump_only=True, metadata={"description": "requested | proposed | confirmed | cancelled"})
    proposed_date = fields.Date(dump_only=True, allow_none=True)
    scheduled_date = fields.Date(dump_only=True, allow_none=True)
    inspector_id = fields.UUID(dump_only=True, allow_none=True)
    inspection_id = fields.UUID(dump_only=True, allow_none=True)
    requested_by_id = fields.UUID(dump_only=True, allow_none=True)
    history = fields.List(fields.Dict(), dump_only=True)


class ConfirmBookingSchema(Schema):
    inspector_id = fields.UUID(required=True)
    template_id = fields.UUID(required=True)
    date = _date(required=True)


class BookingDateSchema(Schema):
    date = _date(required=True)
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class BookingReasonSchema(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=2000))


class FeedCreateSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(["inspector", "factory"]))
    subject_id = fields.UUID(load_default=None, allow_none=True,
                             metadata={"description": "the factory (kind factory); an inspector's feed is their own"})


class FeedSchema(Schema):
    id = fields.UUID()
    kind = fields.String()
    subject_id = fields.UUID()
    created_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
    token = fields.String(metadata={"description": "shown once, when the feed is made"})
    url = fields.String(metadata={"description": "the feed's address (shown once)"})


# -- quality dashboard --------------------------------------------------------------------------

class DashboardQuerySchema(Schema):
    brand_id = fields.UUID(load_default=None)
    factory_id = fields.UUID(load_default=None)
    product_id = fields.UUID(load_default=None)
    purchase_order_id = fields.UUID(load_default=None)
    date_from = _date(load_default=None, data_key="from")
    date_to = _date(load_default=None, data_key="to")
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))
    table = fields.String(load_default="summary", validate=validate.OneOf(["summary", "pareto", "factory_scorecard"]),
                          metadata={"description": "which table format=csv exports"})


class DashboardSchema(Schema):
    filters = fields.Dict()
    today = fields.Date()
    summary = fields.Dict()
    pareto = fields.List(fields.Dict())
    factory_scorecard = fields.List(fields.Dict())
