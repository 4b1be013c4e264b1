"""The inspections' rulebook: every rule about writing an inspection and its rows, declared once.

* :data:`FIELDS` — each client-writable field of each entity: type, limits, default. The
  sync planner cleans pushed values with them, the API's marshmallow schemas are built from
  them (``schemas.py``), and ``docs/rules.md`` prints them.
* :data:`TRANSITIONS` — the status moves an inspection may make; :func:`check_transition`.
* :data:`WRITES` — who may create, change or delete which record, while the inspection is
  open and once it is frozen (:data:`FROZEN_STATUSES`); :func:`check_write`.
* :func:`may_see` — whose inspection it is to see at all (else "not found").

The API's service functions (``server/inspect/rows.py``, ``lifecycle.py``) and the sync
planner (through ``server/inspect/sync.py``) both call these; neither restates them. Plain
code: no Flask request, no database. The inspection is read through :class:`InspectionState`,
which works over an ORM row or over the dict a sync batch holds — so inside one push each
mutation is judged against the state the earlier mutations left.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..auth import Action, Principal
from ..errors import Forbidden, ValidationFailed
from ..fields import FieldSpec
from .models import DEFECT_CLASSES

# -- statuses -------------------------------------------------------------------------------

#: Every status an inspection can be in.
STATUSES = ("assigned", "in_progress", "submitted", "signed_off", "cancelled")
#: Statuses a phone (or the inspector through the API) may set. ``cancelled`` is the office's.
PHONE_STATUSES = ("assigned", "in_progress", "submitted", "signed_off")
#: Statuses in which the inspector declares the whole sample inspected.
COMPLETE_STATUSES = ("submitted", "signed_off")
#: Final statuses: the inspection is frozen; only what :data:`WRITES` lists as ``frozen`` still arrives.
FROZEN_STATUSES = ("signed_off", "cancelled")
#: Status moves (phone or API). ``signed_off`` and ``cancelled`` are final.
TRANSITIONS: dict[str, frozenset[str]] = {
    "assigned": frozenset({"in_progress", "submitted", "signed_off"}),
    "in_progress": frozenset({"submitted", "signed_off"}),
    "submitted": frozenset({"in_progress", "signed_off"}),
    "signed_off": frozenset(),
    "cancelled": frozenset(),
}

# -- fields ---------------------------------------------------------------------------------

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
NOTE = FieldSpec("str", max_len=10_000, default="")
UNIT_INDEX = FieldSpec("int", nullable=True, minimum=0, maximum=100_000, default=None,
                       doc="which sampled unit (0-based)")
INSPECTION_REF = FieldSpec("uuid", required=True, ref="inspection", create_only=True)

FIELDS: dict[str, dict[str, FieldSpec]] = {
    "inspection": {
        "status": FieldSpec("str", max_len=20, choices=PHONE_STATUSES, doc="moves as TRANSITIONS allow"),
        "started_at": FieldSpec("datetime", nullable=True, doc="set when it leaves `assigned`, if not given"),
        "notes": NOTE,
        "lot_size": FieldSpec("int", nullable=True, minimum=2, maximum=10_000_000),
        "signature": FieldSpec("json", nullable=True, max_len=200_000,
                               doc="only with status `signed_off`: name, signed_at, pad width and height, strokes"),
    },
    "response": {
        "inspection_id": INSPECTION_REF,
        "item_key": FieldSpec("str", required=True, min_len=1, max_len=80,
                              doc="an item of the inspection's checklist version"),
        "unit_index": UNIT_INDEX,
        "value": FieldSpec("json", nullable=True, max_len=20_000, default=None,
                           doc="of the item's kind (yes/no/na, number with unit, choice, text, photo ids, count)"),
        "passed": FieldSpec("bool", nullable=True, derived=True, doc="worked out from the value; what is sent is ignored"),
        "note": NOTE,
    },
    "measurement": {
        "inspection_id": INSPECTION_REF,
        "dimension_spec_id": FieldSpec("uuid", required=True, ref="dimension_spec",
                                       doc="a dimension of the inspection's product"),
        "unit_index": FieldSpec("int", required=True, minimum=0, maximum=100_000),
        "value_entered": FieldSpec("float", required=True, minimum=-1e9, maximum=1e9),
        "unit_entered": FieldSpec("str", min_len=1, max_len=8, default="mm", doc="a length unit: mm, cm or in"),
        "source": FieldSpec("str", max_len=10, choices=("manual", "photo"), default="manual"),
        "photo_id": FieldSpec("uuid", nullable=True, ref="photo", default=None),
    },
    "defect": {
        "inspection_id": INSPECTION_REF,
        "code": FieldSpec("str", required=True, min_len=1, max_len=60),
        "defect_class": FieldSpec("str", nullable=True, max_len=10, choices=DEFECT_CLASSES, derived=True,
                                  doc="default: the defect library's class for the code (required when not in it)"),
        "count": FieldSpec("int", minimum=1, maximum=100_000, default=1),
        "unit_index": UNIT_INDEX,
        "note": NOTE,
    },
    "photo": {
        "inspection_id": INSPECTION_REF,
        "item_key": FieldSpec("str", nullable=True, max_len=80, doc="an item of the checklist version"),
        "defect_id": FieldSpec("uuid", nullable=True, ref="defect"),
        "unit_index": UNIT_INDEX,
        # The bytes are content-addressed: what was declared never changes (a retake is a new photo).
        "sha256": FieldSpec("str", required=True, max_len=64, pattern=_HEX64, create_only=True),
        "size_bytes": FieldSpec("int", required=True, minimum=1, maximum=2 ** 31 - 1, create_only=True),
        "content_type": FieldSpec("str", required=True, min_len=1, max_len=40, create_only=True),
        "taken_at": FieldSpec("datetime", nullable=True, doc="data only: never used for ordering"),
        "location": FieldSpec("json", nullable=True, max_len=2_000),
        "flagged_by_inspector": FieldSpec("bool"),
        "sequence": FieldSpec("int", nullable=True, minimum=0, maximum=1_000_000),
    },
    "comment": {
        "inspection_id": INSPECTION_REF,
        "photo_id": FieldSpec("uuid", nullable=True, ref="photo"),
        "body": FieldSpec("str", required=True, min_len=1, max_len=10_000, doc="not only spaces"),
    },
    "decision": {
        "inspection_id": INSPECTION_REF,
        "photo_id": FieldSpec("uuid", required=True, ref="photo", create_only=True),
        "decision": FieldSpec("str", required=True, max_len=10, choices=("accept", "reject", "retake")),
        "comment": FieldSpec("str", max_len=10_000),
        "resolved": FieldSpec("bool"),
    },
}
#: Fields the server sets on create from the writer: entity -> {column: what}.
SET_BY_SERVER = {"comment": {"author_id": "the writer"}, "decision": {"reviewer_id": "the writer"}}

# -- who may write ----------------------------------------------------------------------------

#: The relations a user can have to one inspection (platform admins may do everything the
#: table allows anyone, and nothing in a frozen inspection that the table does not list).
INSPECTOR = "assigned inspector"
FACTORY_LEAD = "factory manager"
BRAND_EDITOR = "brand editor"
PLATFORM_ADMIN = "platform admin"
RELATION_DOCS = {
    INSPECTOR: "the inspector assigned to the inspection, while a member of its factory",
    FACTORY_LEAD: "an admin or manager of the PO's factory (`manage_factory` there)",
    BRAND_EDITOR: "an admin or reviewer of the PO's brand (`edit_brand` there)",
    PLATFORM_ADMIN: "a platform administrator",
}
ROW_WRITERS = frozenset({INSPECTOR, FACTORY_LEAD, PLATFORM_ADMIN})
REVIEWERS = frozenset({BRAND_EDITOR, PLATFORM_ADMIN})


@dataclass(frozen=True)
class WriteRule:
    """Who may do one operation on one entity: while the inspection is open, and once it is frozen.

    ``author_only``: on an existing row, only its author (:data:`AUTHOR_FIELD`) may, platform
    admins aside. ``only`` limits a relation to some fields, on rows whose ``column`` holds ``value``:
    ``{relation: (fields, column, value)}``.
    """

    open: frozenset[str]
    frozen: frozenset[str] = frozenset()
    author_only: bool = False
    only: Mapping[str, tuple[frozenset[str], str, Any]] = field(default_factory=dict)
    note: str = ""


_NOBODY = frozenset()
WRITES: dict[str, dict[str, WriteRule]] = {
    "inspection": {
        "create": WriteRule(_NOBODY, note="the office creates and assigns inspections (API, brand editors)"),
        "update": WriteRule(ROW_WRITERS, note="only the assigned inspector (or a platform admin) signs off"),
        "delete": WriteRule(_NOBODY, note="the office cancels; nothing deletes an inspection"),
        "assign": WriteRule(REVIEWERS, note="the office (API): assign, reschedule, lot size, level, cancel"),
    },
    **{name: {op: WriteRule(ROW_WRITERS) for op in ("create", "update", "delete")}
       for name in ("response", "measurement", "defect")},
    "photo": {
        # Uploads trail on bad Wi-Fi: photo metadata still arrives after the sign-off (never a delete).
        "create": WriteRule(ROW_WRITERS, frozen=ROW_WRITERS, note="still accepted once signed off"),
        "update": WriteRule(ROW_WRITERS, frozen=ROW_WRITERS, note="still accepted once signed off"),
        "delete": WriteRule(ROW_WRITERS),
    },
    "comment": {
        "create": WriteRule(frozenset({INSPECTOR, BRAND_EDITOR, PLATFORM_ADMIN}), frozen=REVIEWERS),
        "update": WriteRule(frozenset({INSPECTOR, BRAND_EDITOR, PLATFORM_ADMIN}), frozen=REVIEWERS,
                            author_only=True),
        "delete": WriteRule(frozenset({INSPECTOR, BRAND_EDITOR, PLATFORM_ADMIN}), frozen=REVIEWERS,
                            author_only=True),
    },
    "decision": {
        "create": WriteRule(REVIEWERS, frozen=REVIEWERS),
        "update": WriteRule(REVIEWERS | {INSPECTOR}, frozen=REVIEWERS,
                            only={INSPECTOR: (frozenset({"resolved"}), "decision", "retake")},
                            note="the assigned inspector only marks a `retake` resolved"),
        "delete": WriteRule(REVIEWERS, frozen=REVIEWERS),
    },
}
AUTHOR_FIELD = {"comment": "author_id", "decision": "reviewer_id"}


class Frozen(ValidationFailed):
    """A write to a signed-off or cancelled inspection that the rules do not let through (sync: ``signed_off``)."""

    sync_reason = "signed_off"


class InspectionState:
    """What the rules read of one inspection: its row (an ORM object or a dict of its columns) and
    its PO's brand and factory. Reads go to the row each time, so a sync batch's in-memory row,
    updated by each applied mutation, is always what the next mutation is judged against."""

    __slots__ = ("row", "brand_id", "factory_id")

    def __init__(self, row: Any, brand_id: uuid.UUID | None, factory_id: uuid.UUID | None) -> None:
        self.row, self.brand_id, self.factory_id = row, brand_id, factory_id

    def __getattr__(self, name: str) -> Any:
        row = object.__getattribute__(self, "row")
        if isinstance(row, dict):
            try:
                return row[name]
            except KeyError:
                raise AttributeError(name) from None
        return getattr(row, name)


def relations(p: Principal, insp: InspectionState) -> frozenset[str]:
    """How ``p`` stands to ``insp`` (a set of the relation names above), asked per organisation."""
    out = set()
    if p.is_platform_admin:
        out.add(PLATFORM_ADMIN)
    if insp.inspector_id == p.id and (insp.factory_id in p.orgs_where(Action.inspect)
                                       or insp.factory_id in p.orgs_where(Action.manage_factory)):
        out.add(INSPECTOR)
    if insp.factory_id in p.orgs_where(Action.manage_factory):
        out.add(FACTORY_LEAD)
    if insp.brand_id in p.orgs_where(Action.edit_brand):
        out.add(BRAND_EDITOR)
    return frozenset(out)


def may_see(p: Principal, insp: InspectionState) -> bool:
    """The brand's members, the factory's managers, platform admins, and the assigned inspector see it."""
    return p.sees_whole_po(insp.brand_id, insp.factory_id) or insp.inspector_id == p.id


def check_write(p: Principal, entity: str, op: str, insp: InspectionState, row: Any = None,
                fields: Mapping[str, Any] | None = None) -> None:
    """May ``p`` do ``op`` (create, update or delete) on ``entity`` of ``insp`` now?

    ``row`` is the existing record (a dict or an object; None on create), ``fields`` the
    fields sent. Raises :class:`Frozen` when the inspection is signed off or cancelled and
    ``p`` is not one of those the rule lets write then, ``Forbidden`` when ``p`` is not one
    of those the rule lists (or a row condition fails).
    """
    rule = WRITES[entity][op]
    mine = relations(p, insp)
    if insp.status in FROZEN_STATUSES:
        granted = mine & rule.frozen
        if not granted:
            state = insp.status.replace("_", " ")
            raise Frozen(f"This inspection is {state}; it cannot change any more.",
                         errors={"inspection_id": [f"The inspection is {state}; it can no longer change."]})
    else:
        granted = mine & rule.open
        if not granted:
            raise Forbidden(_refusal(entity, op))
    if PLATFORM_ADMIN in granted:
        return
    if rule.author_only and row is not None and _get(row, AUTHOR_FIELD[entity]) != p.id:
        raise Forbidden(f"Only the author may change or delete a {entity}.")
    limited = [r for r in granted if r in rule.only]
    if limited and len(limited) == len(granted):
        names, column, value = rule.only[limited[0]]
        sent = set(fields or {}) - {"id", "inspection_id", "photo_id"}
        if not sent <= names or row is None or _get(row, column) != value:
            raise Forbidden(rule.note or _refusal(entity, op))


def _refusal(entity: str, op: str) -> str:
    if (entity, op) == ("inspection", "assign"):
        return "Only the brand's admins and reviewers may do this."
    if entity == "inspection":
        return "Only the assigned inspector and the factory's managers change an inspection on the floor."
    if entity in ("comment", "decision"):
        return f"Your role may not {op} this {entity}."
    return "Only the assigned inspector and the factory's managers write inspection rows."


def _get(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, dict) else getattr(row, name, None)


def analysis_updates_measurements(insp: Any) -> bool:
    """Photo analysis writes its length/width measurements (and the verdict follows) only while the
    inspection is not frozen; afterwards the analysis stays on the photo alone."""
    return insp.status not in FROZEN_STATUSES


def check_transition(p: Principal, insp: InspectionState, status: str) -> None:
    """May ``insp`` move to ``status`` now, by ``p``? Raises ``ValidationFailed`` or ``Forbidden``."""
    if status not in TRANSITIONS.get(insp.status, frozenset()):
        raise ValidationFailed(errors={"status": [f"Cannot go from {insp.status} to {status}."]})
    if status == "signed_off" and not ({INSPECTOR, PLATFORM_ADMIN} & relations(p, insp)):
        raise Forbidden("Only the assigned inspector signs off.")


# -- the rules page (docs/rules.md) ---------------------------------------------------------------

def _who(relations_: frozenset[str]) -> str:
    return ", ".join(sorted(relations_)) if relations_ else "nobody"


def describe_domain() -> list[str]:
    """Markdown for the inspections' part of ``docs/rules.md``: relations, statuses, moves, the freeze."""
    lines = ["# Inspections (`server/inspect/rules.py`)", "",
             "Who a user is to an inspection, asked about the inspection's PO's brand and factory:", ""]
    lines += [f"- **{name}**: {doc}" for name, doc in RELATION_DOCS.items()]
    lines += ["", "Seeing an inspection at all (else `not_found` / 404): the brand's members, the factory's "
              "managers, platform admins, and the assigned inspector.", "",
              "Status moves (phone or API; `cancelled` is set by the office only):", "",
              "| from | to |", "|---|---|"]
    lines += [f"| `{a}` | {', '.join(f'`{b}`' for b in sorted(to)) or 'final'} |" for a, to in TRANSITIONS.items()]
    lines += ["", f"Only the {INSPECTOR} (or a {PLATFORM_ADMIN}) signs off. Leaving `assigned` sets `started_at` "
              "when not given; signing off sets `signed_off_at`.", "",
              f"Frozen statuses: {', '.join(f'`{x}`' for x in FROZEN_STATUSES)}. A frozen inspection accepts only "
              "what the tables below list under *frozen* (answered `signed_off`, API 422, otherwise); photo "
              "analysis no longer changes its measurements.", ""]
    return lines


def describe(entity: str) -> list[str]:
    """Markdown: who may create, change and delete ``entity``, while open and once frozen."""
    lines = ["| operation | while open | once frozen | note |", "|---|---|---|---|"]
    for op, rule in WRITES[entity].items():
        note = rule.note
        if rule.author_only:
            note = (note + "; " if note else "") + "only the author, platform admins aside"
        lines.append(f"| {op} | {_who(rule.open)} | {_who(rule.frozen)} | {note} |")
    return lines + [""]
