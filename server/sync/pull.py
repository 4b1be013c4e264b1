"""The sync protocol's pull side: changes out, in commit order, one page at a time.

Pull
    Changes with ``cursor < rev <= V`` where ``V`` is the safe revision
    (:func:`server.sync.revisions.safe_revision`): every revision up to ``V`` that will ever
    commit has committed and is visible to the queries that follow, so a page never skips a
    late commit.
"""
from __future__ import annotations

import base64
import binascii
import functools
import gc
import hashlib
import hmac
import json
import uuid
from dataclasses import asdict, dataclass, replace
from typing import Any

from flask import current_app
from sqlalchemy import BigInteger, and_, bindparam, func, or_, select

from ..accounts.models import Organisation, User
from ..auth import Principal
from ..catalog.models import DimensionSpec, POLine, Product, PurchaseOrder
from ..errors import Gone, ValidationFailed
from ..extensions import db
from ..inspect.models import ChecklistTemplate, Inspection
from ..jsontext import jsonable
from ..models import utcnow
from .entities import ENTITIES, HIDDEN_COLUMNS, INSPECTION_ROWS, TOP_LEVEL, Entity
from . import history, revisions
from .ids import any_of
from .models import ConflictRecord, SyncCounter, SyncScopeSet

CURSOR_VERSION = 1


#: Largest revision a cursor may hold (a signed BIGINT).
MAX_REV = 2**63 - 1


def _rev(value: Any) -> bool:
    return type(value) is int and 0 <= value <= MAX_REV


def _optional_rev(value: Any) -> bool:
    return value is None or _rev(value)


def _short_text(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 64


def _optional_text(value: Any) -> bool:
    return value is None or _short_text(value)


def _fill(value: Any) -> bool:
    """A new scope's older rows being streamed: ``{"from": old scope, "through": rev, "after": rev}``."""
    return value is None or (isinstance(value, dict) and set(value) == {"from", "through", "after"}
                             and _short_text(value["from"]) and _rev(value["through"]) and _rev(value["after"]))


@dataclass(frozen=True)
class Cursor:
    """Where a phone is in the change feed. Opaque to phones: base64url of JSON, a dot, and an
    HMAC-SHA256 of that (keyed by the server's ``SECRET_KEY``).

    To carry something more, add a field with a default and its check to ``_CHECKS``; a
    cursor is refused (422) unless it was signed here and every field passes its check.
    """

    rev: int = 0
    scope: str = ""
    since: int | None = None  # set while an initial sync is paging: tombstones up to it are skipped
    history: str | None = None  # the history id it was made in (server.sync.history); None in older cursors
    fp: str | None = None  # the fingerprint of the commit that took ``rev``
    fill: dict | None = None  # set while a newly visible scope's older rows are streamed (see _pull)
    more: bool | None = None  # set while a run of pages goes on: the scope's id lists are not listed again

    def encode(self) -> str:
        data = {"v": CURSOR_VERSION, **{_JSON_NAMES.get(k, k): v for k, v in asdict(self).items()
                                        if v is not None or k in _ALWAYS}}
        payload = _b64(json.dumps(data, separators=(",", ":")).encode())
        return payload + "." + _b64(_signature(payload))

    @classmethod
    def decode(cls, token: str | None) -> Cursor | None:
        """The cursor in ``token``, or None for a fresh start. Raises ``ValidationFailed`` unless this server made it."""
        if token in (None, "", "null"):
            return None
        if _is_unsigned_legacy(token):
            raise Gone("This app's place in the change feed comes from an older server release: push your "
                       "changes, then pull again from the start.", must_resync=True, reason="cursor_unsigned")
        try:
            payload, _, sig = token.partition(".")
            if len(token) > 4096 or not hmac.compare_digest(_unb64(sig), _signature(payload)):
                raise ValueError
            data = json.loads(_unb64(payload))
            if not isinstance(data, dict) or data.pop("v", None) != CURSOR_VERSION or not set(data) <= _KEYS:
                raise ValueError
            if not all(check(data.get(_JSON_NAMES.get(name, name))) for name, check in _CHECKS.items()):
                raise ValueError
        except (ValueError, TypeError, binascii.Error):
            raise ValidationFailed("The cursor is not one this server gave out.",
                                   errors={"cursor": ["Not a valid cursor; pull from the start."]}) from None
        return cls(**{_FIELD_NAMES.get(k, k): v for k, v in data.items()})


#: Each cursor field's check (a missing field is checked as None).
_CHECKS = {"rev": _rev, "scope": _short_text, "since": _optional_rev, "history": _optional_text,
           "fp": _optional_text, "fill": _fill, "more": lambda v: v is None or v is True}
#: Fields written under another (shorter) name.
_JSON_NAMES = {"history": "h"}
_FIELD_NAMES = {v: k for k, v in _JSON_NAMES.items()}
_KEYS = frozenset(_JSON_NAMES.get(k, k) for k in _CHECKS)
_ALWAYS = frozenset({"rev", "scope", "since"})  # written even when None, as phones have always seen them


def _is_unsigned_legacy(token: str) -> bool:
    """Whether ``token`` is a cursor as releases before signing gave out (base64url JSON of exactly
    ``v``, ``rev``, ``scope``, ``since``): phones in the field hold these after an upgrade, and a
    410 brings them back (a full pull of what they may see), where a 422 would stop them for good."""
    if "." in token or len(token) > 1024:
        return False
    try:
        data = json.loads(_unb64(token))
    except (ValueError, TypeError, binascii.Error):
        return False
    return (isinstance(data, dict) and set(data) == {"v", "rev", "scope", "since"} and data["v"] == CURSOR_VERSION
            and _rev(data["rev"]) and _short_text(data["scope"]) and _optional_rev(data["since"]))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text_: str) -> bytes:
    if not text_.isascii():
        raise ValueError
    return base64.urlsafe_b64decode(text_ + "=" * (-len(text_) % 4))


