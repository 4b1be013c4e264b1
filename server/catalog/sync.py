"""The catalog's part in sync: products, their specs, purchase orders and lots, pulled by phones (never pushed)."""
from __future__ import annotations

from ..sync import registry
from ..sync.registry import Entity
from .models import Batch, ColourStandard, DimensionSpec, GoldenSample, POLine, Product, PurchaseOrder


def register() -> None:
    """Register the catalog's pull-only entities with sync (at start-up)."""
    registry.register(Entity("product", Product, purge=False), Entity("dimension_spec", DimensionSpec),
                      Entity("colour_standard", ColourStandard), Entity("golden_sample", GoldenSample),
                      Entity("purchase_order", PurchaseOrder, purge=False), Entity("po_line", POLine),
                      Entity("batch", Batch))
