"""Shapes of the inspection API: checklist templates, inspections, their rows, reports.

Schemas check shape only (kinds, units, required keys, uniqueness inside one document);
permissions and cross-row rules (the dimension spec belongs to the product, the template
is the brand's) live in :mod:`server.inspect.service`.
"""
from __future__ import annotations

import uuid

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from .measure import UNITS
from .rules import FIELDS, NOTE
from .models import DEFECT_CLASSES, INSPECTION_KINDS, INSPECTION_STATUSES, ITEM_KINDS, SECTIONS

_KEY = validate.Regexp(r"^[a-z0-9][a-z0-9_]{0,79}$",
                       error="Use 1-80 lower-case letters, digits and underscores.")
_LEVELS = ("I", "II", "III", "S-1", "S-2", "S-3", "S-4")
_YES_NO_NA = ("yes", "no", "na")


def _uuid_string(value: str) -> None:
    try:
        uuid.UUID(str(value))
    except ValueError:
        raise ValidationError("Not a valid UUID.") from None


# -- checklist templates ------------------------------------------------------------------

class ChecklistItemSchema(Schema):
    """One checklist item. ``number`` items need unit, nominal and tolerance; ``choice`` items choices."""

    class Meta:
        unknown = RAISE

    key = fields.String(required=True, validate=_KEY)
    kind = fields.String(required=True, validate=validate.OneOf(ITEM_KINDS))
    label = fields.String(required=True, validate=validate.Length(min=1, max=300))
    required = fields.Boolean(load_default=False)
    help = fields.String(validate=validate.Length(max=2000))
    per_unit = fields.Boolean(metadata={"description": "answered once per sampled unit"})
    unit = fields.String(validate=validate.OneOf(list(UNITS)))
    nominal = fields.Float(allow_nan=False)
    tolerance = fields.Float(validate=validate.Range(min=0), allow_nan=False)
    tolerance_minus = fields.Float(validate=validate.Range(min=0), allow_nan=False)
    choices = fields.List(fields.String(validate=validate.Length(min=1, max=100)),
                          validate=validate.Length(min=1, max=50))
    pass_choices = fields.List(fields.String(validate=validate.Length(min=1, max=100)))
    photo_required = fields.Boolean()
    dimension_spec_id = fields.String(validate=_uuid_string)
    defect = fields.String(validate=validate.Length(min=1, max=60),
                           metadata={"description": "defect code counted by a defect_count item"})
    defect_class = fields.String(validate=validate.OneOf(DEFECT_CLASSES))

    @validates_schema
    def _kind_needs(self, data, **_):
        kind = data.get("kind")
        errors: dict[str, list[str]] = {}
        if kind == "number":
            for key in ("unit", "nominal", "tolerance"):
                if key not in data:
                    errors[key] = ["Number items need a unit, a nominal value and a tolerance."]
        if kind == "choice":
            choices = data.get("choices")
            if not choices:
                errors["choices"] = ["Choice items need at least one choice."]
            elif len(set(choices)) != len(choices):
                errors["choices"] = ["Choices must be unique."]
            elif set(data.get("pass_choices") or ()) - set(choices):
                errors["pass_choices"] = ["Every pass choice must be one of the choices."]
        if kind != "choice" and "choices" in data:
            errors["choices"] = ["Only choice items have choices."]
        if kind != "number" and "dimension_spec_id" in data:
            errors["dimension_spec_id"] = ["Only number items measure a dimension spec."]
        if kind == "defect_count" and "defect" not in data and "defect_class" not in data:
            errors["defect"] = ["Defect count items need a defect code or a defect class."]
        if errors:
            raise ValidationError(errors)


class ChecklistSectionSchema(Schema):
    class Meta:
        unknown = RAISE

    key = fields.String(required=True, validate=validate.OneOf(SECTIONS))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    items = fields.List(fields.Nested(ChecklistItemSchema), required=True, validate=validate.Length(min=1, max=300))