def _signature(payload: str) -> bytes:
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, b"lineside.sync.cursor\0" + payload.encode(), hashlib.sha256).digest()


def _scope(p: Principal, state: ScopeState | None = None) -> dict[str, Any]:
    """Per-entity conditions on what ``p`` may see (None = everything), tombstones included.

    With a ``state`` that lists the inspections and POs (inspectors, factory staff), those lists
    are the conditions (one array parameter each, matched by the ``(inspection_id, rev)``
    indexes) instead of subqueries run again by every table's query.
    """
    if p.is_platform_admin:
        return {name: None for name in ENTITIES}
    if state is not None and state.inspections is not None and not p.brand_ids:
        return _listed_scope(p, sorted(map(uuid.UUID, state.inspections)),
                             sorted(map(uuid.UUID, state.purchase_orders)))
    IC, PO = Inspection.__table__.c, PurchaseOrder.__table__.c
    po_conds = []
    if p.brand_ids:
        po_conds.append(PO.brand_id.in_(p.brand_ids))
    if p.managed_factory_ids:
        po_conds.append(PO.factory_id.in_(p.managed_factory_ids))
    po_ids = select(PO.id).where(or_(*po_conds)) if po_conds else None
    insp_conds = [IC.inspector_id == p.id]
    if po_ids is not None:
        insp_conds.append(IC.purchase_order_id.in_(po_ids))
    insp_ids = select(IC.id).where(or_(*insp_conds))
    if po_ids is None:
        po_ids = select(IC.purchase_order_id).where(IC.inspector_id == p.id)
    else:
        po_ids = select(PO.id).where(or_(PO.id.in_(po_ids), PO.id.in_(select(IC.purchase_order_id)
                                                                       .where(IC.inspector_id == p.id))))
    line_ids = select(POLine.id).where(POLine.purchase_order_id.in_(po_ids))
    product_conds = [Product.id.in_(select(POLine.product_id).where(POLine.purchase_order_id.in_(po_ids))),
                     Product.id.in_(select(IC.product_id).where(IC.id.in_(insp_ids)))]
    template_conds = [ChecklistTemplate.id.in_(select(IC.template_id).where(IC.id.in_(insp_ids)))]
    if p.brand_ids:
        product_conds.append(Product.brand_id.in_(p.brand_ids))
        template_conds.append(ChecklistTemplate.brand_id.in_(p.brand_ids))
    product_ids = select(Product.id).where(or_(*product_conds))
    scope: dict[str, Any] = {
        "inspection": IC.id.in_(insp_ids),
        "template": or_(*template_conds),
        "product": or_(*product_conds),
        "dimension_spec": DimensionSpec.product_id.in_(product_ids),
        "colour_standard": ENTITIES["colour_standard"].table.c.product_id.in_(product_ids),
        "golden_sample": ENTITIES["golden_sample"].table.c.product_id.in_(product_ids),
        "purchase_order": PO.id.in_(po_ids),
        "po_line": POLine.id.in_(line_ids),
        "batch": ENTITIES["batch"].table.c.po_line_id.in_(line_ids),
        "conflict": any_of(ConflictRecord.inspection_id, insp_ids),
    }
    for name in INSPECTION_ROWS:
        scope[name] = any_of(ENTITIES[name].table.c.inspection_id, insp_ids)
    if "progress" in ENTITIES:
        from ..timeline.service import visible_progress_reports

        t = ENTITIES["progress"].table
        scope["progress"] = t.c.id.in_(visible_progress_reports(p).with_only_columns(t.c.id))
    return scope


