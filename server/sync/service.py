"""The sync protocol's rules: push (mutations in, exactly once, merged); pull is in :mod:`server.sync.pull`.

Push
    The batch takes the revision counter's lock first (``SELECT ... FOR UPDATE`` on
    PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), then loads in one
    query each the mutation ids already seen, the rows the batch touches, their inspections
    and the rows they reference. Every mutation is then planned in memory, in order:
    validated, permission-checked, merged against the row's per-field revisions, and
    recorded (applied / conflict / rejected) with its result. The planned writes go out
    with one bulk insert or ``executemany`` per table and kind (:mod:`server.sync.bulk`),
    the counter moves once, and the whole batch commits in one transaction together with
    the mutation log. The log is the audit trail itself: each mutation leaves one
    :class:`~server.sync.models.AuditEvent` holding what it changed, its id and its answer. If the database
    refuses the bulk write (a constraint nobody foresaw), the batch is replayed one
    mutation at a time, each in its own SAVEPOINT, so one bad row is rejected alone.

Merge
    ``field_revs`` on each synced row maps field -> ``[rev, client_id]``. A field the
    phone sends that the server changed after the phone's ``base_rev`` (by another client
    or by the server itself) is a conflict: the later-arriving write wins and the loser is
    kept as a :class:`~server.sync.models.ConflictRecord`. A delete beats an edit: an edit
    of a tombstone is logged as lost, and a delete logs the other side's unseen edits.
    Phone clocks play no part.

Pull
    Lives in :mod:`server.sync.pull`.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import re
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Iterable

from flask import current_app
from sqlalchemy import delete as sa_delete
from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.exc import DataError, IntegrityError

from ..audit import audit_event
from ..auth import Action, Principal
from ..catalog.models import PurchaseOrder
from ..errors import LinesideError, NotFound, PayloadTooLarge, ProtocolOutdated
from ..extensions import db
from ..inspect.models import Inspection
from ..jsontext import jsonable
from ..models import utcnow
from .bulk import insert_rows
from .entities import ENTITIES, INSPECTION_ROWS, Entity, entity, parse_uuid
from .ids import any_of as _any_of
from .models import AuditEvent, ConflictRecord, SyncCounter
from .pull import _scope, serialise_change

PROTOCOL_VERSION = 1


# -- helpers -------------------------------------------------------------------------------

class Rejected(Exception):
    """A mutation that can never succeed: recorded as rejected with its reason."""

    def __init__(self, reason: str, detail: str, errors: dict | None = None) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.errors = reason, detail, errors


# -- push ------------------------------------------------------------------------------------

def check_envelope(body: dict[str, Any]) -> None:
    """Refuse a batch before reading it: unknown protocol (409) or too many mutations (413).

    Raises ``ProtocolOutdated`` or ``PayloadTooLarge``.
    """
    if body.get("protocol") != PROTOCOL_VERSION:
        raise ProtocolOutdated(f"This server speaks sync protocol {PROTOCOL_VERSION}; update the app and retry.",
                               protocol=PROTOCOL_VERSION)
    limit = current_app.config["SYNC_PUSH_MAX_MUTATIONS"]
    mutations = body.get("mutations")
    if not isinstance(mutations, list):  # a string's length is no batch size: the schema answers 422
        return
    if len(mutations) > limit:
        raise PayloadTooLarge(f"At most {limit} mutations per push; split the batch.", max_mutations=limit)


@dataclass
class _Plan:
    """Writes planned for one mutation (so a failed bulk write can be replayed one by one)."""

    inserts: list[tuple[Any, dict]] = field(default_factory=list)
    updates: list[tuple[Any, dict]] = field(default_factory=list)
    event: dict | None = None  # the audit event, which is also the mutation's log entry
    conflicts: list[dict] = field(default_factory=list)


class _Batch:
    """One push: the preloaded state and the planned writes."""

    def __init__(self, principal: Principal, client_id: uuid.UUID, mutations: list[dict],
                 text_checked: bool = False) -> None:
        self.p = principal
        self.text_checked = text_checked  # the caller saw no escape that could make unstorable text
        self.client_id = client_id
        self.mutations = mutations
        self.rows: dict[tuple[str, uuid.UUID], dict] = {}
        self.inspections: dict[uuid.UUID, Inspection] = {}
        self.pos: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID]] = {}  # po id -> (brand, factory)
        self.specs: dict[uuid.UUID, dict] = {}
        self.seen: dict[uuid.UUID, dict] = {}
        self.rev = 0
        self.now = utcnow()  # one server time per batch; phone clocks are never used
        self.touched_inspections: set[uuid.UUID] = set()
        self.touched_pos: set[uuid.UUID] = set()  # POs whose progress changed: their alerts follow
        self.visible_pos: dict[uuid.UUID, bool] = {}
        self.prepare = _hook("prepare_sync_fields")

    # -- loading --
    def load(self) -> None:
        """Load everything the batch needs with one query per table."""
        s = db.session
        ids_by_entity: dict[str, set[uuid.UUID]] = defaultdict(set)
        mids = []
        insp_ids: set[uuid.UUID] = set()
        self.keys: list[tuple[uuid.UUID | None, Entity | None, uuid.UUID | None]] = []
        for m in self.mutations:
            if not isinstance(m, dict):
                self.keys.append((None, None, None))
                continue
            mid, ent, rid = _uuid(m.get("mutation_id")), entity(m.get("entity")), _uuid(m.get("id"))
            self.keys.append((mid, ent, rid))
            if mid:
                mids.append(mid)
            if ent is None or rid is None:
                continue
            ids_by_entity[ent.name].add(rid)
            f = m.get("fields") if isinstance(m.get("fields"), dict) else {}
            for fname, spec in ent.fields.items():
                if spec.ref and fname in f:
                    ref_id = _uuid(f[fname])
                    if ref_id:
                        ids_by_entity[spec.ref].add(ref_id)
        # Mutation ids already recorded: this user's answer ``duplicate``; another user's id is refused.
        self.foreign: set[uuid.UUID] = set()
        for chunk in _chunks(mids):
            # A pushed mutation's event has the mutation's id as its own.
            for mid, logged_as, user_id, result in s.execute(
                    select(AuditEvent.id, AuditEvent.mutation_id, AuditEvent.user_id, AuditEvent.result)
                    .where(_any_of(AuditEvent.id, chunk))):
                if user_id == self.p.id and logged_as == mid and result is not None:
                    self.seen[mid] = result
                else:
                    self.foreign.add(mid)
        for name, ids in ids_by_entity.items():
            if name == "inspection":
                insp_ids |= ids
                continue
            e = ENTITIES[name]
            for chunk in _chunks(list(ids)):
                for row in s.execute(select(e.table).where(_any_of(e.table.c.id, chunk))).mappings():
                    self.rows[(name, row["id"])] = dict(row)
                    if "inspection_id" in row and row["inspection_id"]:
                        insp_ids.add(row["inspection_id"])
        # Progress reports hang off a PO, not an inspection: load the POs of existing ones too.
        po_table = ENTITIES["purchase_order"].table
        progress_pos = {r["purchase_order_id"] for (n, _), r in self.rows.items() if n == "progress"}
        progress_pos -= {i for (n, i) in self.rows if n == "purchase_order"}
        for chunk in _chunks(list(progress_pos)):
            for row in s.execute(select(po_table).where(po_table.c.id.in_(chunk))).mappings():
                self.rows[("purchase_order", row["id"])] = dict(row)
        # The inspections with their PO's brand and factory, in one query (as ORM objects too when the
        # inspections package checks fields: it reads them).
        table = Inspection.__table__
        columns = [c.key for c in table.c]
        self.orm_inspections: dict[uuid.UUID, Inspection] = {}
        owners = (PurchaseOrder.brand_id, PurchaseOrder.factory_id)
        for chunk in _chunks(list(insp_ids)):
            if self.prepare is not None:
                q = (select(Inspection, *owners).join(PurchaseOrder, PurchaseOrder.id == Inspection.purchase_order_id)
                     .where(Inspection.id.in_(chunk)))
                for insp, brand, factory in s.execute(q):
                    self.orm_inspections[insp.id] = insp
                    self.rows[("inspection", insp.id)] = {k: getattr(insp, k) for k in columns}
                    self.pos[insp.purchase_order_id] = (brand, factory)
                continue
            q = (select(table, *owners).join(PurchaseOrder, PurchaseOrder.id == table.c.purchase_order_id)
                 .where(table.c.id.in_(chunk)))
            for row in s.execute(q).mappings():
                self.rows[("inspection", row["id"])] = {k: row[k] for k in columns}
                self.pos[row["purchase_order_id"]] = (row["brand_id"], row["factory_id"])

    # -- planning --
    def plan(self, index: int) -> tuple[dict, _Plan | None]:
        """Plan mutation ``index`` of the batch: its result and its writes. Never raises for bad input."""
        m = self.mutations[index]
        mid, ent, rid = self.keys[index]
        if mid is None:
            # Without an id it cannot be recorded or replayed; answer it, write nothing.
            return {"mutation_id": m.get("mutation_id") if isinstance(m, dict) else None, "status": "rejected",
                    "rev": None, "reason": "invalid", "detail": "mutation_id must be a UUID.",
                    "errors": {"mutation_id": ["Not a valid UUID."]}}, None
        if mid in self.seen:
            return {**self.seen[mid], "status": "duplicate", "original_status": self.seen[mid]["status"]}, None
        if mid in self.foreign:
            return {"mutation_id": str(mid), "status": "rejected", "rev": None, "reason": "invalid",
                    "detail": "This mutation_id was already used; make a new one."}, None
        plan = _Plan()
        try:
            result = self._apply(mid, ent, rid, m, plan)
        except Rejected as exc:
            plan = _Plan()
            result = {"mutation_id": str(mid), "status": "rejected", "rev": None, "reason": exc.reason,
                      "detail": exc.detail}
            if exc.errors:
                result["errors"] = exc.errors
        if plan.event is None:  # nothing changed: the event only logs the mutation and its answer
            plan.event = self._event(mid, ent.name if ent else _storable(str(m.get("entity")))[:40],
                                     rid, None, AuditEvent.NO_CHANGE, {})
        plan.event["status"], plan.event["result"] = result["status"], result
        self.seen[mid] = result
        return result, plan

    def _next_rev(self) -> int:
        self.rev += 1
        return self.rev

    def _apply(self, mid: uuid.UUID, ent: Entity | None, rid: uuid.UUID | None, m: dict, plan: _Plan) -> dict:
        if ent is None or not ent.pushable:
            raise Rejected("invalid", f"Unknown or read-only entity {m.get('entity')!r}.",
                           {"entity": ["Not a pushable entity."]})
        if rid is None:
            raise Rejected("invalid", "id must be a UUID.", {"id": ["Not a valid UUID."]})
        op = m.get("op")
        if op not in ("upsert", "delete"):
            raise Rejected("invalid", "op must be 'upsert' or 'delete'.", {"op": ["Must be upsert or delete."]})
        bad = None if self.text_checked else _unstorable_text(m.get("fields"))
        if bad:
            # The global input guard leaves pushes alone so that only this mutation is refused.
            raise Rejected("invalid", "Some text cannot be stored (NUL characters or lone surrogates).", bad)
        base_rev = m.get("base_rev")
        if base_rev is not None and (isinstance(base_rev, bool) or not isinstance(base_rev, int) or base_rev < 0):
            raise Rejected("invalid", "base_rev must be a revision number or null.",
                           {"base_rev": ["Not a valid revision."]})
        base_rev = base_rev or 0
        current = self.rows.get((ent.name, rid))
        creating = current is None
        if op == "delete":
            if current is None:
                raise Rejected("not_found", f"No such {ent.name} to delete.")
            return self._delete(mid, ent, rid, current, base_rev, plan)
        if creating and not ent.creatable:
            raise Rejected("forbidden", f"A phone cannot create an {ent.name}; the office assigns them.")
        fields, errors = ent.clean(m.get("fields"), creating=creating)
        if errors:
            raise Rejected("invalid", "Some fields are not valid.", errors)
        if not creating:
            for name in list(fields):
                spec = ent.fields[name]
                if spec.create_only and fields[name] != current.get(name):
                    raise Rejected("invalid", f"{name} cannot change once set.", {name: ["Cannot change once set."]})
        if ent.name == "progress":
            insp = self._progress_owner(fields, current)
            self._check_progress_line(fields, insp)
            if creating:
                return self._create(mid, ent, rid, fields, insp, plan)
            sent = set(m["fields"]) if isinstance(m.get("fields"), dict) else set()
            return self._update(mid, ent, rid, fields, current, base_rev, insp, plan, sent)
        insp = self._inspection_for(ent, rid, fields, current)
        self._check_permission(ent, insp, current, fields, creating)
        self._check_refs(ent, fields, insp)
        if ent.name == "measurement" or self.prepare is not None:
            fields = self._prepare(ent, fields, current, insp)
            if creating:
                missing = [n for n in _required_columns(ent) if fields.get(n) is None]
                if missing:
                    raise Rejected("invalid", "Some fields are missing.", {n: ["Missing data for required field."]
                                                                           for n in missing})
        if creating:
            return self._create(mid, ent, rid, fields, insp, plan)
        sent = set(m["fields"]) if isinstance(m.get("fields"), dict) else set()
        return self._update(mid, ent, rid, fields, current, base_rev, insp, plan, sent)

    def _inspection_for(self, ent: Entity, rid: uuid.UUID, fields: dict, current: dict | None) -> dict:
        if ent.name == "inspection":
            insp_id = rid
        else:
            insp_id = current["inspection_id"] if current is not None else fields.get("inspection_id")
        insp = self.rows.get(("inspection", insp_id))
        if insp is None or insp["deleted"] or not self._can_see(insp):
            raise Rejected("not_found", "No such inspection.", {"inspection_id": ["No such inspection."]})
        return insp

    def _can_see(self, insp: dict) -> bool:
        p = self.p
        if p.is_platform_admin or insp["inspector_id"] == p.id:
            return True
        brand, factory = self.pos.get(insp["purchase_order_id"], (None, None))
        return p.sees_whole_po(brand, factory)

    def _check_permission(self, ent: Entity, insp: dict, current: dict | None, fields: dict, creating: bool,
                          deleting: bool = False) -> None:
        p = self.p
        brand, factory = self.pos.get(insp["purchase_order_id"], (None, None))
        is_inspector = insp["inspector_id"] == p.id and p.may(Action.inspect, factory)
        is_reviewer = p.may(Action.edit_brand, brand)
        if insp["status"] == "signed_off":
            # Frozen, except what arrives late by nature: photo metadata (uploads trail on bad
            # Wi-Fi; never a delete) and the reviewers' comments and decisions.
            late_photo = ent.name == "photo" and not deleting
            review = ent.name in ("comment", "decision") and (is_reviewer or p.is_platform_admin)
            if not (late_photo or review):
                raise Rejected("signed_off", "This inspection is signed off; it cannot change any more.")
        if p.is_platform_admin:
            return
        if ent.name == "comment":
            ok = is_inspector or is_reviewer
            if ok and not creating and current.get("author_id") != p.id:
                raise Rejected("forbidden", "Only the author may change or delete a comment.")
        elif ent.name == "decision":
            # The inspector only marks a retake as done on the phone.
            ok = is_reviewer or (is_inspector and not creating and not deleting and set(fields) <= {"resolved"})
        else:
            ok = is_inspector
        if not ok:
            raise Rejected("forbidden", f"Your role may not change this {ent.name}.")

    def written_rows(self, after_rev: int) -> dict[uuid.UUID, dict[str, list[dict]]]:
        """Rows of the touched inspections this batch wrote (revision above ``after_rev``), per inspection and entity."""
        out: dict[uuid.UUID, dict[str, list[dict]]] = {}
        for (name, _), row in self.rows.items():
            if name in INSPECTION_ROWS and row["rev"] > after_rev and row.get("inspection_id") in self.touched_inspections:
                out.setdefault(row["inspection_id"], {}).setdefault(name, []).append(row)
        return out

    def _touch(self, insp: dict) -> None:
        if insp.get("progress_po_id") is not None:
            self.touched_pos.add(insp["progress_po_id"])
        else:
            self.touched_inspections.add(insp["id"])

    def _progress_owner(self, fields: dict, current: dict | None) -> dict:
        """The PO a progress report belongs to, checked: visible (else ``not_found``), and the pusher
        one of its factory's managers/admins or its brand's editors (else ``forbidden``).

        Answers the stand-in for an inspection the other steps use: ``{"id": None, "progress_po_id": po}``.
        """
        from ..timeline import service as timeline

        po_id = current["purchase_order_id"] if current is not None else fields.get("purchase_order_id")
        po = self.rows.get(("purchase_order", po_id))
        if po is None or po["deleted"] or not self._po_visible(po_id):
            raise Rejected("not_found", "No such purchase order.", {"purchase_order_id": ["No such purchase order."]})
        view = _RowView(po)
        if not (timeline.is_factory_editor(self.p, view) or timeline.is_brand_editor(self.p, view)):
            raise Rejected("forbidden", "Only the factory's managers and the brand's editors report progress.")
        return {"id": None, "progress_po_id": po_id}

    def _po_visible(self, po_id: uuid.UUID) -> bool:
        if po_id not in self.visible_pos:
            from ..catalog.service import visible_purchase_orders

            self.visible_pos[po_id] = db.session.scalar(
                visible_purchase_orders(self.p).with_only_columns(PurchaseOrder.id)
                .where(PurchaseOrder.id == po_id)) is not None
        return self.visible_pos[po_id]

    def _check_progress_line(self, fields: dict, owner: dict) -> None:
        if "po_line_id" not in fields:
            return
        line = self.rows.get(("po_line", fields["po_line_id"]))
        if line is None or line["deleted"] or line["purchase_order_id"] != owner["progress_po_id"]:
            raise Rejected("invalid", "Some referenced records do not exist.",
                           {"po_line_id": ["This line is not on the purchase order."]})

    def _check_refs(self, ent: Entity, fields: dict, insp: dict) -> None:
        errors = {}
        for name, value in fields.items():
            spec = ent.fields[name]
            if not spec.ref or spec.ref == "inspection" or value is None:
                continue
            row = self.rows.get((spec.ref, value))
            if row is None or row.get("deleted"):
                errors[name] = [f"No such {spec.ref}."]
            elif spec.ref == "dimension_spec":
                if row["product_id"] != insp["product_id"]:
                    errors[name] = ["Not a dimension of this inspection's product."]
            elif row.get("inspection_id") != insp["id"]:
                errors[name] = [f"No such {spec.ref} in this inspection."]
        if errors:
            raise Rejected("invalid", "Some referenced records do not exist.", errors)

    def _prepare(self, ent: Entity, fields: dict, current: dict | None, insp: dict) -> dict:
        """Let the inspections package check, normalise and derive fields; fill measurement values if it does not.

        ``prepare_sync_fields(entity, fields, inspection, principal, existing=row)`` returns the
        fields to apply; it raises ``ValidationFailed`` or ``Forbidden`` for a change that can
        never be applied, which rejects the mutation.
        """
        if self.prepare is not None:
            orm_insp = self.orm_inspections.get(insp["id"])
            try:
                out = self.prepare(ent.name, dict(fields), orm_insp, self.p,
                                   existing=_RowView(current) if current is not None else None)
            except LinesideError as exc:
                reason = {403: "forbidden", 404: "not_found"}.get(exc.status, "invalid")
                raise Rejected(reason, exc.detail, exc.errors) from None
            if out is not None:
                writable = _writable_columns(ent)
                kept = {k: v for k, v in out.items() if k in writable}
                if "inspection_id" in fields:
                    kept["inspection_id"] = fields["inspection_id"]
                fields = kept
        if ent.name == "measurement":
            merged = {k: current.get(k) for k in ent.table.c.keys()} if current else {}
            merged.update(fields)
            merged = _derive_measurement(merged, self.rows)
            for k in ("value_si", "in_tolerance"):
                if k in merged and (current is None or current.get(k) != merged[k]):
                    fields[k] = merged[k]
        return fields

    def _create(self, mid, ent: Entity, rid, fields: dict, insp: dict, plan: _Plan) -> dict:
        rev = self._next_rev()
        now = self.now
        row = _defaults(ent, fields)
        for name, fn in ent.server_set.items():
            row[name] = fn(self.p)
        row.update(id=rid, rev=rev, created_at=now, updated_at=now, deleted=False, field_revs={})
        plan.inserts.append((ent.table, row))
        self.rows[(ent.name, rid)] = row
        self._touch(insp)
        plan.event = self._event(mid, ent.name, rid, insp["id"], "create",
                                 {k: [None, jsonable(v)] for k, v in fields.items()})
        return {"mutation_id": str(mid), "status": "applied", "rev": rev}

    def _update(self, mid, ent: Entity, rid, fields: dict, current: dict, base_rev: int, insp: dict,
                plan: _Plan, sent: set[str]) -> dict:
        """Merge an edit into the current row. Only fields the phone sent can conflict; derived ones follow."""
        if current["deleted"]:
            # A delete beats an edit; the edit is kept in the conflict log.
            for name, value in fields.items():
                if name not in sent:
                    continue
                plan.conflicts.append(self._conflict(mid, ent, rid, insp, name, None, value, "deleted"))
            return {"mutation_id": str(mid), "status": "conflict", "rev": current["rev"],
                    "conflicts": [{"field": c["field"], "reason": "deleted"} for c in plan.conflicts],
                    "record": serialise_change(ent, current)}
        changes = {k: v for k, v in fields.items() if current.get(k) != v}
        if not changes:
            return {"mutation_id": str(mid), "status": "applied", "rev": current["rev"]}
        revs = dict(current.get("field_revs") or {})
        client = str(self.client_id)
        for name, value in changes.items():
            server_rev, server_client = (revs.get(name) or [0, None])[:2]
            if server_rev > base_rev and server_client != client and name in sent:
                plan.conflicts.append(self._conflict(mid, ent, rid, insp, name, value, current.get(name),
                                                     "both_changed"))
        rev = self._next_rev()
        for name in changes:
            revs[name] = [rev, client]
        values = {**changes, "rev": rev, "updated_at": self.now, "field_revs": revs}
        plan.updates.append((ent.table, {"id": rid, **values}))
        audit = {k: [jsonable(current.get(k)), jsonable(v)] for k, v in changes.items()}
        current.update(values)
        self._touch(insp)
        plan.event = self._event(mid, ent.name, rid, insp["id"], "update", audit)
        result = {"mutation_id": str(mid), "status": "conflict" if plan.conflicts else "applied", "rev": rev}
        if plan.conflicts:
            result["conflicts"] = [{"field": c["field"], "reason": c["reason"]} for c in plan.conflicts]
            result["record"] = serialise_change(ent, current)
        return result

    def _delete(self, mid, ent: Entity, rid, current: dict, base_rev: int, plan: _Plan) -> dict:
        if ent.name == "inspection":
            raise Rejected("forbidden", "A phone cannot delete an inspection.")
        if ent.name == "progress":
            insp = self._progress_owner({}, current)
        else:
            insp = self._inspection_for(ent, rid, {}, current)
            self._check_permission(ent, insp, current, {}, creating=False, deleting=True)
        if current["deleted"]:
            return {"mutation_id": str(mid), "status": "applied", "rev": current["rev"]}
        client = str(self.client_id)
        for name, (server_rev, server_client, *_) in (current.get("field_revs") or {}).items():
            if server_rev > base_rev and server_client != client and name in ent.fields:
                # Someone else's edit this phone never saw: the delete wins, the edit is logged.
                plan.conflicts.append(self._conflict(mid, ent, rid, insp, name, None, current.get(name), "deleted"))
        rev = self._next_rev()
        revs = dict(current.get("field_revs") or {})
        revs["deleted"] = [rev, client]
        values = {"deleted": True, "rev": rev, "updated_at": self.now, "field_revs": revs}
        plan.updates.append((ent.table, {"id": rid, **values}))
        current.update(values)
        self._touch(insp)
        plan.event = self._event(mid, ent.name, rid, insp["id"], "delete", {"deleted": [False, True]})
        result = {"mutation_id": str(mid), "status": "conflict" if plan.conflicts else "applied", "rev": rev}
        if plan.conflicts:
            result["conflicts"] = [{"field": c["field"], "reason": c["reason"]} for c in plan.conflicts]
        return result

    def _conflict(self, mid, ent: Entity, rid, insp: dict, name: str, kept: Any, lost: Any, reason: str) -> dict:
        now = self.now
        return {"id": uuid.uuid4(), "rev": self._next_rev(), "created_at": now, "updated_at": now, "deleted": False,
                "field_revs": {}, "entity": ent.name, "record_id": rid, "inspection_id": insp["id"], "field": name,
                "kept_value": jsonable(kept), "lost_value": jsonable(lost), "reason": reason, "mutation_id": mid,
                "user_id": self.p.id, "at": now}

    def _event(self, mid, entity_name: str, rid, inspection_id, action: str, changes: dict) -> dict:
        """The mutation's audit event (its status and result are added once known)."""
        return audit_event(entity_name, rid, inspection_id, action, changes, self.p.id, at=self.now, id=mid,
                           client_id=self.client_id, mutation_id=mid, status=None, result=None)


