"""Freight readiness: packing-list checks against the PO, totals, container fit, document checklist.

Pure: plain values in, small dataclasses out.

Container figures are typical ISO dry-container internal volumes and maximum payloads; real
boxes vary by a few percent between owners. Cartons never fill a box completely (pallets,
dunnage, the door swing, carton sizes that do not tile), so only ``USABLE_VOLUME_FACTOR``
(85 %) of the internal volume is counted as usable. The fit is the number of boxes needed by
volume and by payload; the larger of the two is what must be booked.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Mapping, Sequence

from .forecast import AlertSpec

USABLE_VOLUME_FACTOR = 0.85


@dataclass(frozen=True)
class ContainerType:
    code: str
    name: str
    internal_m3: float
    payload_kg: float


CONTAINERS = (
    ContainerType("20GP", "20' standard", 33.2, 28_200.0),
    ContainerType("40GP", "40' standard", 67.7, 26_700.0),
    ContainerType("40HC", "40' high cube", 76.4, 26_500.0),
)

# The checklist every export shipment starts with; destinations add their own (see below).
BASE_DOCUMENTS = (
    ("commercial_invoice", "Commercial invoice"),
    ("packing_list", "Packing list"),
    ("certificate_of_origin", "Certificate of origin"),
    ("bill_of_lading", "Bill of lading"),
)
# Extra documents by destination country (ISO 3166 alpha-2, the last token of the PO destination).
EU = {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT",
      "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"}
DESTINATION_DOCUMENTS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "US": (("isf_filing", "ISF (10+2) filing"), ("cpsia_certificate", "Children's product / CPSIA certificate")),
    "EU": (("eu_declaration_of_conformity", "EU declaration of conformity"), ("reach_statement", "REACH statement")),
    "GB": (("uk_declaration_of_conformity", "UK declaration of conformity"),),
    "AU": (("fumigation_certificate", "Fumigation / packing declaration"),),
}


def destination_country(destination: str) -> str:
    """``"Rotterdam, NL"`` -> ``"NL"``; an empty string when the destination names no country code."""
    last = destination.replace(",", " ").split()[-1:] if destination else []
    code = last[0].upper() if last else ""
    return code if len(code) == 2 and code.isalpha() else ""


def checklist_for(destination: str) -> list[tuple[str, str]]:
    """The export documents a shipment to ``destination`` needs: the base list plus the country's."""
    country = destination_country(destination)
    extra = DESTINATION_DOCUMENTS.get(country) or (DESTINATION_DOCUMENTS["EU"] if country in EU else ())
    return list(BASE_DOCUMENTS) + list(extra)


@dataclass(frozen=True)
class CartonRow:
    """``carton_count`` identical cartons; ``contents`` maps a PO line key to units in ONE carton."""

    carton_count: int
    contents: Mapping[str, int]
    length_cm: float
    width_cm: float
    height_cm: float
    gross_kg: float


@dataclass(frozen=True)
class LineCheck:
    line: str
    ordered_units: int
    packed_units: int

    @property
    def difference(self) -> int:
        """Packed minus ordered: negative = short, positive = over."""
        return self.packed_units - self.ordered_units

    @property
    def status(self) -> str:
        return "ok" if self.difference == 0 else ("short" if self.difference < 0 else "over")


@dataclass(frozen=True)
class ContainerFit:
    code: str
    name: str
    usable_m3: float
    payload_kg: float
    needed_by_volume: int
    needed_by_weight: int

    @property
    def containers_needed(self) -> int:
        return max(self.needed_by_volume, self.needed_by_weight)