@dataclass(frozen=True)
class ScopeState:
    """What ``p`` may see, as the cursor names it: ``key`` (a hash of all of it), ``base`` (a hash of
    the organisations and roles) and, for inspectors and factory staff, the ids of the inspections
    and POs they see (``None`` for brand users and admins, who see whole tenants)."""

    key: str
    base: str
    inspections: frozenset[str] | None
    purchase_orders: frozenset[str] | None


def scope_state(p: Principal) -> ScopeState:
    """What ``p`` may see now (two id queries for inspectors and factory staff, none for the others).

    Brand users and admins see whole tenants, so their organisations and roles are the scope.
    Inspectors and factory staff see rows through inspections and POs whose older rows
    (templates, products) a plain "since" would miss, so their sets of inspections and POs are
    part of it: a new assignment streams the older rows it brings (see :func:`_pull`), a
    reassignment away answers 410.
    """
    all_roles = frozenset().union(*(p.roles_in(org) for org in p.orgs))
    parts = ["admin" if p.is_platform_admin else "",
             ",".join(sorted(map(str, p.brand_ids))), ",".join(sorted(map(str, p.factory_ids))),
             ",".join(sorted(r.value for r in all_roles))]
    if len(p.orgs) > 1:
        # Which role in which organisation (left out for one organisation, so those hashes stay as they were).
        parts.append(";".join(f"{org}:{','.join(sorted(r.value for r in p.roles_in(org)))}"
                              for org in sorted(p.orgs, key=str)))
    base = hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]
    if p.is_platform_admin or (p.brand_ids and not (p.factory_ids - p.managed_factory_ids)):
        return ScopeState(base, base, None, None)
    IC, PO = Inspection.__table__.c, PurchaseOrder.__table__.c
    sc = _scope(p)
    insp = sorted(str(i) for i in db.session.scalars(select(IC.id).where(sc["inspection"])))
    pos = sorted(str(i) for i in db.session.scalars(select(PO.id).where(sc["purchase_order"])))
    key = hashlib.sha256("|".join([*parts, ",".join(insp), ",".join(pos)]).encode()).hexdigest()[:24]
    return ScopeState(key, base, frozenset(insp), frozenset(pos))


def _listed_scope(p: Principal, insp_ids: list[uuid.UUID], po_ids: list[uuid.UUID]) -> dict[str, Any]:
    """:func:`_scope` for a user whose visible inspections and POs are listed."""
    IC, PO = Inspection.__table__.c, PurchaseOrder.__table__.c
    line_ids = select(POLine.id).where(any_of(POLine.purchase_order_id, po_ids))
    product_ids = select(POLine.product_id).where(any_of(POLine.purchase_order_id, po_ids)).union(
        select(IC.product_id).where(any_of(IC.id, insp_ids)))
    scope: dict[str, Any] = {
        "inspection": any_of(IC.id, insp_ids),
        "template": ChecklistTemplate.id.in_(select(IC.template_id).where(any_of(IC.id, insp_ids))),
        "product": Product.id.in_(product_ids),
        "dimension_spec": DimensionSpec.product_id.in_(product_ids),
        "colour_standard": ENTITIES["colour_standard"].table.c.product_id.in_(product_ids),
        "golden_sample": ENTITIES["golden_sample"].table.c.product_id.in_(product_ids),
        "purchase_order": any_of(PO.id, po_ids),
        "po_line": any_of(POLine.purchase_order_id, po_ids),
        "batch": ENTITIES["batch"].table.c.po_line_id.in_(line_ids),
        "conflict": any_of(ConflictRecord.inspection_id, insp_ids),
    }
    for name in INSPECTION_ROWS:
        scope[name] = any_of(ENTITIES[name].table.c.inspection_id, insp_ids)
    if "progress" in ENTITIES:
        from ..timeline.service import visible_progress_reports

        t = ENTITIES["progress"].table
        scope["progress"] = t.c.id.in_(visible_progress_reports(p).with_only_columns(t.c.id))
    return scope