_SERVER_KEYS = frozenset({"id", "rev", "created_at", "updated_at", "field_revs"})


def _writable_columns(ent: Entity) -> frozenset[str]:
    """Columns a hook's answer may set: the table's, minus the server's bookkeeping."""
    return _columns_of(ent.name)[0]


def _required_columns(ent: Entity) -> tuple[str, ...]:
    """Required phone-writable columns of ``ent``, in table order."""
    return _columns_of(ent.name)[1]


@functools.lru_cache(maxsize=None)
def _columns_of(name: str) -> tuple[frozenset[str], tuple[str, ...]]:
    ent = ENTITIES[name]
    return (frozenset(ent.table.c.keys()) - _SERVER_KEYS,
            tuple(c.name for c in ent.table.c if c.name in ent.fields and ent.fields[c.name].required))


class _RowView(dict):
    """A preloaded row handed to ``prepare_sync_fields`` as ``existing``: a dict that reads as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _derive_measurement(fields: dict, rows: dict) -> dict:
    """Fill ``value_si`` and ``in_tolerance`` from the dimension spec when nobody else did."""
    from ..inspect import measure

    if "value_si" in fields and "in_tolerance" in fields:
        return fields
    spec = rows.get(("dimension_spec", fields.get("dimension_spec_id")))
    unit = fields.get("unit_entered") or "mm"
    try:
        value_si = measure.to_base(fields["value_entered"], unit)
    except ValueError as exc:
        raise Rejected("invalid", str(exc), {"unit_entered": [str(exc)]}) from None
    out = dict(fields)
    out.setdefault("value_si", value_si)
    if spec is not None:
        out.setdefault("in_tolerance", measure.in_tolerance(value_si, spec["nominal_mm"], spec["tolerance_mm"]))
    return out


_DEFAULTS: dict[str, list[tuple[str, Any, bool]]] = {}
_SET_ON_CREATE = frozenset({"id", "rev", "created_at", "updated_at", "deleted", "field_revs"})


def _defaults(ent: Entity, given: dict) -> dict[str, Any]:
    """A new row of ``ent``: ``given`` plus every other column's default (callables called per row)."""
    spec = _DEFAULTS.get(ent.name)
    if spec is None:
        spec = _DEFAULTS[ent.name] = [
            (c.name, c.default.arg if c.default is not None else None,
             c.default is not None and c.default.is_callable) for c in ent.table.c if c.name not in _SET_ON_CREATE]
    row = dict(given)
    for name, arg, call in spec:
        if name not in row:
            row[name] = arg(None) if call else arg
    return row