def _unique_keys(sections: list[dict]) -> None:
    seen_sections, seen_items, errors = set(), set(), []
    for s in sections:
        if s["key"] in seen_sections:
            errors.append(f"Section {s['key']!r} appears twice.")
        seen_sections.add(s["key"])
        for item in s["items"]:
            if item["key"] in seen_items:
                errors.append(f"Item key {item['key']!r} is used more than once.")
            seen_items.add(item["key"])
    if errors:
        raise ValidationError(errors)


_sections_field = dict(validate=[validate.Length(min=1, max=20), _unique_keys])


class VerdictRuleSchema(Schema):
    """How failed checklist items and measurement failures count (see ``verdict.DEFAULT_RULE``)."""

    class Meta:
        unknown = RAISE

    failed_item_class = fields.String(validate=validate.OneOf(DEFECT_CLASSES), allow_none=True)
    failed_item_weight = fields.Integer(validate=validate.Range(min=0, max=100))
    measurement_failure_class = fields.String(validate=validate.OneOf(DEFECT_CLASSES), allow_none=True)
    measurement_failure_weight = fields.Integer(validate=validate.Range(min=0, max=100))


class RecordSchema(Schema):
    id = fields.UUID(dump_only=True)
    rev = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class TemplateSchema(RecordSchema):
    brand_id = fields.UUID(dump_only=True)
    family_id = fields.UUID(dump_only=True)
    version = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    inspection_kind = fields.String(dump_only=True, allow_none=True)
    sections = fields.List(fields.Dict(), dump_only=True)
    is_current = fields.Boolean(dump_only=True)
    archived_at = fields.DateTime(dump_only=True, allow_none=True)
    copied_from_id = fields.UUID(dump_only=True, allow_none=True)
    created_by_id = fields.UUID(dump_only=True, allow_none=True)
    verdict_rule = fields.Dict(dump_only=True, allow_none=True)