def scope_hash(p: Principal) -> str:
    """A short hash of what ``p`` may see (see :func:`scope_state`)."""
    return scope_state(p).key


def _remember(state: ScopeState) -> None:
    """Store the id sets behind ``state.key`` (once: a key names one content), so a later pull can
    tell what was added to them. Called when a cursor first names this scope."""
    if state.inspections is None:
        return
    row = {"key": state.key, "base": state.base, "inspections": sorted(state.inspections),
           "purchase_orders": sorted(state.purchase_orders), "created_at": utcnow()}
    table = SyncScopeSet.__table__
    # Its own short transaction (on its own connection): the pull's stays a read.
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(pg_insert(table).values(row).on_conflict_do_nothing())
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            conn.execute(sqlite_insert(table).values(row).on_conflict_do_nothing())


#: Stored scopes already read (a key names one content for good).
_SCOPES: dict[str, ScopeState] = {}


def _stored(key: str) -> ScopeState | None:
    state = _SCOPES.get(key)
    if state is None:
        row = db.session.execute(select(SyncScopeSet).where(SyncScopeSet.key == key)).scalar_one_or_none()
        if row is None:
            return None
        state = ScopeState(row.key, row.base, frozenset(row.inspections), frozenset(row.purchase_orders))
        if len(_SCOPES) > 10_000:
            _SCOPES.clear()
        _SCOPES[key] = state
    return state


def _added(old_key: str, now: ScopeState) -> tuple[list[uuid.UUID], list[uuid.UUID]] | None:
    """The inspections and POs ``now`` has that the scope ``old_key`` had not, or None when the
    phone must start again (organisations or roles changed, something was taken away, or the old
    scope is unknown)."""
    old = _stored(old_key)
    if old is None or now.inspections is None or old.base != now.base:
        return None
    if old.inspections - now.inspections or old.purchase_orders - now.purchase_orders:
        return None
    return ([uuid.UUID(i) for i in sorted(now.inspections - old.inspections)],
            [uuid.UUID(i) for i in sorted(now.purchase_orders - old.purchase_orders)])


def _fill_scope(p: Principal, insp_ids: list[uuid.UUID], po_ids: list[uuid.UUID]) -> dict[str, Any]:
    """Per-entity conditions for the rows that newly visible inspections and POs bring, within what ``p`` sees."""
    IC, PO = Inspection.__table__.c, PurchaseOrder.__table__.c
    products = select(IC.product_id).where(IC.id.in_(insp_ids)).union(
        select(POLine.product_id).where(POLine.purchase_order_id.in_(po_ids)))
    lines = select(POLine.id).where(POLine.purchase_order_id.in_(po_ids))
    fill: dict[str, Any] = {
        "inspection": IC.id.in_(insp_ids),
        "template": ChecklistTemplate.id.in_(select(IC.template_id).where(IC.id.in_(insp_ids))),
        "product": Product.id.in_(products),
        "dimension_spec": DimensionSpec.product_id.in_(products),
        "colour_standard": ENTITIES["colour_standard"].table.c.product_id.in_(products),
        "golden_sample": ENTITIES["golden_sample"].table.c.product_id.in_(products),
        "purchase_order": PO.id.in_(po_ids),
        "po_line": POLine.purchase_order_id.in_(po_ids),
        "batch": ENTITIES["batch"].table.c.po_line_id.in_(lines),
        "conflict": ConflictRecord.inspection_id.in_(insp_ids),
    }
    for name in INSPECTION_ROWS:
        fill[name] = ENTITIES[name].table.c.inspection_id.in_(insp_ids)
    if "progress" in ENTITIES:
        fill["progress"] = ENTITIES["progress"].table.c.purchase_order_id.in_(po_ids)
    scope = _scope(p)
    missing = set(ENTITIES) - set(fill)
    if missing:  # an entity this module does not know how a scope brings: refuse to guess
        raise LookupError(f"no fill rule for {sorted(missing)}")
    return {name: cond if scope[name] is None else and_(cond, scope[name]) for name, cond in fill.items()}


def pull(p: Principal, token: str | None, limit: int) -> dict[str, Any]:
    """Changes after the cursor that ``p`` may see, in ascending revision (commit) order.

    Answers ``{"changes", "cursor", "has_more"}``. Raises ``Gone`` (410, ``must_resync``)
    when the cursor predates purged tombstones or the user's scope changed, and
    ``ValidationFailed`` for a cursor this server did not give out.
    """
    paused = gc.isenabled()
    gc.disable()  # see push: a page is many short-lived dicts
    sqlite = db.engine.dialect.name == "sqlite"
    try:
        if sqlite:
            db.session.commit()  # end the sign-in's transaction: the pull's own starts deferred
        with revisions.reading():
            try:
                return _pull(p, token, limit)
            finally:
                if sqlite:  # and ends here, so that whatever follows in this session may write
                    db.session.rollback()
    finally:
        if paused:
            gc.enable()