def _hook(name: str):
    """``server.inspect.service.<name>`` if the inspections package provides it (looked up at call time)."""
    try:
        from ..inspect import service as inspect_service  # type: ignore[attr-defined]
    except ImportError:
        return None
    return getattr(inspect_service, name, None)


def _storable(text_: str) -> str:
    """``text_`` with NUL characters and lone surrogates escaped, so that any database stores it."""
    return text_.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _plainly_storable(value: Any) -> bool:
    """True for a string that is ASCII without NUL (cheap); False means "look closer"."""
    return type(value) is str and value.isascii() and "\x00" not in value


#: JSON escapes that decode to text no database stores: NUL, and UTF-16 surrogate halves.
_RISKY_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def body_may_hold_unstorable_text(raw: bytes) -> bool:
    """False when a JSON body surely holds no NUL and no lone surrogate once parsed.

    Strict JSON carries neither raw: a NUL only as the escape ``\\u0000`` and a surrogate
    only as ``\\udXXX`` (raw bytes must be valid UTF-8, which has no surrogates). Seeing
    neither escape in the bytes rules both out, for one cheap scan of the body; when the
    answer is True, each field is checked on its own.
    """
    return _RISKY_ESCAPE.search(raw) is not None


def _unstorable_text(raw: Any) -> dict[str, list[str]]:
    """Per-field errors for text no database can store in a mutation's ``fields`` (empty when all is well)."""
    from ..input_guard import find_bad_text

    if not isinstance(raw, dict):
        return {}
    errors: dict[str, list[str]] = {}
    for name, value in raw.items():
        if _plainly_storable(name) and (value is None or type(value) in (int, float, bool)
                                        or _plainly_storable(value)):
            continue  # the common case, without walking the value
        key = _storable(name) if isinstance(name, str) else str(name)
        found = find_bad_text(name) if isinstance(name, str) else None
        if found:
            errors[key] = ["The field name: " + found[1]]
            continue
        found = find_bad_text(value, key)
        if found:
            path, reason = found
            errors[key] = [reason if path == key else f"{reason} (at {path})"]
    return errors


