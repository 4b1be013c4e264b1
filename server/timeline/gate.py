"""The release gate of a shipment: what must be true before it may leave. Pure: plain values in and out.

A shipment is released (marked departed) only when nothing on this list is missing, or a brand
editor has waived the item with a reason (``docs/timeline.md``, "Release gate"):

=============================== ============================ ===============================================
item                            subject                      missing when
=============================== ============================ ===============================================
``production_incomplete``       PO line id                   fewer units produced than ordered
``final_inspection_not_passed`` ``batch:<id>``/``line:<id>`` the lot's latest signed-off final inspection
                                                             did not pass (or there is none)
``document_missing``            document kind                a required document has no file
``document_not_approved``       document kind                uploaded, not approved by the brand yet
``document_rejected``           document kind                the brand rejected the file
``packing_list_incomplete``     ``""``                       not marked complete, or not matching the PO
``container_not_booked``        ``""``                       no booking number or no container type
``container_too_small``         ``""``                       the booked containers cannot hold the packing
                                                             list by usable volume or by payload
=============================== ============================ ===============================================
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from .freight import ContainerFit

GATE_ITEMS = ("production_incomplete", "final_inspection_not_passed", "document_missing", "document_not_approved",
              "document_rejected", "packing_list_incomplete", "container_not_booked", "container_too_small")


@dataclass(frozen=True)
class LineState:
    line_id: str
    sku: str
    ordered_units: int
    produced_units: int


@dataclass(frozen=True)
class LotState:
    """A lot to be released: ``verdict`` of its latest signed-off final inspection, None without one."""

    subject: str
    label: str
    verdict: str | None
    inspection_id: str | None = None


@dataclass(frozen=True)
class DocumentState:
    kind: str
    title: str
    required: bool
    status: str
    rejection_reason: str = ""


@dataclass(frozen=True)
class GateInput:
    lines: Sequence[LineState]
    lots: Sequence[LotState]
    documents: Sequence[DocumentState]
    packing_list_complete: bool
    packing_ok: bool
    booking_number: str
    container_type: str
    container_count: int
    fits: Sequence[ContainerFit] = ()


@dataclass(frozen=True)
class GateItem:
    item: str
    subject: str
    message: str
    details: dict = field(default_factory=dict)


def container_shortfall(container_type: str, container_count: int,
                        fits: Sequence[ContainerFit]) -> dict | None:
    """``{needed, booked, needed_by_volume, needed_by_weight}`` when the booked containers are too few.

    None when no container type is booked, it is unknown, or the cargo fits.
    """
    fit = next((f for f in fits if f.code == container_type), None)
    if fit is None or fit.containers_needed <= container_count:
        return None
    return {"container_type": container_type, "booked": container_count, "needed": fit.containers_needed,
            "needed_by_volume": fit.needed_by_volume, "needed_by_weight": fit.needed_by_weight,
            "usable_m3": fit.usable_m3, "payload_kg": fit.payload_kg}


def _production(lines: Sequence[LineState]) -> list[GateItem]:
    out = []
    for line in lines:
        if line.produced_units < line.ordered_units:
            pct = int(100 * line.produced_units / line.ordered_units) if line.ordered_units else 0
            out.append(GateItem("production_incomplete", line.line_id,
                                f"{line.sku}: {line.produced_units} of {line.ordered_units} units produced ({pct} %).",
                                {"sku": line.sku, "produced_units": line.produced_units,
                                 "ordered_units": line.ordered_units}))
    return out


def _lots(lots: Sequence[LotState]) -> list[GateItem]:
    out = []
    for lot in lots:
        if lot.verdict == "pass":
            continue
        what = "has no signed-off final inspection" if lot.verdict is None else \
            f"did not pass its final inspection ({lot.verdict})"
        out.append(GateItem("final_inspection_not_passed", lot.subject, f"{lot.label} {what}.",
                            {"lot": lot.label, "verdict": lot.verdict, "inspection_id": lot.inspection_id}))
    return out


def _documents(docs: Sequence[DocumentState]) -> list[GateItem]:
    out = []
    for d in docs:
        if not d.required or d.status in ("approved", "not_applicable"):
            continue
        if d.status == "rejected":
            out.append(GateItem("document_rejected", d.kind, f"{d.title} was rejected: {d.rejection_reason}",
                                {"title": d.title, "reason": d.rejection_reason}))
        elif d.status == "uploaded":
            out.append(GateItem("document_not_approved", d.kind, f"{d.title} is waiting for the brand's approval.",
                                {"title": d.title}))
        else:
            out.append(GateItem("document_missing", d.kind, f"{d.title} is missing.", {"title": d.title}))
    return out


def gate_items(g: GateInput) -> list[GateItem]:
    """Everything that keeps the shipment from being released, in process order (waivers not applied)."""
    items = _production(g.lines) + _lots(g.lots) + _documents(g.documents)
    if not (g.packing_list_complete and g.packing_ok):
        items.append(GateItem("packing_list_incomplete", "",
                              "The packing list is not marked complete." if g.packing_ok else
                              "The packing list does not match the PO quantities.",
                              {"complete": g.packing_list_complete, "matches_po": g.packing_ok}))
    if not (g.booking_number and g.container_type):
        items.append(GateItem("container_not_booked", "", "No container is booked (booking number and type).", {}))
    else:
        short = container_shortfall(g.container_type, g.container_count, g.fits)
        if short:
            items.append(GateItem("container_too_small", "",
                                  f"The cargo needs {short['needed']} × {g.container_type}; "
                                  f"{g.container_count} booked.", short))
    return items


def split_waived(items: Sequence[GateItem], waived: Mapping[tuple[str, str], object]
                 ) -> tuple[list[GateItem], list[GateItem]]:
    """``(missing, waived)``: items without and with a waiver for their (item, subject)."""
    missing = [i for i in items if (i.item, i.subject) not in waived]
    done = [i for i in items if (i.item, i.subject) in waived]
    return missing, done