def _pull(p: Principal, token: str | None, limit: int) -> dict[str, Any]:
    s = db.session
    cursor = Cursor.decode(token)
    upper = revisions.safe_revision(s)
    purged, history_id = s.execute(select(SyncCounter.purged_through, SyncCounter.history_id)
                                   .where(SyncCounter.id == 1)).one()
    if cursor is not None:
        # Restored from a backup since the cursor was made? (server.sync.history)
        history.check(s, rev=cursor.rev, history=cursor.history, fp=cursor.fp, upper=upper, current=history_id)
    # The scope's id lists are listed once per run of pages: a page that continues one (``more``)
    # reuses those its cursor names.
    state = _stored(cursor.scope) if cursor is not None and cursor.more else None
    if state is None:
        state = scope_state(p)
    if cursor is None or cursor.scope != state.key:
        _remember(state)
    if cursor is None:
        cursor = Cursor(0, state.key, upper)
    elif cursor.scope != state.key:
        added = _added(cursor.scope, state) if cursor.fill is None else None
        if added is None:
            raise Gone("What you may see has changed: push your changes, then pull again from the start.",
                       must_resync=True, reason="scope_changed")
        # Newly assigned: stream the older rows it brings (up to the cursor), then carry on from the cursor.
        cursor = replace(cursor, scope=state.key, fill={"from": cursor.scope, "through": cursor.rev, "after": 0})
    if purged > max(cursor.rev, cursor.since or 0):
        raise Gone("Your copy is older than the deleted records this server keeps: push your changes, "
                   "then pull again from the start.", must_resync=True, reason="cursor_expired")
    if cursor.fill is not None:
        return _fill_page(p, cursor, state, limit)
    scope = _scope(p, state)
    found: list[tuple[int, Entity, dict]] = []
    changed = _tables_with_changes(cursor.rev, upper)
    for name, ent in ENTITIES.items():
        if name not in changed:
            continue
        t = ent.table
        q = select(t).where(t.c.rev > cursor.rev, t.c.rev <= upper).order_by(t.c.rev).limit(limit + 1)
        if scope[name] is not None:
            q = q.where(scope[name])
        if cursor.since is not None:
            # An initial sync has nothing to delete: skip tombstones it would never have seen.
            q = q.where(or_(t.c.deleted.is_(False), t.c.rev > cursor.since))
        found.extend(_rows(ent, q))
    found.sort(key=lambda x: x[0])
    has_more = len(found) > limit
    page = found[:limit]
    next_rev = page[-1][0] if has_more else upper
    since = cursor.since if (cursor.since is not None and has_more) else None
    rev = max(next_rev, cursor.rev)
    return _answer(page, Cursor(rev, state.key, since, history=history_id, fp=history.fingerprint(s, rev),
                                more=has_more or None), has_more)


def _rows(ent: Entity, q) -> list[tuple[int, Entity, dict]]:
    result = db.session.execute(q)
    keys = tuple(result.keys())
    return [(row["rev"], ent, row) for row in (dict(zip(keys, r, strict=True)) for r in result.all())]


def _answer(page: list[tuple[int, Entity, dict]], cursor: Cursor, has_more: bool) -> dict[str, Any]:
    extras = _names(page)
    # UUIDs and datetimes are left for the answer's encoder (server.jsontext), which writes them as jsonable() would.
    changes = [serialise_change(ent, row, extras, native=True) for _, ent, row in page]
    return {"changes": changes, "cursor": cursor.encode(), "has_more": has_more}


def _fill_page(p: Principal, cursor: Cursor, state: ScopeState, limit: int) -> dict[str, Any]:
    """A page of the older rows (revision up to ``fill.through``, tombstones left out) that the
    inspections and POs added since scope ``fill.from`` bring; when they are all sent, the phone
    carries on from its cursor (``has_more`` stays true for that)."""
    fill = cursor.fill
    added = _added(fill["from"], state)
    if added is None:
        raise Gone("What you may see has changed: push your changes, then pull again from the start.",
                   must_resync=True, reason="scope_changed")
    conds = _fill_scope(p, *added)
    found: list[tuple[int, Entity, dict]] = []
    for name, ent in ENTITIES.items():
        t = ent.table
        q = (select(t).where(t.c.rev > fill["after"], t.c.rev <= fill["through"], t.c.deleted.is_(False), conds[name])
             .order_by(t.c.rev).limit(limit + 1))
        found.extend(_rows(ent, q))
    found.sort(key=lambda x: x[0])
    page = found[:limit]
    rest = {**fill, "after": page[-1][0]} if len(found) > limit else None
    return _answer(page, replace(cursor, fill=rest, more=None), True)


