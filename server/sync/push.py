"""Push: mutations in, exactly once, merged — for any registered entity.

The batch loads in one query each the mutation ids already seen, the rows the batch touches,
the rows they hang off (their *owners*, e.g. inspections) and the rows they reference, and
lets each domain preload what its rules read (:meth:`~server.sync.registry.PushRules.load`).
It then locks its owners (``FOR UPDATE`` in a fixed order on PostgreSQL, reading again if
another writer held one; SQLite's ``BEGIN IMMEDIATE`` serialises writers) and only then takes
revisions (:mod:`server.sync.revisions`: no global lock). Every mutation is then
planned in memory, in order: checked against the protocol and its entity's field
declarations, decided by its domain's rules (who may, in which state, which values —
:meth:`~server.sync.registry.PushRules.decide`) against the rows as the earlier mutations of
the batch left them, merged against the row's per-field revisions, and recorded (applied /
conflict / rejected) with its result. The planned writes go out with one bulk insert or
``executemany`` per table and kind (:mod:`server.sync.bulk`), the
domains refresh what depends on the rows (:meth:`~server.sync.registry.PushRules.after_batch`),
and the whole batch commits in one transaction together with the mutation log. The log is
the audit trail itself: each mutation leaves one :class:`~server.sync.models.AuditEvent`
holding what it changed, its id and its answer. If the database refuses the bulk write (a
constraint nobody foresaw), the batch is replayed one mutation at a time, each in its own
SAVEPOINT, so one bad row is rejected alone.

Merge: ``field_revs`` on each synced row maps field -> ``[rev, client_id]``. A field the
phone sends that the server changed after the phone's ``base_rev`` (by another client or by
the server itself) is a conflict: the later-arriving write wins and the loser is kept as a
:class:`~server.sync.models.ConflictRecord`. A delete beats an edit: an edit of a tombstone
is logged as lost, and a delete logs the other side's unseen edits. Phone clocks play no part.

Nothing here names a domain entity: see :mod:`server.sync.registry`.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

from flask import current_app
from sqlalchemy import bindparam, select, text, update
from sqlalchemy.exc import DataError, IntegrityError

from ..audit import audit_event
from ..auth import Principal
from ..errors import Forbidden, LinesideError, NotFound, PayloadTooLarge, ProtocolOutdated
from ..extensions import db
from ..jsontext import jsonable
from ..models import utcnow
from . import revisions
from .bulk import insert_rows
from .ids import any_of
from .models import AuditEvent, ConflictRecord, SyncCounter
from .pull import serialise_change
from .registry import ENTITIES, Change, Entity, Owner, PushRules, entity, parse_uuid

PROTOCOL_VERSION = 1


def _reoffered_fields(ent: Entity, fields: Any, current: dict | None) -> dict:
    """A re-offered record's fields the phone may write: it sends the record as it holds it, so
    server-owned and display-only fields (and, on an existing row, fixed ones) are left out, not refused."""
    if not isinstance(fields, dict):
        return {}
    return {k: v for k, v in fields.items()
            if k in ent.fields and not (current is not None and ent.fields[k].create_only)}


class Rejected(Exception):
    """A mutation that can never succeed: recorded as rejected with its reason."""

    def __init__(self, reason: str, detail: str, errors: dict | None = None) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.errors = reason, detail, errors


def _rejected(exc: LinesideError) -> Rejected:
    """A domain's refusal as a mutation's answer: not_found, forbidden, the error's own reason, or invalid."""
    if isinstance(exc, NotFound):
        reason = "not_found"
    elif isinstance(exc, Forbidden):
        reason = "forbidden"
    else:
        reason = getattr(exc, "sync_reason", None) or "invalid"
    return Rejected(reason, exc.detail, exc.errors)


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
    """One push: the preloaded rows, the planned writes, and the owners each domain must refresh."""

    def __init__(self, principal: Principal, client_id: uuid.UUID, mutations: list[dict],
                 text_checked: bool = False) -> None:
        self.p = principal
        self.text_checked = text_checked  # the caller saw no escape that could make unstorable text
        self.client_id = client_id
        self.mutations = mutations
        #: (entity name, id) -> the row's columns, as this batch leaves them
        self.rows: dict[tuple[str, uuid.UUID], dict] = {}
        self.seen: dict[uuid.UUID, dict] = {}
        self.foreign: set[uuid.UUID] = set()
        self.keys: list[tuple[uuid.UUID | None, Entity | None, uuid.UUID | None]] = []
        self.revs: revisions.RevisionPool | None = None  # taken once the batch's owners are locked
        self.owners: dict[str, set[uuid.UUID]] = {}
        self.now = utcnow()  # one server time per batch; phone clocks are never used
        self.touched: dict[PushRules, set[uuid.UUID]] = {}
        # The fork point of the last restore (server.sync.history), for re-offered records.
        self.history_start: int | None
        self.history_start, self.purged_through = db.session.execute(
            select(SyncCounter.history_started_rev, SyncCounter.purged_through).where(SyncCounter.id == 1)).one()

    # -- loading --
    def load(self) -> None:
        """Load everything the batch needs with one query per table."""
        ids_by_entity: dict[str, set[uuid.UUID]] = defaultdict(set)
        owners: dict[str, set[uuid.UUID]] = defaultdict(set)  # owner entity -> ids the batch names
        mids = []
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
                        if fname == ent.owner_field:
                            owners[ent.owner].add(ref_id)
        self._load_seen(mids)
        self._load_rows(ids_by_entity)
        # The owners the loaded rows hang off, then each domain's own preload.
        for (name, _), row in self.rows.items():
            ent = ENTITIES.get(name)
            if ent is not None and ent.owner_field and row.get(ent.owner_field):
                owners[ent.owner].add(row[ent.owner_field])
        self._load_rows({name: ids - {i for (n, i) in self.rows if n == name} for name, ids in owners.items()})
        for name, ids in ids_by_entity.items():
            ent = ENTITIES[name]
            if ent.owner is None and ent.pushable:
                owners[name] |= ids
        by_rules: dict[PushRules, set[uuid.UUID]] = {}
        for ent in ENTITIES.values():
            if ent.rules is not None and ent.pushable:
                by_rules.setdefault(ent.rules, set()).update(owners.get(ent.owner or ent.name, ()))
        for rules, ids in by_rules.items():
            rules.load(self.p, self.rows, ids)
        self.owners = {name: set(ids) for name, ids in owners.items() if ids}

    def _load_seen(self, mids: list[uuid.UUID]) -> None:
        """Mutation ids already recorded: this user's answer ``duplicate``; another user's id is refused."""
        for chunk in _chunks(mids):
            # A pushed mutation's event has the mutation's id as its own.
            for mid, logged_as, user_id, result in db.session.execute(
                    select(AuditEvent.id, AuditEvent.mutation_id, AuditEvent.user_id, AuditEvent.result)
                    .where(any_of(AuditEvent.id, chunk))):
                if user_id == self.p.id and logged_as == mid and result is not None:
                    self.seen[mid] = result
                else:
                    self.foreign.add(mid)

    def _load_rows(self, ids_by_entity: dict[str, set[uuid.UUID]]) -> None:
        for name, ids in ids_by_entity.items():
            table = ENTITIES[name].table
            for chunk in _chunks(list(ids)):
                for row in db.session.execute(select(table).where(any_of(table.c.id, chunk))).mappings():
                    self.rows[(name, row["id"])] = dict(row)

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
        return self.revs.next()

    def lock(self) -> bool:
        """Lock the owners (e.g. inspections) of every row the batch touches, in a fixed order; True when
        another writer held one, so that what :meth:`load` read may be stale."""
        waited = False
        for name in sorted(self.owners):
            waited = revisions.lock_for_write(db.session, ENTITIES[name].table, self.owners[name]) or waited
        return waited

    def _apply(self, mid: uuid.UUID, ent: Entity | None, rid: uuid.UUID | None, m: dict, plan: _Plan) -> dict:
        op = self._check_mutation(ent, rid, m)
        base_rev = m.get("base_rev") or 0
        current = self.rows.get((ent.name, rid))
        if m.get("reoffer") is True:
            kept = self._reoffer(mid, op, current, base_rev)
            if kept is not None:
                return kept
            base_rev = min(base_rev, self.history_start or 0)  # merge from the fork point
            m = {**m, "fields": _reoffered_fields(ent, m.get("fields"), current)}
        fields: dict[str, Any] = {}
        if op == "delete":
            if current is None:
                raise Rejected("not_found", f"No such {ent.name} to delete.")
            if not ent.deletable:
                raise Rejected("forbidden", f"A phone cannot delete an {ent.name}.")
        else:
            if current is None and not ent.creatable:
                raise Rejected("forbidden", f"A phone cannot create an {ent.name}; the office assigns them.")
            fields, errors = ent.clean(m.get("fields"), creating=current is None)
            if errors:
                raise Rejected("invalid", "Some fields are not valid.", errors)
            for name in fields if current is not None else ():
                if ent.fields[name].create_only and fields[name] != current.get(name):
                    raise Rejected("invalid", f"{name} cannot change once set.", {name: ["Cannot change once set."]})
            op = "create" if current is None else "update"
        sent = frozenset(m["fields"]) if isinstance(m.get("fields"), dict) else frozenset()
        owner, fields = self._decide(ent, op, rid, fields, current, sent)
        if op == "delete":
            return self._delete(mid, ent, rid, current, base_rev, owner, plan)
        if op == "create":
            missing = [n for n in _required_columns(ent) if fields.get(n) is None]
            if missing:
                raise Rejected("invalid", "Some fields are missing.",
                               {n: ["Missing data for required field."] for n in missing})
            return self._create(mid, ent, rid, fields, owner, plan)
        return self._update(mid, ent, rid, fields, current, base_rev, owner, plan, sent)

    def _reoffer(self, mid: uuid.UUID, op: str, current: dict | None, base_rev: int) -> dict | None:
        """A record offered again after a restore (410 ``history_diverged``): what the server keeps.

        Answers the result when there is nothing to take back, or ``None`` to apply the offer
        merged from the fork point. The phone's copy (revision ``base_rev`` of the old history)
        is newer than what the restore kept only when ``base_rev`` lies after the fork point
        (``sync_counter.history_started_rev``); older copies, and every copy when no restore
        was recorded, change nothing that exists. A missing record is created again unless it
        existed before the fork or the purge (a purged tombstone stays gone).
        """
        start = self.history_start
        nothing = {"mutation_id": str(mid), "status": "applied", "rev": current["rev"] if current else None}
        if op == "delete" and (current is None or current["deleted"]):
            return nothing
        if current is None:
            if base_rev and (base_rev <= (self.purged_through or 0) or (start is not None and base_rev <= start)):
                return nothing  # it existed before the fork and is gone now (a purged tombstone)
            return None  # lost with the restore: create it again
        if start is None or base_rev <= start:
            return nothing  # the restore kept this version or a newer one
        return None

    def _check_mutation(self, ent: Entity | None, rid: uuid.UUID | None, m: dict) -> str:
        """The protocol's own checks of one mutation (entity, id, op, storable text, base_rev); its op."""
        if ent is None or not ent.pushable:
            raise Rejected("invalid", f"Unknown or read-only entity {_storable(str(m.get('entity')))[:40]!r}.",
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
        if base_rev is not None and (isinstance(base_rev, bool) or not isinstance(base_rev, int)
                                     or not 0 <= base_rev <= 2 ** 63 - 1):
            raise Rejected("invalid", "base_rev must be a revision number or null.",
                           {"base_rev": ["Not a valid revision."]})
        return op

    def _decide(self, ent: Entity, op: str, rid: uuid.UUID, fields: dict, current: dict | None,
                sent: frozenset[str]) -> tuple[Owner, dict]:
        """Ask the entity's domain: whose record it hangs off, and what (if anything) to apply."""
        rules = ent.rules or PushRules()
        try:
            owner = rules.owner(self.p, self.rows, ent, rid, fields, current)
            decided = rules.decide(self.p, self.rows, Change(ent, op, rid, fields, current, owner, sent))
        except LinesideError as exc:
            raise _rejected(exc) from None
        if op == "delete":
            return owner, {}
        writable = _writable_columns(ent)
        kept = {k: v for k, v in decided.items() if k in writable}
        if ent.owner_field and ent.owner_field in fields:
            kept[ent.owner_field] = fields[ent.owner_field]
        self._check_refs(ent, kept, owner)
        return owner, kept

    def _check_refs(self, ent: Entity, fields: dict, owner: Owner) -> None:
        """Referenced rows exist, and hang off the same owner when they have one."""
        errors = {}
        for name, value in fields.items():
            spec = ent.fields.get(name)
            if spec is None or not spec.ref or spec.ref == ent.owner or value is None:
                continue
            row = self.rows.get((spec.ref, value))
            ref = ENTITIES[spec.ref]
            if row is None or row.get("deleted"):
                errors[name] = [f"No such {spec.ref}."]
            elif ref.owner_field and ref.owner == ent.owner and row.get(ref.owner_field) != owner.id:
                errors[name] = [f"No such {spec.ref} in this {ent.owner}."]
        if errors:
            raise Rejected("invalid", "Some referenced records do not exist.", errors)

    def _touch(self, ent: Entity, owner: Owner) -> None:
        if ent.rules is not None:
            self.touched.setdefault(ent.rules, set()).add(owner.id)

    def written_rows(self, rules: PushRules, after_rev: int) -> dict[str, list[dict]]:
        """Rows of ``rules``' entities this batch wrote (revision above ``after_rev``), per entity."""
        out: dict[str, list[dict]] = {}
        for (name, _), row in self.rows.items():
            ent = ENTITIES.get(name)
            if ent is not None and ent.rules is rules and row.get("rev", 0) > after_rev:
                out.setdefault(name, []).append(row)
        return out

    def _create(self, mid, ent: Entity, rid, fields: dict, owner: Owner, plan: _Plan) -> dict:
        rev = self._next_rev()
        now = self.now
        row = _defaults(ent, fields)
        for name, fn in ent.server_set.items():
            row[name] = fn(self.p)
        row.update(id=rid, rev=rev, created_at=now, updated_at=now, deleted=False, field_revs={})
        plan.inserts.append((ent.table, row))
        self.rows[(ent.name, rid)] = row
        self._touch(ent, owner)
        plan.event = self._event(mid, ent.name, rid, owner.log_id, "create",
                                 {k: [None, jsonable(v)] for k, v in fields.items()})
        return {"mutation_id": str(mid), "status": "applied", "rev": rev}

    def _update(self, mid, ent: Entity, rid, fields: dict, current: dict, base_rev: int, owner: Owner,
                plan: _Plan, sent: frozenset[str]) -> dict:
        """Merge an edit into the current row. Only fields the phone sent can conflict; derived ones follow."""
        if current["deleted"]:
            # A delete beats an edit; the edit is kept in the conflict log.
            for name, value in fields.items():
                if name not in sent:
                    continue
                plan.conflicts.append(self._conflict(mid, ent, rid, owner, name, None, value, "deleted"))
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
                plan.conflicts.append(self._conflict(mid, ent, rid, owner, name, value, current.get(name),
                                                     "both_changed"))
        rev = self._next_rev()
        for name in changes:
            revs[name] = [rev, client]
        values = {**changes, "rev": rev, "updated_at": self.now, "field_revs": revs}
        plan.updates.append((ent.table, {"id": rid, **values}))
        audit = {k: [jsonable(current.get(k)), jsonable(v)] for k, v in changes.items()}
        current.update(values)  # the next mutation of this batch sees the row as this one left it
        self._touch(ent, owner)
        plan.event = self._event(mid, ent.name, rid, owner.log_id, "update", audit)
        result = {"mutation_id": str(mid), "status": "conflict" if plan.conflicts else "applied", "rev": rev}
        if plan.conflicts:
            result["conflicts"] = [{"field": c["field"], "reason": c["reason"]} for c in plan.conflicts]
            result["record"] = serialise_change(ent, current)
        return result

    def _delete(self, mid, ent: Entity, rid, current: dict, base_rev: int, owner: Owner, plan: _Plan) -> dict:
        if current["deleted"]:
            return {"mutation_id": str(mid), "status": "applied", "rev": current["rev"]}
        client = str(self.client_id)
        for name, (server_rev, server_client, *_) in (current.get("field_revs") or {}).items():
            if server_rev > base_rev and server_client != client and name in ent.fields:
                # Someone else's edit this phone never saw: the delete wins, the edit is logged.
                plan.conflicts.append(self._conflict(mid, ent, rid, owner, name, None, current.get(name), "deleted"))
        rev = self._next_rev()
        revs = dict(current.get("field_revs") or {})
        revs["deleted"] = [rev, client]
        values = {"deleted": True, "rev": rev, "updated_at": self.now, "field_revs": revs}
        plan.updates.append((ent.table, {"id": rid, **values}))
        current.update(values)
        self._touch(ent, owner)
        plan.event = self._event(mid, ent.name, rid, owner.log_id, "delete", {"deleted": [False, True]})
        result = {"mutation_id": str(mid), "status": "conflict" if plan.conflicts else "applied", "rev": rev}
        if plan.conflicts:
            result["conflicts"] = [{"field": c["field"], "reason": c["reason"]} for c in plan.conflicts]
        return result

    def _conflict(self, mid, ent: Entity, rid, owner: Owner, name: str, kept: Any, lost: Any, reason: str) -> dict:
        now = self.now
        return {"id": uuid.uuid4(), "rev": self._next_rev(), "created_at": now, "updated_at": now, "deleted": False,
                "field_revs": {}, "entity": ent.name, "record_id": rid, "inspection_id": owner.log_id, "field": name,
                "kept_value": jsonable(kept), "lost_value": jsonable(lost), "reason": reason, "mutation_id": mid,
                "user_id": self.p.id, "at": now}

    def _event(self, mid, entity_name: str, rid, inspection_id, action: str, changes: dict) -> dict:
        """The mutation's audit event (its status and result are added once known)."""
        return audit_event(entity_name, rid, inspection_id, action, changes, self.p.id, at=self.now, id=mid,
                           client_id=self.client_id, mutation_id=mid, status=None, result=None)


_SERVER_KEYS = frozenset({"id", "rev", "created_at", "updated_at", "field_revs"})


def _writable_columns(ent: Entity) -> frozenset[str]:
    """Columns a domain's decision may set: the table's, minus the server's bookkeeping."""
    return _columns_of(ent.name, ent.table)[0]


def _required_columns(ent: Entity) -> tuple[str, ...]:
    """Required phone-writable columns of ``ent``, in table order."""
    return _columns_of(ent.name, ent.table)[1]


@functools.lru_cache(maxsize=None)
def _columns_of(name: str, table) -> tuple[frozenset[str], tuple[str, ...]]:
    ent = ENTITIES[name]
    return (frozenset(table.c.keys()) - _SERVER_KEYS,
            tuple(c.name for c in table.c if c.name in ent.fields and ent.fields[c.name].required))


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
        try:
            found = find_bad_text(value, key)
        except RecursionError:  # nested deeper than any field allows; the field's declaration says so next
            continue
        if found:
            path, reason = found
            errors[key] = [reason if path == key else f"{reason} (at {path})"]
    return errors


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


def lock_counter() -> int:
    """Take the revision counter's row lock (until the transaction ends); its value. Serialises the
    housekeeping that moves ``purged_through``; pushes no longer take it (:mod:`server.sync.revisions`)."""
    s = db.session
    if db.engine.dialect.name == "postgresql":
        return s.execute(text("SELECT value FROM sync_counter WHERE id = 1 FOR UPDATE")).scalar_one()
    return s.execute(text("SELECT value FROM sync_counter WHERE id = 1")).scalar_one()


def _push_once(principal: Principal, client_id: uuid.UUID, mutations: list[dict], careful: bool,
               text_checked: bool = False) -> list[dict]:
    s = db.session
    batch = _Batch(principal, client_id, mutations, text_checked)
    batch.load()
    if batch.lock():  # another writer of these owners committed meanwhile: read again
        batch = _Batch(principal, client_id, mutations, text_checked)
        batch.load()
    # Revisions only now, under the owners' locks: above those of every earlier writer of these rows.
    batch.revs = revisions.RevisionPool(s, len(mutations) + 1)
    results, plans = [], []
    with contextlib.ExitStack() as scopes:
        for rules in _all_rules():
            scopes.enter_context(rules.batch_scope())  # e.g. checklist versions read once per batch
        for index in range(len(mutations)):
            result, plan = batch.plan(index)
            if plan is not None:
                plans.append((len(results), plan))
            results.append(result)
    if not careful:
        try:
            with s.begin_nested():
                _write([plan for _, plan in plans])
        except (IntegrityError, DataError) as exc:  # a value the database refuses; outages propagate (503)
            if isinstance(exc, IntegrityError) and _is_mutation_clash(exc):
                raise
            careful = True
    if careful:
        _write_carefully(results, plans)
    start = batch.revs.floor or 0  # rows below it were written before this batch took its locks
    if batch.touched:
        s.expire_all()
    for rules in _all_rules():
        owners = batch.touched.get(rules)
        if owners:
            # When some planned rows may have been refused, the domain reads everything back.
            rules.after_batch(principal, sorted(owners, key=str),
                              None if careful else batch.written_rows(rules, start), start)
    s.commit()
    return results


def _all_rules() -> list[PushRules]:
    """Every registered domain's rules, once each, in registration order."""
    out: list[PushRules] = []
    for ent in ENTITIES.values():
        if ent.rules is not None and ent.rules not in out:
            out.append(ent.rules)
    return out


def _is_mutation_clash(exc: IntegrityError) -> bool:
    text_ = str(exc.orig).lower()
    return "audit_events.id" in text_ or "pk_audit_events" in text_


def _write(plans: list[_Plan]) -> None:
    """Send the planned writes: one executemany per table and kind, the mutation log first."""
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


def _execute_updates(table, keys: frozenset, rows: list[dict]) -> None:
    stmt = (update(table).where(table.c.id == bindparam("_id"))
            .values({k: bindparam("_" + k) for k in keys if k != "id"}))
    db.session.connection().execute(stmt, [{"_" + k: v for k, v in r.items()} for r in rows])


def _write_carefully(results: list[dict], plans: list[tuple[int, _Plan]]) -> None:
    """Write one mutation at a time, each in a SAVEPOINT; one the database refuses is rejected alone."""
    for index, plan in plans:
        try:
            with db.session.begin_nested():
                _write([plan])
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
