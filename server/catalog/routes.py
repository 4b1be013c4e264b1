"""Products, golden samples, purchase orders and batches. HTTP only: rules live in ``service``."""
from __future__ import annotations

import uuid

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import or_

from ..auth import require
from ..pagination import paginate_query
from . import service
from .models import Batch, GoldenSample, POLine, Product, PurchaseOrder
from .schemas import (BatchQuerySchema, BatchSchema, GoldenSampleSchema, ProductQuerySchema, ProductSchema,
                      ProductUpdateSchema, PurchaseOrderQuerySchema, PurchaseOrderSchema,
                      PurchaseOrderUpdateSchema)

blp = Blueprint("catalog", __name__, url_prefix="/api/v1",
                description="Products with specs and colour standards, golden samples, POs and batches")


@blp.route("/products")
class Products(MethodView):
    @blp.arguments(ProductQuerySchema, location="query")
    @blp.response(200, ProductSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """Products you may see, filterable by brand, SKU and text"""
        p = require()
        q = service.visible_products(p).order_by(Product.sku)
        if "brand_id" in args:
            q = q.where(Product.brand_id == args["brand_id"])
        if "sku" in args:
            q = q.where(Product.sku == args["sku"])
        if args.get("q"):
            like = f"%{args['q']}%"
            q = q.where(or_(Product.sku.ilike(like), Product.name.ilike(like)))
        return paginate_query(q, pagination_parameters)

    @blp.arguments(ProductSchema)
    @blp.response(201, ProductSchema)
    def post(self, body):
        """Create a product with dimension specs and colour standards (brand admin or reviewer)"""
        return service.create_product(require(), body)


@blp.route("/products/<uuid:product_id>")
class ProductItem(MethodView):
    @blp.response(200, ProductSchema)
    def get(self, product_id: uuid.UUID):
        """One product with its specs"""
        p = require()
        return service.get_visible(p, service.visible_products(p), Product, product_id, "product")

    @blp.arguments(ProductUpdateSchema)
    @blp.response(200, ProductSchema)
    def patch(self, body, product_id: uuid.UUID):
        """Change a product; given spec lists replace the current ones"""
        p = require()
        product = service.get_visible(p, service.visible_products(p), Product, product_id, "product")
        return service.update_product(p, product, body)

    @blp.response(204)
    def delete(self, product_id: uuid.UUID):
        """Delete a product that no PO uses"""
        p = require()
        product = service.get_visible(p, service.visible_products(p), Product, product_id, "product")
        service.delete_product(p, product)


@blp.route("/products/<uuid:product_id>/golden-samples")
class GoldenSamples(MethodView):
    @blp.response(200, GoldenSampleSchema(many=True))
    def get(self, product_id: uuid.UUID):
        """Golden-sample versions of a product, newest first"""
        p = require()
        product = service.get_visible(p, service.visible_products(p), Product, product_id, "product")
        from sqlalchemy import select

        from ..extensions import db

        return db.session.scalars(select(GoldenSample).where(GoldenSample.product_id == product.id)
                                  .order_by(GoldenSample.version.desc())).all()

    @blp.arguments(GoldenSampleSchema)
    @blp.response(201, GoldenSampleSchema)
    def post(self, body, product_id: uuid.UUID):
        """Approve a new golden-sample version with its measured values (brand admin or reviewer)"""
        p = require()
        product = service.get_visible(p, service.visible_products(p), Product, product_id, "product")
        return service.approve_golden_sample(p, product, body)


@blp.route("/purchase-orders")
class PurchaseOrders(MethodView):
    @blp.arguments(PurchaseOrderQuerySchema, location="query")
    @blp.response(200, PurchaseOrderSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """Purchase orders you may see, filterable by brand, factory, status and number"""
        p = require()
        q = service.visible_purchase_orders(p).order_by(PurchaseOrder.po_number)
        for key in ("brand_id", "factory_id", "status", "po_number"):
            if key in args:
                q = q.where(getattr(PurchaseOrder, key) == args[key])
        return paginate_query(q, pagination_parameters)

    @blp.arguments(PurchaseOrderSchema)
    @blp.response(201, PurchaseOrderSchema)
    def post(self, body):
        """Create a purchase order with its lines (brand admin or reviewer)"""
        return service.create_purchase_order(require(), body)


@blp.route("/purchase-orders/<uuid:po_id>")
class PurchaseOrderItem(MethodView):
    @blp.response(200, PurchaseOrderSchema)
    def get(self, po_id: uuid.UUID):
        """One purchase order with its lines"""
        p = require()
        return service.get_visible(p, service.visible_purchase_orders(p), PurchaseOrder, po_id, "purchase order")

    @blp.arguments(PurchaseOrderUpdateSchema)
    @blp.response(200, PurchaseOrderSchema)
    def patch(self, body, po_id: uuid.UUID):
        """Change a purchase order's status, ship date, destination or AQLs"""
        p = require()
        po = service.get_visible(p, service.visible_purchase_orders(p), PurchaseOrder, po_id, "purchase order")
        return service.update_purchase_order(p, po, body)


@blp.route("/batches")
class Batches(MethodView):
    @blp.arguments(BatchQuerySchema, location="query")
    @blp.response(200, BatchSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """Batches (production lots) you may see, filterable by PO and PO line"""
        p = require()
        q = service.visible_batches(p).order_by(Batch.sequence, Batch.code)
        if "po_line_id" in args:
            q = q.where(Batch.po_line_id == args["po_line_id"])
        if "purchase_order_id" in args:
            q = q.where(POLine.purchase_order_id == args["purchase_order_id"])
        return paginate_query(q, pagination_parameters)

    @blp.arguments(BatchSchema)
    @blp.response(201, BatchSchema)
    def post(self, body):
        """Create a batch of a PO line (brand editors and the factory's managers)"""
        return service.create_batch(require(), body)


@blp.route("/batches/<uuid:batch_id>")
class BatchItem(MethodView):
    @blp.response(200, BatchSchema)
    def get(self, batch_id: uuid.UUID):
        """One batch"""
        p = require()
        return service.get_visible(p, service.visible_batches(p), Batch, batch_id, "batch")
