"""Helpers for the timeline tests: principals of the demo users and a PO with a known schedule."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from server.accounts.models import User
from server.auth import Principal
from server.catalog.models import POLine, Product, PurchaseOrder
from server.extensions import db


@pytest.fixture
def principal(demo):
    """``principal("reviewer")`` -> the demo user's :class:`Principal`."""

    def _p(who: str) -> Principal:
        return Principal.of(db.session.get(User, demo(f"user:{who}")))

    return _p


@pytest.fixture
def make_po(demo):
    """A PO of the demo brand and factory with one line; its product has no golden sample."""

    def _make(quantity: int = 10_000, number: str = "PO-T-1", ship: date | None = None,
              destination: str = "Rotterdam, NL") -> PurchaseOrder:
        product = Product(brand_id=demo("org:brand"), sku=f"SKU-{number}", name="Test product")
        db.session.add(product)
        db.session.flush()
        po = PurchaseOrder(brand_id=demo("org:brand"), factory_id=demo("org:factory"), po_number=number,
                           status="in_production", planned_ship_date=ship, destination=destination)
        po.lines.append(POLine(product_id=product.id, quantity=quantity))
        db.session.add(po)
        db.session.commit()
        return po

    return _make


def progress_days(days: int, units: int, end: date) -> list[tuple[date, int]]:
    return [(end - timedelta(days=i), units) for i in range(1, days + 1)]