def _timeline_hook(name: str):
    """``server.timeline.service.<name>`` if the timeline package is installed."""
    try:
        from ..timeline import service as timeline_service  # type: ignore[attr-defined]
    except ImportError:
        return None
    return getattr(timeline_service, name, None)


def _uuid(value: Any) -> uuid.UUID | None:
    """``value`` as a UUID, or None when it is not one."""
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        return None
    return parse_uuid(value)


def _chunks(items: list, size: int = 500) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def push(principal: Principal, client_id: uuid.UUID, mutations: list[dict], *, text_checked: bool = False
         ) -> list[dict]:
    """Apply a batch of mutations exactly once and answer one result per mutation, in order.

    A replayed mutation answers ``duplicate`` with its original result. A mutation that can
    never succeed is recorded as ``rejected`` with its reason; the others still apply.
    ``text_checked`` says the caller has made sure no text in the batch holds a NUL or a lone
    surrogate (see :func:`body_may_hold_unstorable_text`), which spares checking each field.
    Raises only for the batch as a whole (the database being unreachable: nothing applied).
    """
    # A batch allocates many small dicts that all stay alive until it ends: pausing the cyclic
    # collector meanwhile saves it from rescanning them (reference counting still frees).
    paused = gc.isenabled()
    gc.disable()
    try:
        for attempt in range(3):
            try:
                return _push_once(principal, client_id, mutations, careful=attempt > 0,
                                  text_checked=text_checked)
            except IntegrityError:
                # A concurrent push recorded one of these mutation ids first: replay against its result.
                db.session.rollback()
        return _push_once(principal, client_id, mutations, careful=True,  # pragma: no cover
                          text_checked=text_checked)
    finally:
        if paused:
            gc.enable()


