"""Shapes of the catalog API: products, specs, golden samples, purchase orders, batches."""
from marshmallow import Schema, ValidationError, fields, pre_dump, validate, validates_schema

_name = validate.Length(min=1, max=200)
_defect_classes = ("critical", "major", "minor")


class AqlSchema(Schema):
    critical = fields.Float(validate=validate.Range(min=0, max=1000))
    major = fields.Float(validate=validate.Range(min=0, max=1000))
    minor = fields.Float(validate=validate.Range(min=0, max=1000))


class RecordSchema(Schema):
    id = fields.UUID(dump_only=True)
    rev = fields.Integer(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class DimensionSpecSchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    nominal_mm = fields.Float(required=True, validate=validate.Range(min=0, min_inclusive=False, max=100000))
    tolerance_mm = fields.Float(required=True, validate=validate.Range(min=0, max=10000))
    position = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1000))


class ColourStandardSchema(RecordSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=80))
    lab = fields.List(fields.Float(validate=validate.Range(min=-200, max=200)), required=True,
                      validate=validate.Length(equal=3), metadata={"description": "CIELAB D65 [L*, a*, b*]"})
    delta_e_tolerance = fields.Float(load_default=2.0, validate=validate.Range(min=0, min_inclusive=False, max=100))

    @validates_schema
    def _lightness(self, data, **_):
        if "lab" in data and not 0 <= data["lab"][0] <= 100:
            raise ValidationError("L* must be between 0 and 100.", "lab")


class ProductSchema(RecordSchema):
    brand_id = fields.UUID(required=True)
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(required=True, validate=_name)
    category = fields.String(load_default="hard_goods", validate=validate.OneOf(["apparel", "hard_goods", "packaging"]))
    description = fields.String(load_default="", validate=validate.Length(max=5000))
    aql = fields.Nested(AqlSchema, allow_none=True, load_default=None)
    dimension_specs = fields.List(fields.Nested(DimensionSpecSchema), load_default=list)
    colour_standards = fields.List(fields.Nested(ColourStandardSchema), load_default=list)

    @pre_dump
    def _live_specs(self, product, **_):
        """Answer the live specs only: replaced ones stay as tombstones for phones to pull, not here."""
        return _LiveSpecs(product) if hasattr(product, "dimension_specs") else product


class _LiveSpecs:
    """A product seen without its tombstoned dimension specs and colour standards."""

    def __init__(self, product):
        self._product = product

    def __getattr__(self, name):
        value = getattr(self._product, name)
        if name in ("dimension_specs", "colour_standards"):
            return [row for row in value if not row.deleted]
        return value


class ProductUpdateSchema(Schema):
    name = fields.String(validate=_name)
    category = fields.String(validate=validate.OneOf(["apparel", "hard_goods", "packaging"]))
    description = fields.String(validate=validate.Length(max=5000))
    aql = fields.Nested(AqlSchema, allow_none=True)
    dimension_specs = fields.List(fields.Nested(DimensionSpecSchema))
    colour_standards = fields.List(fields.Nested(ColourStandardSchema))


class ProductQuerySchema(Schema):
    brand_id = fields.UUID()
    sku = fields.String(validate=validate.Length(max=64))
    q = fields.String(validate=validate.Length(max=100), metadata={"description": "search in SKU and name"})


class GoldenSampleSchema(RecordSchema):
    product_id = fields.UUID(dump_only=True)
    version = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True)
    approved_by_id = fields.UUID(dump_only=True, allow_none=True)
    approved_at = fields.DateTime(dump_only=True, allow_none=True)
    measured = fields.Dict(keys=fields.String(), load_default=dict,
                           metadata={"description": "lab [L*,a*,b*] (D65), length_mm, width_mm, dimensions"})
    reference_photos = fields.List(fields.String(validate=validate.Length(max=200)), load_default=list)
    notes = fields.String(load_default="", validate=validate.Length(max=5000))


class POLineSchema(RecordSchema):
    product_id = fields.UUID(required=True)
    sku = fields.String(dump_only=True, attribute="product.sku")
    product_name = fields.String(dump_only=True, attribute="product.name")
    quantity = fields.Integer(required=True, validate=validate.Range(min=1, max=100_000_000))
    position = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10000))


class PurchaseOrderSchema(RecordSchema):
    brand_id = fields.UUID(required=True)
    factory_id = fields.UUID(required=True)
    po_number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    status = fields.String(load_default="open", validate=validate.OneOf(["open", "in_production", "shipped",
                                                                          "closed", "cancelled"]))
    planned_ship_date = fields.Date(allow_none=True, load_default=None)
    destination = fields.String(load_default="", validate=validate.Length(max=80))
    aql = fields.Nested(AqlSchema, allow_none=True, load_default=None)
    lines = fields.List(fields.Nested(POLineSchema), required=True, validate=validate.Length(min=1, max=500))


class PurchaseOrderUpdateSchema(Schema):
    status = fields.String(validate=validate.OneOf(["open", "in_production", "shipped", "closed", "cancelled"]))
    planned_ship_date = fields.Date(allow_none=True)
    destination = fields.String(validate=validate.Length(max=80))
    aql = fields.Nested(AqlSchema, allow_none=True)


class PurchaseOrderQuerySchema(Schema):
    brand_id = fields.UUID()
    factory_id = fields.UUID()
    status = fields.String(validate=validate.Length(max=30))
    po_number = fields.String(validate=validate.Length(max=64))


class BatchSchema(RecordSchema):
    po_line_id = fields.UUID(required=True)
    code = fields.String(required=True, validate=validate.Length(min=1, max=64))
    lot_size = fields.Integer(required=True, validate=validate.Range(min=2, max=10_000_000))
    sequence = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))


class BatchQuerySchema(Schema):
    purchase_order_id = fields.UUID()
    po_line_id = fields.UUID()