class TemplateCreateSchema(Schema):
    brand_id = fields.UUID(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    inspection_kind = fields.String(validate=validate.OneOf(INSPECTION_KINDS), allow_none=True, load_default=None)
    sections = fields.List(fields.Nested(ChecklistSectionSchema), required=True, **_sections_field)
    verdict_rule = fields.Nested(VerdictRuleSchema, allow_none=True, load_default=None)


class TemplateEditSchema(Schema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    inspection_kind = fields.String(validate=validate.OneOf(INSPECTION_KINDS), allow_none=True)
    sections = fields.List(fields.Nested(ChecklistSectionSchema), **_sections_field)
    verdict_rule = fields.Nested(VerdictRuleSchema, allow_none=True)

    @validates_schema
    def _something(self, data, **_):
        if not data:
            raise ValidationError("Change at least one of name, inspection_kind, sections, verdict_rule.")


class TemplateCopySchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    brand_id = fields.UUID(metadata={"description": "copy into another brand you edit; default the same"})


class TemplateQuerySchema(Schema):
    brand_id = fields.UUID()
    family_id = fields.UUID()
    inspection_kind = fields.String(validate=validate.OneOf(INSPECTION_KINDS))
    all_versions = fields.Boolean(load_default=False, metadata={"description": "old versions too"})
    include_archived = fields.Boolean(load_default=False)


# -- inspections --------------------------------------------------------------------------

class AqlSchema(Schema):
    critical = fields.Float(validate=validate.Range(min=0, max=1000))
    major = fields.Float(validate=validate.Range(min=0, max=1000))
    minor = fields.Float(validate=validate.Range(min=0, max=1000))


class InspectionSchema(RecordSchema):
    kind = fields.String(dump_only=True)
    purchase_order_id = fields.UUID(dump_only=True)
    batch_id = fields.UUID(dump_only=True, allow_none=True)
    product_id = fields.UUID(dump_only=True)
    template_id = fields.UUID(dump_only=True)
    inspector_id = fields.UUID(dump_only=True, allow_none=True)
    golden_sample_id = fields.UUID(dump_only=True, allow_none=True)
    status = fields.String(dump_only=True)
    verdict = fields.String(dump_only=True, metadata={"description": "computed from the rows"})
    verdict_reasons = fields.List(fields.String(), dump_only=True)
    verdict_override = fields.Dict(dump_only=True, allow_none=True)
    final_verdict = fields.Method("_final", dump_only=True,
                                  metadata={"description": "the override when there is one, else the verdict"})
    lot_size = fields.Integer(dump_only=True, allow_none=True)
    inspection_level = fields.String(dump_only=True)
    severity = fields.String(dump_only=True, metadata={"description": "normal, tightened or reduced"})
    aql = fields.Dict(dump_only=True, allow_none=True)
    scheduled_for = fields.DateTime(dump_only=True, allow_none=True)
    started_at = fields.DateTime(dump_only=True, allow_none=True)
    signed_off_at = fields.DateTime(dump_only=True, allow_none=True)
    notes = fields.String(dump_only=True)

    def _final(self, obj):
        return (obj.verdict_override or {}).get("verdict") or obj.verdict


class InspectionCreateSchema(Schema):
    id = fields.UUID(metadata={"description": "client-made id; made by the server when absent"})
    kind = fields.String(required=True, validate=validate.OneOf(INSPECTION_KINDS))
    purchase_order_id = fields.UUID(required=True)
    batch_id = fields.UUID(allow_none=True, load_default=None)
    product_id = fields.UUID(metadata={"description": "default: the batch's product, or the PO's only product"})
    template_id = fields.UUID(required=True)
    inspector_id = fields.UUID(allow_none=True, load_default=None)
    scheduled_for = fields.AwareDateTime(allow_none=True, load_default=None, default_timezone=None)
    lot_size = fields.Integer(validate=validate.Range(min=2, max=10_000_000), allow_none=True, load_default=None)
    inspection_level = fields.String(validate=validate.OneOf(_LEVELS), load_default="II")
    notes = NOTE.marshmallow()


class InspectionUpdateSchema(Schema):
    inspector_id = fields.UUID(allow_none=True)
    scheduled_for = fields.AwareDateTime(allow_none=True)
    lot_size = fields.Integer(validate=validate.Range(min=2, max=10_000_000))
    inspection_level = fields.String(validate=validate.OneOf(_LEVELS))
    notes = fields.String(validate=validate.Length(max=NOTE.max_len))
    status = fields.String(validate=validate.OneOf(["cancelled"]),
                           metadata={"description": "brand editors may only cancel"})

    @validates_schema
    def _something(self, data, **_):
        if not data:
            raise ValidationError("Nothing to change.")


class InspectionQuerySchema(Schema):
    purchase_order_id = fields.UUID()
    batch_id = fields.UUID()
    product_id = fields.UUID()
    inspector_id = fields.UUID()
    status = fields.String(validate=validate.OneOf(INSPECTION_STATUSES))
    kind = fields.String(validate=validate.OneOf(INSPECTION_KINDS))


class OverrideSchema(Schema):
    verdict = fields.String(required=True, validate=validate.OneOf(["pass", "fail"]))
    reason = fields.String(required=True, validate=validate.Length(min=3, max=2000))


_R, _M, _D = FIELDS["response"], FIELDS["measurement"], FIELDS["defect"]


class ChecklistResponseSchema(RecordSchema):
    """A checklist answer; the fields' limits and defaults are :data:`server.inspect.rules.FIELDS`'s."""

    id = fields.UUID(metadata={"description": "client-made id; made by the server when absent"})
    inspection_id = fields.UUID(dump_only=True)
    item_key = _R["item_key"].marshmallow()
    unit_index = _R["unit_index"].marshmallow()
    value = _R["value"].marshmallow()
    passed = fields.Boolean(dump_only=True, allow_none=True)
    note = _R["note"].marshmallow()


class MeasurementSchema(RecordSchema):
    id = fields.UUID(metadata={"description": "client-made id; made by the server when absent"})
    inspection_id = fields.UUID(dump_only=True)
    dimension_spec_id = _M["dimension_spec_id"].marshmallow()
    unit_index = _M["unit_index"].marshmallow()
    value_entered = _M["value_entered"].marshmallow()
    unit_entered = _M["unit_entered"].marshmallow()
    value_si = fields.Float(dump_only=True)
    in_tolerance = fields.Boolean(dump_only=True)
    source = _M["source"].marshmallow()
    photo_id = _M["photo_id"].marshmallow()


class DefectSchema(RecordSchema):
    id = fields.UUID(metadata={"description": "client-made id; made by the server when absent"})
    inspection_id = fields.UUID(dump_only=True)
    code = _D["code"].marshmallow()
    defect_class = _D["defect_class"].marshmallow()
    count = _D["count"].marshmallow()
    unit_index = _D["unit_index"].marshmallow()
    note = _D["note"].marshmallow()
    photo_ids = fields.List(fields.UUID(), dump_only=True)


class PhotoRefSchema(Schema):
    id = fields.UUID()
    item_key = fields.String(allow_none=True)
    defect_id = fields.UUID(allow_none=True)
    unit_index = fields.Integer(allow_none=True)
    upload_state = fields.String()
    content_type = fields.String()
    taken_at = fields.DateTime(allow_none=True)


class PlanSchema(Schema):
    lot_size = fields.Integer()
    aql = fields.String()
    level = fields.String()
    inspection = fields.String()
    lot_code_letter = fields.String()
    code_letter = fields.String()
    sample_size = fields.Integer()
    accept = fields.Integer()
    reject = fields.Integer()
    whole_lot = fields.Boolean()


class InspectionDetailSchema(InspectionSchema):
    template = fields.Nested(TemplateSchema, dump_only=True)
    plans = fields.Dict(keys=fields.String(), values=fields.Nested(PlanSchema), dump_only=True)
    verdict_detail = fields.Dict(dump_only=True, metadata={"description": "per class: found, n, Ac, Re, status"})
    responses = fields.List(fields.Nested(ChecklistResponseSchema), dump_only=True)
    measurements = fields.List(fields.Nested(MeasurementSchema), dump_only=True)
    defects = fields.List(fields.Nested(DefectSchema), dump_only=True)
    photos = fields.List(fields.Nested(PhotoRefSchema), dump_only=True)


class SwitchingStateSchema(Schema):
    product_id = fields.UUID()
    factory_id = fields.UUID()
    inspection = fields.String(metadata={"description": "normal, tightened, reduced or discontinued"})
    state = fields.Dict()
    history = fields.List(fields.Dict())
    updated_at = fields.DateTime(allow_none=True)


class SwitchingQuerySchema(Schema):
    product_id = fields.UUID(required=True)
    factory_id = fields.UUID(required=True)


class SpecSummarySchema(Schema):
    dimension_spec_id = fields.UUID()
    name = fields.String()
    unit = fields.String()
    nominal = fields.Float()
    tolerance = fields.Float()
    count = fields.Integer()
    mean = fields.Float(allow_none=True)
    min = fields.Float(allow_none=True)
    max = fields.Float(allow_none=True)
    stdev = fields.Float(allow_none=True)
    out_of_tolerance = fields.Integer()


class AuditEventSchema(Schema):
    id = fields.UUID()
    entity = fields.String()
    record_id = fields.UUID()
    action = fields.String()
    changes = fields.Dict()
    user_id = fields.UUID(allow_none=True)
    client_id = fields.UUID(allow_none=True)
    mutation_id = fields.UUID(allow_none=True)
    at = fields.DateTime()


class DefectLibraryQuerySchema(Schema):
    category = fields.String(validate=validate.OneOf(["apparel", "hard_goods", "packaging"]))


class DefectLibraryEntrySchema(Schema):
    code = fields.String()
    label = fields.String()
    default_class = fields.String()
    category = fields.String()


class ShareLinkCreateSchema(Schema):
    expires_in_seconds = fields.Integer(load_default=7 * 24 * 3600,
                                        validate=validate.Range(min=60, max=90 * 24 * 3600))


class ShareLinkSchema(Schema):
    id = fields.UUID()
    url = fields.String(metadata={"description": "shown once, at creation"})
    expires_at = fields.DateTime()
    created_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
