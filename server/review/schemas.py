"""Shapes of the review API: queue, photo detail, decisions, alerts, drift, webhooks."""
from marshmallow import Schema, fields, validate

from .models import ALERT_KINDS, ALERT_LEVELS, ALERT_STATUSES, EVENT_TYPES
from .service import DECISIONS, QUEUE_STATES

_reason = validate.Regexp(r"^[a-z0-9_.:-]{1,60}$", error="A reason code: lower-case letters, digits, _ . : -")


class QueueQuerySchema(Schema):
    purchase_order_id = fields.UUID()
    batch_id = fields.UUID()
    product_id = fields.UUID()
    factory_id = fields.UUID()
    reason = fields.String(validate=_reason, metadata={
        "description": "a flag reason code from the analysis, or `inspector` for photos the inspector flagged"})
    state = fields.String(load_default="pending", validate=validate.OneOf(QUEUE_STATES), metadata={
        "description": "`pending` (not decided yet, the default), a decision state, or `all`"})


class ReviewPORefSchema(Schema):
    id = fields.UUID()
    po_number = fields.String()


class ReviewBatchRefSchema(Schema):
    id = fields.UUID()
    code = fields.String()


class ReviewProductRefSchema(Schema):
    id = fields.UUID()
    sku = fields.String()
    name = fields.String()


class QueueItemSchema(Schema):
    photo_id = fields.UUID()
    inspection_id = fields.UUID()
    review_state = fields.String()
    severity = fields.String(metadata={"description": "high (out of tolerance), medium (unusable), low"})
    severity_rank = fields.Integer()
    flag_reasons = fields.List(fields.String())
    flagged_by_inspector = fields.Boolean()
    analysis_status = fields.String(allow_none=True)
    confidence = fields.Float(allow_none=True)
    delta_e_cie2000 = fields.Float(allow_none=True)
    taken_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    purchase_order = fields.Nested(ReviewPORefSchema)
    batch = fields.Nested(ReviewBatchRefSchema, allow_none=True)
    product = fields.Nested(ReviewProductRefSchema)
    factory_id = fields.UUID()
    photo_url = fields.String(allow_none=True, metadata={"description": "signed, short-lived download URL"})
    overlay_url = fields.String(allow_none=True, metadata={"description": "the annotated analysis overlay"})


class ReviewDecisionSchema(Schema):
    id = fields.UUID(dump_only=True)
    rev = fields.Integer(dump_only=True)
    photo_id = fields.UUID(dump_only=True)
    inspection_id = fields.UUID(dump_only=True)
    reviewer_id = fields.UUID(dump_only=True)
    decision = fields.String(required=True, validate=validate.OneOf(DECISIONS))
    comment = fields.String(load_default="", validate=validate.Length(max=5000), metadata={
        "description": "required for reject and retake: what the inspector should know or do"})
    resolved = fields.Boolean(dump_only=True, metadata={"description": "false while a retake is still to do"})
    created_at = fields.DateTime(dump_only=True)


class ReviewCommentSchema(Schema):
    id = fields.UUID(dump_only=True)
    rev = fields.Integer(dump_only=True)
    photo_id = fields.UUID(dump_only=True)
    inspection_id = fields.UUID(dump_only=True)
    author_id = fields.UUID(dump_only=True)
    body = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    created_at = fields.DateTime(dump_only=True)


class ReviewMeasurementSchema(Schema):
    name = fields.String()
    kind = fields.String()
    value = fields.Float(allow_none=True)
    unit = fields.String()
    nominal = fields.Float()
    tolerance = fields.Float()
    within = fields.Boolean(allow_none=True)
    lab = fields.List(fields.Float(), allow_none=True)
    reference_lab = fields.List(fields.Float(), allow_none=True)


class GoldenRefSchema(Schema):
    id = fields.UUID()
    version = fields.Integer()
    measured = fields.Dict()
    reference_urls = fields.List(fields.String(), metadata={"description": "signed URLs of the reference photos"})


class PhotoDetailSchema(QueueItemSchema):
    analysis = fields.Dict()
    golden_sample = fields.Nested(GoldenRefSchema, allow_none=True)
    measurements = fields.List(fields.Nested(ReviewMeasurementSchema))
    context = fields.Dict(metadata={"description": "inspection kind, status, verdict, inspector, factory, item"})
    decisions = fields.List(fields.Nested(ReviewDecisionSchema))
    comments = fields.List(fields.Nested(ReviewCommentSchema))


class DriftAlertQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(ALERT_STATUSES + ("active",)), metadata={
        "description": "`active` = open or acknowledged"})
    batch_id = fields.UUID()
    kind = fields.String(validate=validate.OneOf(ALERT_KINDS))
    level = fields.String(validate=validate.OneOf(ALERT_LEVELS))


def _batch_code(alert) -> str | None:
    from ..catalog.models import Batch
    from ..extensions import db

    batch = db.session.get(Batch, alert.batch_id)
    return batch.code if batch is not None else None


class DriftAlertSchema(Schema):
    id = fields.UUID()
    brand_id = fields.UUID()
    batch_id = fields.UUID()
    batch_code = fields.Function(_batch_code, metadata={"description": "the batch's code, e.g. LOT-A"})
    kind = fields.String()
    standard_id = fields.UUID()
    standard_name = fields.String()
    rule = fields.String(metadata={"description": "ewma (control chart) or trend (ΔE00 rising six times in a row)"})
    level = fields.String()
    status = fields.String()
    direction = fields.String(metadata={"description": "e.g. 'getting darker and yellower'"})
    message = fields.String()
    details = fields.Dict()
    opened_at = fields.DateTime()
    acknowledged_by_id = fields.UUID(allow_none=True)
    acknowledged_at = fields.DateTime(allow_none=True)
    acknowledge_note = fields.String()
    answer = fields.String(metadata={"description": "the factory's answer"})
    answered_by_id = fields.UUID(allow_none=True)
    answered_at = fields.DateTime(allow_none=True)
    resolved_at = fields.DateTime(allow_none=True)


class AnswerSchema(Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class AcknowledgeSchema(Schema):
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class DriftQuerySchema(Schema):
    standard_id = fields.UUID(metadata={"description": "colour standard or dimension spec; default the first"})


class SvgQuerySchema(DriftQuerySchema):
    token = fields.String(validate=validate.Length(max=500), metadata={
        "description": "signed token from the JSON form's svg_url, for <img> without a bearer header"})


class DriftPointSchema(Schema):
    class Meta:
        unknown = "include"

    index = fields.Integer()
    photo_id = fields.UUID()
    level = fields.String()


class DriftSeriesSchema(Schema):
    kind = fields.String()
    standard_id = fields.UUID()
    standard_name = fields.String()
    reference = fields.List(fields.Float(), metadata={"description": "golden Lab, or nominal mm"})
    status = fields.String(metadata={"description": "ok, baseline (collecting baseline photos) or no_data"})
    lam = fields.Float()
    limit_width = fields.Float()
    warning_width = fields.Float()
    active = fields.Dict(keys=fields.String(), values=fields.String())
    direction = fields.String()
    display_chart = fields.String()
    points = fields.List(fields.Dict())
    svg_url = fields.String(metadata={"description": "signed drift.svg URL, valid for minutes"})


class BatchDriftSchema(Schema):
    batch_id = fields.UUID()
    batch_code = fields.String()
    series = fields.List(fields.Nested(DriftSeriesSchema))


class WebhookSchema(Schema):
    id = fields.UUID(dump_only=True)
    brand_id = fields.UUID(required=True)
    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False,
                     validate=validate.Length(max=2000))
    event_types = fields.List(fields.String(validate=validate.OneOf(EVENT_TYPES)), required=True,
                              validate=validate.Length(min=1))
    description = fields.String(load_default="", validate=validate.Length(max=200))
    active = fields.Boolean(load_default=True)
    secret = fields.String(load_only=True, validate=validate.Length(min=16, max=200), metadata={
        "description": "HMAC key; generated when omitted and shown once, in the create answer"})
    created_at = fields.DateTime(dump_only=True)


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(dump_only=True)


class WebhookUpdateSchema(Schema):
    url = fields.Url(schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=2000))
    event_types = fields.List(fields.String(validate=validate.OneOf(EVENT_TYPES)), validate=validate.Length(min=1))
    description = fields.String(validate=validate.Length(max=200))
    active = fields.Boolean()


class WebhookAttemptSchema(Schema):
    attempt = fields.Integer()
    status_code = fields.Integer(allow_none=True)
    error = fields.String()
    duration_ms = fields.Integer()
    next_retry_at = fields.DateTime(allow_none=True)
    at = fields.DateTime()


class WebhookDeliverySchema(Schema):
    id = fields.UUID()
    event_id = fields.UUID()
    event_type = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    next_retry_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    log = fields.List(fields.Nested(WebhookAttemptSchema))