def _tables_with_changes(after: int, upper: int) -> set[str]:
    """Entities with any change (anyone's) in ``after < rev <= upper``: one indexed probe per table, in one query.

    Spares a page the scoped query of every table that has nothing new, which is most of them.
    """
    row = db.session.execute(_change_probe(), {"after": after, "upper": upper}).one()
    return {name for name, first in zip(ENTITIES, row, strict=True) if first is not None}


@functools.lru_cache(maxsize=1)
def _change_probe():
    """The probe of :func:`_tables_with_changes`, built once (24 subqueries cost more to build than to run)."""
    after, upper = bindparam("after", type_=BigInteger), bindparam("upper", type_=BigInteger)
    return select(*(select(func.min(ent.table.c.rev)).where(ent.table.c.rev > after, ent.table.c.rev <= upper)
                    .scalar_subquery().label(name) for name, ent in ENTITIES.items()))


_NOT_FIELDS = TOP_LEVEL | HIDDEN_COLUMNS


def serialise_change(ent: Entity, row: dict, extras: dict | None = None, native: bool = False) -> dict:
    """One row as a pulled change: ``entity``, ``id``, ``rev``, ``deleted`` and its ``fields``.

    ``native`` leaves UUIDs, datetimes and dates as they are, for an encoder that writes them
    as :func:`jsonable` does (:func:`server.jsontext.dumps_bytes`).
    """
    if row["deleted"]:
        fields: dict[str, Any] = {}
    elif native:
        fields = {k: v for k, v in row.items() if k not in _NOT_FIELDS}
    else:
        fields = {k: jsonable(v) for k, v in row.items() if k not in _NOT_FIELDS}
    if fields and extras is not None:
        _add_names(ent.name, fields, row, extras)
    return {"entity": ent.name, "id": str(row["id"]), "rev": row["rev"], "deleted": bool(row["deleted"]),
            "fields": fields}


def _names(page: list) -> dict[str, dict]:
    """Names a phone's lists show, for the inspections and POs on this page (a few queries per page)."""
    orgs, pos, products, users = set(), set(), set(), set()
    for _, ent, row in page:
        if row["deleted"]:
            continue
        if ent.name == "inspection":
            pos.add(row["purchase_order_id"])
            products.add(row["product_id"])
            if row["inspector_id"]:
                users.add(row["inspector_id"])
        elif ent.name == "purchase_order":
            orgs.update((row["brand_id"], row["factory_id"]))
    s = db.session
    out: dict[str, dict] = {"org": {}, "po": {}, "product": {}, "user": {}}
    if pos:
        for pid, number, brand, factory in s.execute(select(PurchaseOrder.id, PurchaseOrder.po_number,
                                                            PurchaseOrder.brand_id, PurchaseOrder.factory_id)
                                                     .where(PurchaseOrder.id.in_(pos))):
            out["po"][pid] = (number, brand, factory)
            orgs.update((brand, factory))
    if orgs:
        out["org"] = dict(s.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(orgs))).all())
    if products:
        out["product"] = {i: (sku, name) for i, sku, name in
                          s.execute(select(Product.id, Product.sku, Product.name).where(Product.id.in_(products)))}
    if users:
        out["user"] = dict(s.execute(select(User.id, User.name).where(User.id.in_(users))).all())
    return out


def _add_names(name: str, fields: dict, row: dict, extras: dict) -> None:
    if name == "inspection":
        number, brand, factory = extras["po"].get(row["purchase_order_id"], (None, None, None))
        sku, product_name = extras["product"].get(row["product_id"], (None, None))
        fields.update(po_number=number, brand_name=extras["org"].get(brand), factory_name=extras["org"].get(factory),
                      product_sku=sku, product_name=product_name,
                      inspector_name=extras["user"].get(row["inspector_id"]))
    elif name == "purchase_order":
        fields.update(brand_name=extras["org"].get(row["brand_id"]), factory_name=extras["org"].get(row["factory_id"]))