def _lock_counter() -> int:
    s = db.session
    if db.engine.dialect.name == "postgresql":
        return s.execute(text("SELECT value FROM sync_counter WHERE id = 1 FOR UPDATE")).scalar_one()
    return s.execute(text("SELECT value FROM sync_counter WHERE id = 1")).scalar_one()


def _push_once(principal: Principal, client_id: uuid.UUID, mutations: list[dict], careful: bool,
               text_checked: bool = False) -> list[dict]:
    s = db.session
    start = _lock_counter()
    batch = _Batch(principal, client_id, mutations, text_checked)
    batch.rev = start
    batch.load()
    delay = current_app.config.get("SYNC_TEST_DELAY_PER_MUTATION_SECONDS", 0) or 0
    results, plans = [], []
    batch_scope = _hook("sync_batch")  # the inspections package memoises checklist versions per batch
    with batch_scope() if batch_scope is not None else contextlib.nullcontext():
        for index in range(len(mutations)):
            result, plan = batch.plan(index)
            if plan is not None:
                plans.append((len(results), plan))
            results.append(result)
    # The test-only delay writes mutation by mutation, so a killed worker dies mid-write.
    if delay:
        careful = True
    if not careful:
        try:
            with s.begin_nested():
                _write([plan for _, plan in plans], delay)
        except (IntegrityError, DataError) as exc:  # a value the database refuses; outages propagate (503)
            if isinstance(exc, IntegrityError) and _is_mutation_clash(exc):
                raise
            careful = True
    if careful:
        _write_carefully(results, plans, delay)
    s.execute(update(SyncCounter).where(SyncCounter.id == 1).values(value=func.max(SyncCounter.value, batch.rev))
              if db.engine.dialect.name == "sqlite" else
              update(SyncCounter).where(SyncCounter.id == 1).values(value=func.greatest(SyncCounter.value, batch.rev)))
    after = _hook("after_sync")
    if after is not None and batch.touched_inspections:
        s.expire_all()
        if careful:  # some planned rows may have been refused: read everything back
            after(sorted(batch.touched_inspections, key=str), principal)
        else:  # the rows this batch wrote are in hand; only the others are read
            after(sorted(batch.touched_inspections, key=str), principal, written=batch.written_rows(start),
                  written_after_rev=start)
    refresh = _timeline_hook("refresh_alerts")
    if refresh is not None and batch.touched_pos:
        s.expire_all()
        for po_id in sorted(batch.touched_pos, key=str):
            po = s.get(PurchaseOrder, po_id)
            if po is not None:
                refresh(po)  # the forecast and alerts follow the new progress, in this transaction
    s.commit()
    return results


