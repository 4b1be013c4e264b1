"""Setup data a brand owns: products and their specs, golden samples, POs and batches.

These rows carry :class:`SyncMixin` so phones can pull the parts they may see.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models import IdMixin, SyncMixin, TimestampMixin, UTCDateTime


class Product(SyncMixin, db.Model):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("brand_id", "sku"),)

    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organisations.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40), default="hard_goods")  # apparel | hard_goods | packaging
    description: Mapped[str] = mapped_column(Text, default="")
    # Per-product AQL overrides per defect class, e.g. {"critical": 0, "major": 1.5, "minor": 4.0}
    aql: Mapped[dict | None] = mapped_column(JSON)

    dimension_specs: Mapped[list[DimensionSpec]] = relationship(back_populates="product", lazy="selectin",
                                                                order_by="DimensionSpec.position")
    colour_standards: Mapped[list[ColourStandard]] = relationship(back_populates="product", lazy="selectin",
                                                                  order_by="ColourStandard.name")


class DimensionSpec(SyncMixin, db.Model):
    __tablename__ = "dimension_specs"

    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    nominal_mm: Mapped[float] = mapped_column(Float)
    tolerance_mm: Mapped[float] = mapped_column(Float)
    position: Mapped[int] = mapped_column(Integer, default=0)

    product: Mapped[Product] = relationship(back_populates="dimension_specs")


class ColourStandard(SyncMixin, db.Model):
    """A named colour of the product with its CIELAB (D65) reference and ΔE00 tolerance."""

    __tablename__ = "colour_standards"

    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    lab_l: Mapped[float] = mapped_column(Float)
    lab_a: Mapped[float] = mapped_column(Float)
    lab_b: Mapped[float] = mapped_column(Float)
    delta_e_tolerance: Mapped[float] = mapped_column(Float, default=2.0)

    product: Mapped[Product] = relationship(back_populates="colour_standards")

    @property
    def lab(self) -> list[float]:
        """The reference as ``[L*, a*, b*]`` (CIELAB, D65)."""
        return [self.lab_l, self.lab_a, self.lab_b]

    @lab.setter
    def lab(self, value: list[float]) -> None:
        self.lab_l, self.lab_a, self.lab_b = (float(v) for v in value)


class GoldenSample(SyncMixin, db.Model):
    """The approved pre-production sample of a product: the reference photo analysis compares against.

    Golden samples are versioned: a new approval adds a row with a higher ``version``
    and never rewrites an earlier one, so past analyses keep their reference.
    """

    __tablename__ = "golden_samples"
    __table_args__ = (UniqueConstraint("product_id", "version"),)

    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default="approved")  # pending | approved | rejected | superseded
    approved_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Measured values: {"lab": [L, a, b], "length_mm": .., "width_mm": .., "dimensions": {name: mm}}
    measured: Mapped[dict] = mapped_column(JSON, default=dict)
    # Storage keys of reference photos
    reference_photos: Mapped[list] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")

    product: Mapped[Product] = relationship(lazy="joined")


class PurchaseOrder(SyncMixin, db.Model):
    __tablename__ = "purchase_orders"
    __table_args__ = (UniqueConstraint("brand_id", "po_number"),)

    brand_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organisations.id"), index=True)
    factory_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organisations.id"), index=True)
    po_number: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(30), default="open")
    planned_ship_date: Mapped[date | None] = mapped_column(Date)
    destination: Mapped[str] = mapped_column(String(80), default="")
    aql: Mapped[dict | None] = mapped_column(JSON)

    lines: Mapped[list[POLine]] = relationship(back_populates="purchase_order", lazy="selectin",
                                               order_by="POLine.position")


class POLine(SyncMixin, db.Model):
    __tablename__ = "po_lines"

    purchase_order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("purchase_orders.id", ondelete="CASCADE"),
                                                         index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)

    purchase_order: Mapped[PurchaseOrder] = relationship(back_populates="lines")
    product: Mapped[Product] = relationship(lazy="joined")


class Batch(SyncMixin, db.Model):
    """A production lot of one PO line."""

    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("po_line_id", "code"),)

    po_line_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("po_lines.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    lot_size: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(Integer, default=1)

    po_line: Mapped[POLine] = relationship(lazy="joined")


class GoldenSamplePin(IdMixin, TimestampMixin, db.Model):
    """The golden-sample version a PO line is produced and inspected against.

    A new approval never moves another PO's reference: before a version is superseded, every
    unpinned line of the product is pinned to it (see ``service.keep_current_references``), and
    a PO takes a newer version only when it chooses it (or approved it itself).
    """

    __tablename__ = "po_line_golden_samples"

    po_line_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("po_lines.id", ondelete="CASCADE"), unique=True)
    golden_sample_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("golden_samples.id"))
    pinned_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")
