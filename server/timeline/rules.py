"""The timeline's rules for what a phone or the API writes: a factory's daily progress.

Declared once; the progress API (``schemas.py``), the sync planner (``sync.py``) and
``docs/rules.md`` read these.
"""
from __future__ import annotations

from ..fields import FieldSpec

#: A progress report's client-writable fields.
PROGRESS_FIELDS: dict[str, FieldSpec] = {
    "purchase_order_id": FieldSpec("uuid", required=True, ref="purchase_order", create_only=True),
    "po_line_id": FieldSpec("uuid", required=True, ref="po_line", create_only=True,
                            doc="a line of that purchase order"),
    # one day of slack for time zones east of UTC
    "report_date": FieldSpec("date", required=True, max_days_ahead=1),
    "units_produced": FieldSpec("int", required=True, minimum=0, maximum=10_000_000),
    "note": FieldSpec("str", max_len=2000, default=""),
}
#: Who writes progress (create, change, delete), asked about the PO's organisations.
PROGRESS_WRITERS = ("the PO's factory managers and admins (`manage_factory`)",
                    "the PO's brand editors (`edit_brand`)", "platform admins")