def _is_mutation_clash(exc: IntegrityError) -> bool:
    text_ = str(exc.orig).lower()
    return "audit_events.id" in text_ or "pk_audit_events" in text_


def _write(plans: list[_Plan], delay: float = 0) -> None:
    """Send the planned writes: one executemany per table and kind, the mutation log last."""
    s = db.session
    inserts: dict[Any, list[dict]] = defaultdict(list)
    # Several mutations of one row in a batch: merge them in order into one final UPDATE.
    merged: dict[tuple[Any, Any], dict] = {}
    conflicts, events = [], []
    for plan in plans:
        for table, row in plan.inserts:
            inserts[table].append(row)
        for table, values in plan.updates:
            merged.setdefault((table, values["id"]), {}).update(values)
        conflicts += plan.conflicts
        events.append(plan.event)
    conn = s.connection()
    # The events (mutation ids) first: a concurrent duplicate fails here, before anything else is written.
    insert_rows(conn, AuditEvent.__table__, events)
    for table, rows in inserts.items():
        insert_rows(conn, table, rows)
    updates: dict[tuple[Any, frozenset], list[dict]] = defaultdict(list)
    for (table, _), values in merged.items():
        updates[(table, frozenset(values))].append(values)
    for (table, keys), rows in updates.items():
        _execute_updates(table, keys, rows)
    insert_rows(conn, ConflictRecord.__table__, conflicts)
    if delay:
        time.sleep(delay * len(plans))