@dataclass(frozen=True)
class PackingCheck:
    lines: tuple[LineCheck, ...]
    mixed_carton_rows: tuple[int, ...]
    unknown_lines: tuple[str, ...]
    total_cartons: int
    total_units: int
    total_volume_m3: float
    total_gross_kg: float
    fits: tuple[ContainerFit, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """Every line packed exactly, nothing unknown packed. Mixed cartons are flagged, not errors."""
        return all(c.status == "ok" for c in self.lines) and not self.unknown_lines

    @property
    def best_fit(self) -> ContainerFit | None:
        """The fewest containers; among equals the smallest box."""
        return min(self.fits, key=lambda f: (f.containers_needed, f.usable_m3)) if self.fits else None


def carton_volume_m3(length_cm: float, width_cm: float, height_cm: float) -> float:
    """Outer volume of one carton in cubic metres."""
    return length_cm * width_cm * height_cm / 1_000_000.0


def container_fit(volume_m3: float, gross_kg: float) -> tuple[ContainerFit, ...]:
    """How many of each container type the cargo needs, by usable volume and by payload."""
    fits = []
    for c in CONTAINERS:
        usable = c.internal_m3 * USABLE_VOLUME_FACTOR
        fits.append(ContainerFit(c.code, c.name, round(usable, 2), c.payload_kg,
                                 math.ceil(round(volume_m3 / usable, 9)) if volume_m3 > 0 else 0,
                                 math.ceil(round(gross_kg / c.payload_kg, 9)) if gross_kg > 0 else 0))
    return tuple(fits)


def check_packing_list(ordered: Mapping[str, int], rows: Sequence[CartonRow]) -> PackingCheck:
    """Compare packed units with ordered units per line; total cartons, units, volume and weight."""
    packed: dict[str, int] = {k: 0 for k in ordered}
    unknown: list[str] = []
    mixed: list[int] = []
    cartons = units = 0
    volume = weight = 0.0
    for i, row in enumerate(rows):
        cartons += row.carton_count
        volume += row.carton_count * carton_volume_m3(row.length_cm, row.width_cm, row.height_cm)
        weight += row.carton_count * row.gross_kg
        if len([k for k, n in row.contents.items() if n > 0]) > 1:
            mixed.append(i)
        for key, n in row.contents.items():
            units += row.carton_count * n
            if key in packed:
                packed[key] += row.carton_count * n
            elif key not in unknown:
                unknown.append(key)
    checks = tuple(LineCheck(k, ordered[k], packed[k]) for k in ordered)
    return PackingCheck(checks, tuple(mixed), tuple(unknown), cartons, units, round(volume, 4), round(weight, 2),
                        container_fit(volume, weight))


def freight_alerts(today: date, cargo_cutoff: date | None, *, packing_list_complete: bool,
                   packing_ok: bool, missing_documents: Sequence[str], warn_days: int = 7,
                   shipment: str = "") -> list[AlertSpec]:
    """Alerts for a shipment close to its cut-off: an incomplete packing list, missing documents.

    "Close" means within ``warn_days`` calendar days of the cut-off (or past it).
    """
    if cargo_cutoff is None or (cargo_cutoff - today).days > warn_days:
        return []
    days = (cargo_cutoff - today).days
    severity = "critical" if days <= 2 else "high"
    when = f"cut-off {cargo_cutoff.isoformat()} ({days} day(s))" if days >= 0 else \
        f"cut-off {cargo_cutoff.isoformat()} has passed"
    out = []
    if not packing_list_complete or not packing_ok:
        what = "not marked complete" if not packing_list_complete else "does not match the PO quantities"
        out.append(AlertSpec("freight_packing_list", f"shipment:{shipment}", severity,
                             f"Packing list of shipment {shipment} is {what}; {when}.",
                             {"shipment": shipment, "cargo_cutoff": cargo_cutoff.isoformat(), "days_left": days}))
    if missing_documents:
        out.append(AlertSpec("freight_documents", f"shipment:{shipment}", severity,
                             f"Missing export documents for shipment {shipment}: {', '.join(missing_documents)}; "
                             f"{when}.",
                             {"shipment": shipment, "missing": list(missing_documents),
                              "cargo_cutoff": cargo_cutoff.isoformat(), "days_left": days}))
    return out


def container_alerts(container_type: str, container_count: int, fits: Sequence[ContainerFit],
                     shipment: str = "") -> list[AlertSpec]:
    """A ``freight_container`` alert when the booked containers cannot hold the packing list.

    Raised as soon as it is known (not only near the cut-off): re-booking takes days.
    """
    fit = next((f for f in fits if f.code == container_type), None)
    if fit is None or fit.containers_needed <= container_count:
        return []
    by = [w for w, n in (("volume", fit.needed_by_volume), ("weight", fit.needed_by_weight)) if n > container_count]
    return [AlertSpec("freight_container", f"shipment:{shipment}", "high",
                      f"Shipment {shipment}: the cargo needs {fit.containers_needed} × {container_type} "
                      f"(by {' and '.join(by)}); {container_count} booked.",
                      {"shipment": shipment, "container_type": container_type, "booked": container_count,
                       "needed": fit.containers_needed, "needed_by_volume": fit.needed_by_volume,
                       "needed_by_weight": fit.needed_by_weight})]
