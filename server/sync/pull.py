"""The sync protocol's pull side: changes out, in commit order, one page at a time.

Pull
    Changes with ``cursor < rev <= V`` where ``V`` is the counter's committed value read
    first: revisions are handed out under the counter's lock in commit order, so every
    revision up to ``V`` is committed and visible to the queries that follow.
"""
from __future__ import annotations

import base64
import functools
import gc
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, bindparam, func, or_, select

from ..accounts.models import Organisation, User
from ..auth import Principal
from ..catalog.models import DimensionSpec, POLine, Product, PurchaseOrder
from ..errors import Gone, ValidationFailed
from ..extensions import db
from ..inspect.models import ChecklistTemplate, Inspection
from ..jsontext import jsonable
from .entities import ENTITIES, HIDDEN_COLUMNS, INSPECTION_ROWS, TOP_LEVEL, Entity
from . import history
from .ids import any_of
from .models import ConflictRecord, SyncCounter

CURSOR_VERSION = 1


@dataclass(frozen=True)
class Cursor:
    """Where a phone is in the change feed. Opaque to phones (base64 of JSON)."""

    rev: int = 0
    scope: str = ""
    since: int | None = None  # set while an initial sync is paging: tombstones up to it are skipped
    history: str | None = None  # the history id it was made in (server.sync.history); None in older cursors
    fp: str | None = None  # the fingerprint of the commit that took ``rev``

    def encode(self) -> str:
        data = {"v": CURSOR_VERSION, "rev": self.rev, "scope": self.scope, "since": self.since}
        if self.history is not None:
            data.update(h=self.history, fp=self.fp or "")
        raw = json.dumps(data, separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str | None) -> Cursor | None:
        """The cursor in ``token``, or None for a fresh start. Raises ``ValidationFailed`` when unreadable."""
        if token in (None, "", "null"):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            if data.get("v") != CURSOR_VERSION:
                raise ValueError
            rev, scope, since = data["rev"], data["scope"], data.get("since")
            history, fp = data.get("h"), data.get("fp")
            if not isinstance(rev, int) or not isinstance(scope, str) or not (since is None or isinstance(since, int)):
                raise ValueError
            if not all(x is None or isinstance(x, str) for x in (history, fp)):
                raise ValueError
        except (ValueError, TypeError, KeyError, AttributeError):
            raise ValidationFailed("The cursor is not one this server gave out.",
                                   errors={"cursor": ["Not a valid cursor; pull from the start."]}) from None
        return cls(rev, scope, since, history, fp)


def _scope(p: Principal) -> dict[str, Any]:
    """Per-entity conditions on what ``p`` may see (None = everything), tombstones included."""
    if p.is_platform_admin:
        return {name: None for name in ENTITIES}
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


def scope_hash(p: Principal) -> str:
    """A short hash of what ``p`` may see; when it changes, the phone must resync.

    Brand users and admins see whole tenants, so their organisations and roles are the
    scope. Inspectors and factory staff see rows through inspections and POs whose older
    rows (templates, products) a plain "since" would miss, so their sets of inspections and
    POs are part of it: a new assignment or a reassignment away both answer 410.
    """
    all_roles = frozenset().union(*(p.roles_in(org) for org in p.orgs))
    parts = ["admin" if p.is_platform_admin else "",
             ",".join(sorted(map(str, p.brand_ids))), ",".join(sorted(map(str, p.factory_ids))),
             ",".join(sorted(r.value for r in all_roles))]
    if len(p.orgs) > 1:
        # Which role in which organisation (left out for one organisation, so those hashes stay as they were).
        parts.append(";".join(f"{org}:{','.join(sorted(r.value for r in p.roles_in(org)))}"
                              for org in sorted(p.orgs, key=str)))
    if not p.is_platform_admin and (not p.brand_ids or p.factory_ids - p.managed_factory_ids):
        IC = Inspection.__table__.c
        sc = _scope(p)
        parts.append(",".join(sorted(str(i) for i in db.session.scalars(select(IC.id).where(sc["inspection"])))))
        PO = PurchaseOrder.__table__.c
        parts.append(",".join(sorted(str(i) for i in db.session.scalars(select(PO.id).where(sc["purchase_order"])))))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def pull(p: Principal, token: str | None, limit: int) -> dict[str, Any]:
    """Changes after the cursor that ``p`` may see, in ascending revision (commit) order.

    Answers ``{"changes", "cursor", "has_more"}``. Raises ``Gone`` (410, ``must_resync``)
    when the cursor predates purged tombstones or the user's scope changed, and
    ``ValidationFailed`` for a cursor this server did not give out.
    """
    paused = gc.isenabled()
    gc.disable()  # see push: a page is many short-lived dicts
    try:
        return _pull(p, token, limit)
    finally:
        if paused:
            gc.enable()


def _pull(p: Principal, token: str | None, limit: int) -> dict[str, Any]:
    s = db.session
    cursor = Cursor.decode(token)
    counter = s.execute(select(SyncCounter.value, SyncCounter.purged_through, SyncCounter.history_id)
                        .where(SyncCounter.id == 1)).one()
    upper, purged, history_id = counter.value, counter.purged_through, counter.history_id
    if cursor is not None:
        # Restored from a backup since the cursor was made? (server.sync.history)
        history.check(s, rev=cursor.rev, history=cursor.history, fp=cursor.fp, upper=upper, current=history_id)
        if purged > max(cursor.rev, cursor.since or 0):
            raise Gone("Your copy is older than the deleted records this server keeps: push your changes, "
                       "then pull again from the start.", must_resync=True, reason="cursor_expired")
    scope_key = scope_hash(p)
    if cursor is None:
        cursor = Cursor(0, scope_key, upper)
    elif cursor.scope != scope_key:
        raise Gone("What you may see has changed: push your changes, then pull again from the start.",
                   must_resync=True, reason="scope_changed")
    scope = _scope(p)
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
        result = s.execute(q)
        keys = tuple(result.keys())
        found.extend((row["rev"], ent, row) for row in (dict(zip(keys, r, strict=True)) for r in result.all()))
    found.sort(key=lambda x: x[0])
    has_more = len(found) > limit
    page = found[:limit]
    extras = _names(page)
    # UUIDs and datetimes are left for the answer's encoder (server.jsontext), which writes them as jsonable() would.
    changes = [serialise_change(ent, row, extras, native=True) for _, ent, row in page]
    next_rev = page[-1][0] if has_more else upper
    since = cursor.since if (cursor.since is not None and has_more) else None
    rev = max(next_rev, cursor.rev)
    return {"changes": changes, "cursor": Cursor(rev, scope_key, since, history_id,
                                                 history.fingerprint(s, rev)).encode(),
            "has_more": has_more}


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