def _execute_updates(table, keys: frozenset, rows: list[dict]) -> None:
    stmt = (update(table).where(table.c.id == bindparam("_id"))
            .values({k: bindparam("_" + k) for k in keys if k != "id"}))
    db.session.connection().execute(stmt, [{"_" + k: v for k, v in r.items()} for r in rows])


def _write_carefully(results: list[dict], plans: list[tuple[int, _Plan]], delay: float) -> None:
    """Write one mutation at a time, each in a SAVEPOINT; one the database refuses is rejected alone."""
    for index, plan in plans:
        try:
            with db.session.begin_nested():
                _write([plan], delay)
        except (IntegrityError, DataError) as exc:
            # Only a refused value is this mutation's fault; anything else (an outage) fails the batch.
            if isinstance(exc, IntegrityError) and _is_mutation_clash(exc):
                raise
            results[index] = _record_db_rejection(plan, exc)


def _record_db_rejection(plan: _Plan, exc: Exception) -> dict:
    mid = plan.event["mutation_id"]
    result = {"mutation_id": str(mid), "status": "rejected", "rev": None, "reason": "invalid",
              "detail": "The database refused this record: " + str(getattr(exc, "orig", exc)).splitlines()[0][:200]}
    with db.session.begin_nested():
        insert_rows(db.session.connection(), AuditEvent.__table__,
                    [{**plan.event, "inspection_id": None, "action": AuditEvent.NO_CHANGE,
                      "changes": {}, "status": "rejected", "result": result}])
    return result


# -- conflicts and housekeeping --------------------------------------------------------------

def conflicts_for_inspection(p: Principal, inspection_id: uuid.UUID) -> list[ConflictRecord]:
    """The conflict log of one inspection, newest first. Raises ``NotFound`` outside the caller's scope."""
    visible = db.session.scalar(select(Inspection.id).where(Inspection.id == inspection_id,
                                                            _scope(p)["inspection"] if not p.is_platform_admin
                                                            else True))
    if visible is None:
        raise NotFound("No such inspection.")
    return list(db.session.scalars(select(ConflictRecord).where(ConflictRecord.inspection_id == inspection_id)
                                   .order_by(ConflictRecord.rev.desc())))


#: Child tables first, so a purged tombstone is not still referenced by another purged one.
PURGE_ORDER = ("decision", "comment", "measurement", "photo", "defect", "response", "progress", "batch",
               "po_line", "golden_sample", "colour_standard", "dimension_spec", "template")


def purge_tombstones(older_than_seconds: int | None = None) -> tuple[int, int]:
    """Delete tombstones older than the retention and raise ``purged_through``.

    Returns ``(rows deleted, purged_through)``. A table whose tombstones are still
    referenced by a live row keeps them (and they are not counted).
    """
    s = db.session
    seconds = current_app.config["SYNC_TOMBSTONE_RETENTION_SECONDS"] if older_than_seconds is None \
        else older_than_seconds
    cutoff = utcnow() - timedelta(seconds=seconds)
    _lock_counter()
    total, high = 0, 0
    for name in PURGE_ORDER:
        if name not in ENTITIES:
            continue  # an optional package (timeline) is not installed
        t = ENTITIES[name].table
        cond = (t.c.deleted.is_(True), t.c.updated_at < cutoff)
        top = s.scalar(select(func.max(t.c.rev)).where(*cond))
        if top is None:
            continue
        try:
            with s.begin_nested():
                total += s.execute(sa_delete(t).where(*cond)).rowcount
            high = max(high, top)
        except IntegrityError:
            continue
    if high:
        s.execute(update(SyncCounter).where(SyncCounter.id == 1, SyncCounter.purged_through < high)
                  .values(purged_through=high))
    s.commit()
    return total, s.scalar(select(SyncCounter.purged_through).where(SyncCounter.id == 1))
