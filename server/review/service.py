"""Review rules: the queue of flagged photos, decisions, drift per batch and its alerts.

Every read is scoped to the caller's brands: a photo, batch, alert or webhook of another
brand is reported as ``NotFound``, exactly like one that does not exist. Only brand
reviewers and admins decide or acknowledge (``Forbidden`` for anyone else).

Deliveries (webhooks, e-mail) are written as outbox rows in the same transaction as the
event and sent by Celery tasks after the commit (:func:`commit_and_dispatch`), so a slow or
failing endpoint never holds up a decision, an analysis or another endpoint.
"""
from __future__ import annotations

import functools
import logging
import math
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from flask import current_app
from sqlalchemy import String, case, cast, event, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..accounts.models import Organisation, User
from ..audit import record_audit
from ..auth import Action, Principal, roles_granting
from ..catalog.models import Batch, ColourStandard, GoldenSample, POLine, Product, PurchaseOrder
from ..catalog.service import reference_golden_sample, visible_batches
from ..errors import Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..inspect import drift as drift_stats
from ..inspect.color import delta_e_cie2000
from ..inspect.models import Comment, Inspection, Photo, ReviewDecision
from ..inspect import rules as inspect_rules
from ..inspect.rules import InspectionState
from ..models import utcnow
from .models import OPEN_SLOT, DriftAlert, WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

DECISIONS = ("accept", "reject", "retake")
DECISION_STATE = {"accept": "accepted", "reject": "rejected", "retake": "retake"}
#: Queue states: ``pending`` is every flagged photo not yet decided.
QUEUE_STATES = ("pending", "accepted", "rejected", "retake", "all")
_PENDING = ("none", "open")
_DISPATCH_KEY = "lineside.review.dispatch"
_LEVEL_RANK = {drift_stats.LEVEL_WARNING: 1, drift_stats.LEVEL_ALARM: 2}


# -- scope -------------------------------------------------------------------------------------

def _require_reviewer(p: Principal) -> None:
    """Raise ``Forbidden`` unless the principal reviews for some brand (or is a platform admin);
    :func:`_brand_scope` then limits each row to the brands they review for."""
    if not (p.is_platform_admin or p.orgs_where(Action.edit_brand)):
        raise Forbidden("Only the brand's reviewers and admins may do this.")


def _brand_scope(p: Principal, column):
    """A where-clause limiting ``column`` (a brand id) to the brands the principal reviews for
    (their admin or reviewer role there; being, say, an inspector of a brand is not enough)."""
    if p.is_platform_admin:
        return true()
    return column.in_(p.orgs_where(Action.edit_brand))


def _photo_rows(p: Principal):
    """Photos with their inspection, PO, batch and product, limited to the caller's brands."""
    return (select(Photo, Inspection, PurchaseOrder, Product)
            .join(Inspection, Inspection.id == Photo.inspection_id)
            .join(PurchaseOrder, PurchaseOrder.id == Inspection.purchase_order_id)
            .join(Product, Product.id == Inspection.product_id)
            .where(Photo.deleted.is_(False), Inspection.deleted.is_(False),
                   _brand_scope(p, PurchaseOrder.brand_id)))


def severity_rank():
    """SQL expression: 3 out of tolerance, 2 unusable, 1 low confidence or flagged by the inspector."""
    return case((Photo.analysis_status == "fail", 3), (Photo.analysis_status == "unusable", 2), else_=1)


SEVERITY_NAMES = {3: "high", 2: "medium", 1: "low"}


def review_queue(p: Principal, filters: dict[str, Any]):
    """The select of flagged photos the reviewer may decide, most severe first, then oldest first.

    ``filters``: ``purchase_order_id``, ``batch_id``, ``product_id``, ``factory_id``, ``reason``
    (a flag reason code, or ``inspector`` for photos the inspector flagged) and ``state``
    (see :data:`QUEUE_STATES`, default ``pending``). Raises ``Forbidden`` for non-reviewers.
    """
    _require_reviewer(p)
    q = _photo_rows(p).where(or_(Photo.flagged.is_(True), Photo.flagged_by_inspector.is_(True)))
    if "purchase_order_id" in filters:
        q = q.where(Inspection.purchase_order_id == filters["purchase_order_id"])
    if "batch_id" in filters:
        q = q.where(Inspection.batch_id == filters["batch_id"])
    if "product_id" in filters:
        q = q.where(Inspection.product_id == filters["product_id"])
    if "factory_id" in filters:
        q = q.where(PurchaseOrder.factory_id == filters["factory_id"])
    reason = filters.get("reason")
    if reason == "inspector":
        q = q.where(Photo.flagged_by_inspector.is_(True))
    elif reason:
        # flag_reasons is a JSON list of codes; match the quoted code in its text (portable).
        q = q.where(cast(Photo.flag_reasons, String).contains(f'"{reason}"', autoescape=True))
    state = filters.get("state", "pending")
    if state == "pending":
        q = q.where(Photo.review_state.in_(_PENDING))
    elif state != "all":
        q = q.where(Photo.review_state == state)
    return q.order_by(severity_rank().desc(), Photo.created_at.asc(), Photo.id)


def queue_item(row) -> dict[str, Any]:
    """One queue row (photo, inspection, PO, product) as plain data for the schema."""
    photo, insp, po, product = row
    analysis = photo.analysis if isinstance(photo.analysis, dict) else {}
    rank = 3 if photo.analysis_status == "fail" else 2 if photo.analysis_status == "unusable" else 1
    reasons = list(photo.flag_reasons or [])
    if photo.flagged_by_inspector and "inspector" not in reasons:
        reasons.append("inspector")
    batch = db.session.get(Batch, insp.batch_id) if insp.batch_id else None
    return {
        "photo_id": photo.id, "inspection_id": insp.id, "review_state": photo.review_state,
        "severity": SEVERITY_NAMES[rank], "severity_rank": rank, "flag_reasons": reasons,
        "flagged_by_inspector": photo.flagged_by_inspector, "analysis_status": photo.analysis_status,
        "confidence": analysis.get("confidence"), "delta_e_cie2000": analysis.get("delta_e_cie2000"),
        "taken_at": photo.taken_at, "created_at": photo.created_at,
        "purchase_order": {"id": po.id, "po_number": po.po_number},
        "batch": {"id": batch.id, "code": batch.code} if batch else None,
        "product": {"id": product.id, "sku": product.sku, "name": product.name},
        "factory_id": po.factory_id,
        "photo_url": signed_url(photo.storage_key, photo.content_type),
        "overlay_url": signed_url(photo.overlay_key, "image/png"),
    }


def signed_url(key: str | None, content_type: str | None = None) -> str | None:
    """A short-lived signed image URL for a storage key, or None when there is no key or no storage.

    The link answers with a forced image type (see ``server.storage.uploads.signed_image_url``).
    """
    if not key:
        return None
    try:
        from ..storage.uploads import signed_image_url

        return signed_image_url(key, content_type)
    except Exception:  # a bad key or an unreachable store must not break the queue
        log.warning("no signed URL for %s", key, exc_info=True)
        return None


def brand_photo_keys(brand_id: uuid.UUID, keys: list[str]) -> list[tuple[str, str]]:
    """Of ``keys``, those that hold a stored photo (or its overlay) of one of the brand's own inspections,
    with the photo's type, in the order given.

    A golden sample's ``reference_photos`` is free text from an editor: signing whatever key it
    names would let one tenant read another's bytes.
    """
    wanted = [k for k in keys if isinstance(k, str) and k][:50]
    if not wanted:
        return []
    rows = db.session.execute(
        select(Photo.storage_key, Photo.overlay_key, Photo.content_type)
        .join(Inspection, Photo.inspection_id == Inspection.id)
        .join(PurchaseOrder, Inspection.purchase_order_id == PurchaseOrder.id)
        .where(PurchaseOrder.brand_id == brand_id, Photo.deleted.is_(False),
               or_(Photo.storage_key.in_(wanted), Photo.overlay_key.in_(wanted)))).all()
    types: dict[str, str] = {}
    for storage_key, overlay_key, content_type in rows:
        if storage_key:
            types[storage_key] = content_type
        if overlay_key:
            types.setdefault(overlay_key, "image/png")
    return [(k, types[k]) for k in wanted if k in types]


def get_photo_row(p: Principal, photo_id: uuid.UUID):
    """The (photo, inspection, PO, product) row. Raises ``Forbidden``, or ``NotFound`` outside the brand."""
    _require_reviewer(p)
    row = db.session.execute(_photo_rows(p).where(Photo.id == photo_id)).first()
    if row is None:
        raise NotFound("No such photo.")
    return row


def photo_detail(p: Principal, photo_id: uuid.UUID) -> dict[str, Any]:
    """Everything a reviewer needs to decide on one photo.

    The photo and its overlay, the golden sample's reference photos (signed URLs), measured
    values against the tolerances, the inspection's context, and earlier decisions and comments.
    Raises ``Forbidden`` or ``NotFound``.
    """
    row = get_photo_row(p, photo_id)
    photo, insp, po, product = row
    item = queue_item(row)
    golden = (db.session.get(GoldenSample, insp.golden_sample_id) if insp.golden_sample_id
              else reference_golden_sample(None if insp.batch_id is None else db.session.get(Batch, insp.batch_id).po_line,
                                           product.id))
    analysis = photo.analysis if isinstance(photo.analysis, dict) else {}
    item["analysis"] = analysis
    item["golden_sample"] = None if golden is None else {
        "id": golden.id, "version": golden.version, "measured": golden.measured,
        "reference_urls": [u for u in (signed_url(k, ct) for k, ct in
                                       brand_photo_keys(po.brand_id, list(golden.reference_photos or []))) if u]}
    item["measurements"] = _measurements(analysis, product, golden)
    inspector = db.session.get(User, insp.inspector_id) if insp.inspector_id else None
    factory = db.session.get(Organisation, po.factory_id)
    item["context"] = {
        "inspection_kind": insp.kind, "inspection_status": insp.status, "verdict": insp.verdict,
        "inspector_name": inspector.name if inspector else None, "factory_name": factory.name if factory else None,
        "item_key": photo.item_key, "unit_index": photo.unit_index, "sequence": photo.sequence,
        "scheduled_for": insp.scheduled_for,
    }
    item["decisions"] = db.session.scalars(select(ReviewDecision).where(
        ReviewDecision.photo_id == photo.id, ReviewDecision.deleted.is_(False))
        .order_by(ReviewDecision.created_at, ReviewDecision.rev)).all()
    item["comments"] = db.session.scalars(select(Comment).where(
        Comment.photo_id == photo.id, Comment.deleted.is_(False)).order_by(Comment.created_at, Comment.rev)).all()
    return item


def _measurements(analysis: dict, product: Product, golden: GoldenSample | None) -> list[dict[str, Any]]:
    """Measured values next to their nominal and tolerance, and whether each is within it."""
    out: list[dict[str, Any]] = []
    de = analysis.get("delta_e_cie2000")
    standards = [s for s in product.colour_standards if not s.deleted]
    std = _standard_for(analysis, standards)
    if std is not None:
        within = None if not _finite(de) else float(de) <= std.delta_e_tolerance
        out.append({"name": f"colour ({std.name})", "kind": "colour", "value": de, "unit": "ΔE00",
                    "nominal": 0.0, "tolerance": std.delta_e_tolerance, "within": within,
                    "lab": analysis.get("lab"), "reference_lab": _reference_lab(std, standards, golden)})
    for spec in product.dimension_specs:
        if spec.deleted:
            continue
        value = analysis.get(f"{spec.name}_mm")
        if value is None:
            continue
        within = None if not _finite(value) else abs(float(value) - spec.nominal_mm) <= spec.tolerance_mm
        out.append({"name": spec.name, "kind": "dimension", "value": value, "unit": "mm",
                    "nominal": spec.nominal_mm, "tolerance": spec.tolerance_mm, "within": within})
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# -- decisions and comments ------------------------------------------------------------------

def decide(p: Principal, photo_id: uuid.UUID, decision: str, comment: str) -> ReviewDecision:
    """Accept, reject or ask for a retake of a flagged photo, with a comment.

    Writes a :class:`ReviewDecision` (and a :class:`Comment` when there is text), both synced
    rows that reach the inspector's phone by pull; a ``retake`` decision stays ``resolved=False``
    until the phone marks it done, which is the retake task. The photo's ``review_state``
    follows, and the audit trail records both. Raises ``Forbidden``, ``NotFound``, and
    ``ValidationFailed`` for an unknown decision or a reject/retake without a comment.
    """
    photo, insp, po, product = get_photo_row(p, photo_id)
    inspect_rules.check_write(p, "decision", "create", InspectionState(insp, po.brand_id, po.factory_id))
    comment = (comment or "").strip()
    if decision not in DECISIONS:
        raise ValidationFailed(errors={"decision": [f"Must be one of: {', '.join(DECISIONS)}."]})
    if decision != "accept" and not comment:
        raise ValidationFailed(errors={"comment": ["Say what is wrong, so the inspector knows what to do."]})
    dec = ReviewDecision(id=uuid.uuid4(), inspection_id=insp.id, photo_id=photo.id, reviewer_id=p.id,
                         decision=decision, comment=comment, resolved=decision != "retake")
    db.session.add(dec)
    old_state = photo.review_state
    photo.review_state = DECISION_STATE[decision]
    if comment:
        db.session.add(Comment(id=uuid.uuid4(), inspection_id=insp.id, photo_id=photo.id, author_id=p.id,
                               body=comment))
    record_audit("decision", dec.id, insp.id, "decision", {"decision": [None, decision], "comment": [None, comment]},
                 p.id)
    record_audit("photo", photo.id, insp.id, "decision", {"review_state": [old_state, photo.review_state]}, p.id)
    commit_and_dispatch()
    return dec


def add_comment(p: Principal, photo_id: uuid.UUID, body: str) -> Comment:
    """Comment on a photo without deciding; the comment reaches the inspector's phone by pull.

    Raises ``Forbidden``, ``NotFound`` and ``ValidationFailed`` for an empty body.
    """
    photo, insp, po, _ = get_photo_row(p, photo_id)
    inspect_rules.check_write(p, "comment", "create", InspectionState(insp, po.brand_id, po.factory_id))
    body = (body or "").strip()
    if not body:
        raise ValidationFailed(errors={"body": ["Write something."]})
    c = Comment(id=uuid.uuid4(), inspection_id=insp.id, photo_id=photo.id, author_id=p.id, body=body)
    db.session.add(c)
    record_audit("comment", c.id, insp.id, "create", {"body": [None, body]}, p.id)
    commit_and_dispatch()
    return c


# -- drift per batch -------------------------------------------------------------------------

@dataclass(frozen=True)
class SeriesDrift:
    """The drift of one (batch, standard): the statistics plus what each point was."""

    kind: str  # colour | dimension
    standard_id: uuid.UUID
    standard_name: str
    reference: list[float]
    photo_ids: tuple[uuid.UUID, ...]
    result: drift_stats.DriftResult


def drift_settings(kind: str = "colour") -> dict[str, Any]:
    """The drift chart settings from the app config: λ, L, baseline size and, when configured, σ.

    ``DRIFT_SIGMA_LAB`` (one value or ``"L,a,b"``) and ``DRIFT_SIGMA_MM`` replace the σ
    estimate for colour and dimension charts; an unreadable value is ignored with a warning.
    """
    cfg = current_app.config
    out: dict[str, Any] = {"lam": float(cfg["DRIFT_EWMA_LAMBDA"]), "limit_width": float(cfg["DRIFT_EWMA_L"]),
                           "baseline_points": int(cfg.get("DRIFT_BASELINE_POINTS", 30))}
    raw = str(cfg.get("DRIFT_SIGMA_LAB" if kind == "colour" else "DRIFT_SIGMA_MM") or "").strip()
    if raw:
        try:
            values = tuple(float(v) for v in raw.split(","))
            if len(values) not in ((1, 3) if kind == "colour" else (1,)) or min(values) <= 0:
                raise ValueError(raw)
            out["sigma"] = values[0] if len(values) == 1 else values
        except ValueError:
            log.warning("ignoring drift sigma setting %r for %s charts", raw, kind)
    return out


@functools.lru_cache(maxsize=32)
def _colour_limit_width(lam: float, limit_width: float) -> float:
    """The per-component limit width of the three colour charts (an ARL integral: cached)."""
    return float(drift_stats.component_limit_width(lam, limit_width, 3))


def _colour_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """Colour chart settings with the family-wise limit width computed once per (λ, L)."""
    return {**settings, "limit_width": _colour_limit_width(settings["lam"], settings["limit_width"]),
            "adjust_for_multiple_charts": False}


def batch_photos(batch_id: uuid.UUID) -> list[Photo]:
    """Analysed photos of a batch in production order.

    Order: ``Photo.sequence`` where the inspector set it (those first, by sequence), then the
    rest by ``taken_at`` (the phone's clock), falling back to ``created_at``; ties by id.
    Unusable photos are left out: they measure nothing.
    """
    photos = db.session.scalars(
        select(Photo).join(Inspection, Inspection.id == Photo.inspection_id)
        .where(Inspection.batch_id == batch_id, Inspection.deleted.is_(False), Photo.deleted.is_(False),
               Photo.analysis_status.in_(("pass", "fail")))).all()
    photos = [ph for ph in photos if isinstance(ph.analysis, dict)]

    def key(ph: Photo):
        when = ph.taken_at or ph.created_at
        return (ph.sequence is None, ph.sequence or 0, when.timestamp() if when else 0.0, str(ph.id))

    return sorted(photos, key=key)


def _standard_for(analysis: dict, standards: list[ColourStandard]) -> ColourStandard | None:
    """The colour standard a photo was measured against: named in the analysis, the only one,
    or the nearest (ΔE00) to the measured colour."""
    if not standards:
        return None
    named = analysis.get("colour_standard_id")
    for s in standards:
        if named and str(s.id) == str(named):
            return s
    if len(standards) == 1:
        return standards[0]
    lab = analysis.get("lab")
    if not (isinstance(lab, list) and len(lab) == 3 and all(_finite(v) for v in lab)):
        return None
    refs = np.array([s.lab for s in standards], dtype=float)
    return standards[int(np.argmin(delta_e_cie2000(np.array([lab] * len(standards), dtype=float), refs)))]


def _reference_lab(std: ColourStandard, standards: list[ColourStandard], golden: GoldenSample | None) -> list[float]:
    """The golden sample's measured colour for a standard, else the standard's own Lab."""
    measured = golden.measured if golden is not None and isinstance(golden.measured, dict) else {}
    per_name = (measured.get("colours") or {}).get(std.name)
    if isinstance(per_name, list) and len(per_name) == 3:
        return [float(v) for v in per_name]
    if len(standards) == 1 and isinstance(measured.get("lab"), list) and len(measured["lab"]) == 3:
        return [float(v) for v in measured["lab"]]
    return std.lab


def _batch_context(batch: Batch) -> tuple[Product, PurchaseOrder, GoldenSample | None]:
    line = db.session.get(POLine, batch.po_line_id)
    product = db.session.get(Product, line.product_id)
    po = db.session.get(PurchaseOrder, line.purchase_order_id)
    golden_id = db.session.scalar(select(Inspection.golden_sample_id).where(
        Inspection.batch_id == batch.id, Inspection.golden_sample_id.is_not(None)).limit(1))
    golden = db.session.get(GoldenSample, golden_id) if golden_id else reference_golden_sample(line)
    return product, po, golden


def _lab_of(analysis: dict) -> list[float]:
    """The photo's measured Lab, or NaNs (skipped by the chart) when missing or not colour-calibrated."""
    if analysis.get("calibrated") is False:
        return [math.nan] * 3
    lab = analysis.get("lab")
    if isinstance(lab, list) and len(lab) == 3 and all(_finite(v) for v in lab):
        return [float(v) for v in lab]
    return [math.nan] * 3


def evaluate_batch(batch: Batch) -> list[SeriesDrift]:
    """Drift of every colour standard and every photo-measured dimension of a batch's product.

    Colour: ΔL*, Δa*, Δb* and ΔE00 to the golden sample (see :func:`_reference_lab`); σ from
    the golden sample's own photo measurements (``measured["lab_samples"]``, when recorded)
    and the batch's first photos. Dimensions: ``<spec name>_mm`` of each analysis against
    the golden sample's measured size, else the spec's nominal.
    """
    product, _, golden = _batch_context(batch)
    photos = batch_photos(batch.id)
    settings = drift_settings("dimension")
    colour_settings = _colour_settings(drift_settings("colour"))
    out: list[SeriesDrift] = []
    standards = [s for s in product.colour_standards if not s.deleted]
    measured = golden.measured if golden is not None and isinstance(golden.measured, dict) else {}
    for std in standards:
        mine = [ph for ph in photos if _standard_for(ph.analysis, standards) is std]
        ref = _reference_lab(std, standards, golden)
        golden_lab = measured.get("lab_samples") if len(standards) == 1 else None
        try:
            result = drift_stats.evaluate_colour_series(
                np.array([_lab_of(ph.analysis) for ph in mine], dtype=float).reshape(-1, 3), ref, colour_settings,
                golden_lab=golden_lab if golden_lab else None)
        except ValueError:
            log.warning("bad golden lab samples for %s; charting without them", std.id, exc_info=True)
            result = drift_stats.evaluate_colour_series(
                np.array([_lab_of(ph.analysis) for ph in mine], dtype=float).reshape(-1, 3), ref, colour_settings)
        out.append(SeriesDrift("colour", std.id, std.name, ref, tuple(ph.id for ph in mine), result))
    dims = measured.get("dimensions") or {}
    for spec in product.dimension_specs:
        if spec.deleted:
            continue
        values = [ph.analysis.get(f"{spec.name}_mm") for ph in photos]
        if not any(_finite(v) for v in values):
            continue
        nominal = float(dims[spec.name]) if _finite(dims.get(spec.name)) else spec.nominal_mm
        words = ("wider", "narrower") if spec.name == "width" else ("longer", "shorter")
        result = drift_stats.evaluate_dimension_series(
            [float(v) if _finite(v) else math.nan for v in values], nominal, settings, name=spec.name, words=words)
        out.append(SeriesDrift("dimension", spec.id, spec.name, [nominal], tuple(ph.id for ph in photos), result))
    return out


def on_photo_analysed(photo: Photo) -> list[DriftAlert]:
    """Hook for the analysis job: update the drift alerts of the photo's batch.

    Re-evaluates every series of the batch, opens, escalates and resolves alerts, writes the
    webhook outbox rows, **commits the session** (with the caller's pending changes) and then
    queues the deliveries. A photo outside any batch changes nothing. Returns the alerts that
    changed.
    """
    insp = db.session.get(Inspection, photo.inspection_id)
    if insp is None or insp.batch_id is None:
        db.session.commit()
        return []
    # One evaluation per batch at a time (PostgreSQL row lock; SQLite has one writer anyway):
    # a concurrent worker waits, then sees this one's photos and alerts.
    db.session.execute(select(Batch.id).where(Batch.id == insp.batch_id).with_for_update())
    batch = db.session.get(Batch, insp.batch_id)
    changed = update_batch_alerts(batch)
    commit_and_dispatch()
    return changed


def update_batch_alerts(batch: Batch) -> list[DriftAlert]:
    """Reconcile the batch's alert rows with the rules active now (no commit).

    At most one open alert per (batch, standard, rule): a concurrent worker that opened the
    same alert first makes our insert fail on the unique key, and we keep theirs.
    """
    _, po, _ = _batch_context(batch)
    changed: list[DriftAlert] = []
    for series in evaluate_batch(batch):
        result = series.result
        open_alerts = {a.rule: a for a in db.session.scalars(select(DriftAlert).where(
            DriftAlert.batch_id == batch.id, DriftAlert.standard_id == series.standard_id,
            DriftAlert.open_slot == OPEN_SLOT)).all()}
        plan = drift_stats.reconcile_alerts(result.active, open_alerts)
        details = _alert_details(series)
        for rule in plan.to_open:
            level = result.active[rule]
            alert = DriftAlert(id=uuid.uuid4(), brand_id=po.brand_id, batch_id=batch.id, kind=series.kind,
                               standard_id=series.standard_id, standard_name=series.standard_name, rule=rule,
                               level=level, status="open", open_slot=OPEN_SLOT,
                               direction=_direction(result, rule), details=details)
            alert.message = _message(batch, alert)
            try:
                with db.session.begin_nested():
                    db.session.add(alert)
            except IntegrityError:
                log.info("drift alert for batch %s %s %s already opened concurrently", batch.id,
                         series.standard_id, rule)
                continue
            changed.append(alert)
            record_event(alert, "drift.alert.opened")
        for rule in plan.to_keep:
            alert = open_alerts[rule]
            level = result.active[rule]
            alert.details = details
            alert.direction = _direction(result, rule) or alert.direction
            alert.message = _message(batch, alert)
            if _LEVEL_RANK[level] > _LEVEL_RANK.get(alert.level, 0):
                # An alarm after an acknowledged warning needs attention again.
                alert.level, alert.status = level, "open"
                alert.message = _message(batch, alert)
                changed.append(alert)
                record_event(alert, "drift.alert.escalated")
        for rule in plan.to_resolve:
            alert = open_alerts[rule]
            alert.status, alert.open_slot, alert.resolved_at = "resolved", None, utcnow()
            alert.details = details
            alert.message = _resolved_message(batch, alert)
            changed.append(alert)
            record_event(alert, "drift.alert.resolved")
    db.session.flush()
    return changed


def _direction(result: drift_stats.DriftResult, rule: str) -> str:
    for sig in reversed(result.signals):
        if sig.rule == rule and sig.direction:
            return result.direction or sig.direction
    return result.direction


def _message(batch: Batch, alert: DriftAlert) -> str:
    what = "Colour" if alert.kind == "colour" else alert.standard_name.capitalize()
    rule = "steady rise in ΔE00" if alert.rule == drift_stats.RULE_TREND else "EWMA chart"
    text = f"{what} drift {alert.level} on batch {batch.code}, {alert.standard_name} ({rule})"
    return f"{text}: {alert.direction}" if alert.direction else text


def _resolved_message(batch: Batch, alert: DriftAlert) -> str:
    """The message of a resolved alert: back in control, without the direction it had drifted in."""
    what = "Colour" if alert.kind == "colour" else alert.standard_name.capitalize()
    return f"{what} on batch {batch.code}, {alert.standard_name}, is back in control ({alert.level} cleared)."


def _alert_details(series: SeriesDrift) -> dict[str, Any]:
    result = series.result
    n = len(series.photo_ids)
    details: dict[str, Any] = {"photo_count": n, "status": result.status, "chart": result.display_chart}
    if n:
        details["last_photo_id"] = str(series.photo_ids[-1])
    if result.delta_e and _finite(result.delta_e[-1]):
        details["delta_e"] = round(result.delta_e[-1], 3)
    try:
        z = result.chart(result.display_chart).z[-1]
        if _finite(z):
            details["z"] = round(float(z), 3)
    except (KeyError, IndexError):
        pass
    return details


# -- alerts ----------------------------------------------------------------------------------

def _factory_batches(factory_ids):
    """Select of the ids of batches produced for POs of ``factory_ids``."""
    return (select(Batch.id).join(POLine, Batch.po_line_id == POLine.id)
            .join(PurchaseOrder, POLine.purchase_order_id == PurchaseOrder.id)
            .where(PurchaseOrder.factory_id.in_(factory_ids)))


def visible_alerts(p: Principal):
    """Alerts of the caller's brands (reviewers and admins) and of the batches of the factories they
    manage (factory managers and admins: the factory whose batch drifts). Raises ``Forbidden`` for others."""
    if p.is_platform_admin:
        return select(DriftAlert)
    managed = p.orgs_where(Action.manage_factory)
    clauses = []
    reviewed = p.orgs_where(Action.edit_brand)  # the brands where the user is a reviewer or an admin
    if reviewed:
        clauses.append(DriftAlert.brand_id.in_(reviewed))
    if managed:
        clauses.append(DriftAlert.batch_id.in_(_factory_batches(managed)))
    if not clauses:
        raise Forbidden("Only the brand's reviewers and the factory's managers see drift alerts.")
    return select(DriftAlert).where(or_(*clauses))


def get_alert(p: Principal, alert_id: uuid.UUID) -> DriftAlert:
    """One alert of the caller's brands. Raises ``Forbidden`` or ``NotFound``."""
    alert = db.session.scalar(visible_alerts(p).where(DriftAlert.id == alert_id))
    if alert is None:
        raise NotFound("No such alert.")
    return alert


def acknowledge_alert(p: Principal, alert_id: uuid.UUID, note: str = "") -> DriftAlert:
    """Mark an open alert as seen. It stays in its slot until the process is back in control.

    Acknowledging twice changes nothing. Raises ``Forbidden``, ``NotFound``, and
    ``ValidationFailed`` for a resolved alert.
    """
    alert = get_alert(p, alert_id)
    if alert.status == "resolved":
        raise ValidationFailed("This alert has already resolved itself.", errors={"status": ["Already resolved."]})
    if alert.status == "acknowledged":
        return alert
    alert.status, alert.acknowledged_by_id, alert.acknowledged_at = "acknowledged", p.id, utcnow()
    alert.acknowledge_note = (note or "").strip()
    record_event(alert, "drift.alert.acknowledged")
    commit_and_dispatch()
    return alert


# -- batches ---------------------------------------------------------------------------------

def get_batch(p: Principal, batch_id: uuid.UUID) -> Batch:
    """A batch of the caller's brands (reviewers and admins) or of a factory they manage (its drift chart).

    Raises ``Forbidden`` (neither a reviewer nor a factory manager) or ``NotFound``.
    """
    managed = p.orgs_where(Action.manage_factory)
    reviewed = p.orgs_where(Action.edit_brand)
    if not (p.is_platform_admin or reviewed or managed):
        raise Forbidden("Only the brand's reviewers and the factory's managers see drift charts.")
    batch = db.session.scalar(visible_batches(p).where(Batch.id == batch_id))
    if batch is None:
        raise NotFound("No such batch.")
    if not p.is_platform_admin:
        _, po, _ = _batch_context(batch)
        if not (po.brand_id in reviewed or po.factory_id in managed):
            raise NotFound("No such batch.")
    return batch


def answer_alert(p: Principal, alert_id: uuid.UUID, body: str) -> DriftAlert:
    """The factory whose batch drifts answers the alert (its managers and admins; the brand may too).

    An answer also acknowledges an open alert. Raises ``Forbidden``, ``NotFound``,
    ``ValidationFailed`` for an empty answer.
    """
    alert = get_alert(p, alert_id)
    body = (body or "").strip()
    if not body:
        raise ValidationFailed(errors={"body": ["Write the answer."]})
    alert.answer, alert.answered_by_id, alert.answered_at = body, p.id, utcnow()
    if alert.status == "open":
        alert.status, alert.acknowledged_by_id, alert.acknowledged_at = "acknowledged", p.id, utcnow()
    record_audit("drift_alert", alert.id, None, "answer", {"answer": [None, body]}, p.id)
    commit_and_dispatch()
    return alert


def factory_of_alert(alert: DriftAlert) -> uuid.UUID | None:
    return db.session.scalar(select(PurchaseOrder.factory_id).join(POLine, POLine.purchase_order_id == PurchaseOrder.id)
                             .join(Batch, Batch.po_line_id == POLine.id).where(Batch.id == alert.batch_id))


def factory_recipients(factory_id: uuid.UUID | None) -> list[str]:
    """E-mail addresses of the factory's active managers and admins."""
    from ..accounts.models import Membership

    if factory_id is None:
        return []
    return sorted(set(db.session.scalars(select(User.email).join(Membership, Membership.user_id == User.id).where(
        Membership.organisation_id == factory_id, Membership.role.in_(roles_granting(Action.manage_factory)),
        User.is_active.is_(True))).all()))


def drift_alerts_of_po(po: PurchaseOrder) -> list[DriftAlert]:
    """Unresolved drift alerts of the PO's batches, alarms first."""
    rows = db.session.scalars(select(DriftAlert).join(Batch, Batch.id == DriftAlert.batch_id)
                              .join(POLine, POLine.id == Batch.po_line_id)
                              .where(POLine.purchase_order_id == po.id, DriftAlert.status != "resolved")).all()
    return sorted(rows, key=lambda a: (-_LEVEL_RANK.get(a.level, 0), a.opened_at))


def pick_series(series: list[SeriesDrift], standard_id: uuid.UUID | None) -> SeriesDrift:
    """The series for ``standard_id`` (default: the first colour standard). Raises ``NotFound``."""
    for s in series:
        if standard_id is None or s.standard_id == standard_id:
            return s
    raise NotFound("No drift series for this standard in this batch.")


def series_points(s: SeriesDrift) -> list[dict[str, Any]]:
    """Per photo: the charted values, the EWMA and its level, for the JSON form of the chart."""
    r = s.result
    pts = []
    for i, pid in enumerate(s.photo_ids):
        pt: dict[str, Any] = {"index": i, "photo_id": pid, "level": r.levels[i] if i < len(r.levels) else ""}
        for c in r.charts:
            pt[c.name] = _num(c.values[i])
            pt[f"{c.name}_ewma"] = _num(c.ewma[i])
        if r.delta_e:
            pt["delta_e"] = _num(r.delta_e[i])
        pts.append(pt)
    return pts


def _num(v: float) -> float | None:
    return round(float(v), 4) if _finite(v) else None


# -- events and dispatch ---------------------------------------------------------------------

def alert_payload(alert: DriftAlert) -> dict[str, Any]:
    """The alert as it appears in webhook and e-mail bodies (plain JSON types)."""
    batch = db.session.get(Batch, alert.batch_id)
    return {"id": str(alert.id), "batch_id": str(alert.batch_id), "batch_code": batch.code if batch else None,
            "kind": alert.kind, "standard_id": str(alert.standard_id), "standard_name": alert.standard_name,
            "rule": alert.rule, "level": alert.level, "status": alert.status, "direction": alert.direction,
            "message": alert.message, "details": alert.details,
            "opened_at": alert.opened_at.isoformat() if alert.opened_at else None,
            "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None}


def record_event(alert: DriftAlert, event_type: str) -> None:
    """Write outbox rows for every subscribed endpoint of the alert's brand, and note an e-mail.

    Nothing is sent here: :func:`commit_and_dispatch` queues the tasks after the commit.
    """
    from .delivery import event_body

    db.session.flush()
    payload = {"alert": alert_payload(alert)}
    event_id = uuid.uuid4()
    pending = db.session.info.setdefault(_DISPATCH_KEY, [])
    for ep in db.session.scalars(select(WebhookEndpoint).where(
            WebhookEndpoint.brand_id == alert.brand_id, WebhookEndpoint.active.is_(True))).all():
        if event_type not in (ep.event_types or []):
            continue
        d = WebhookDelivery(id=uuid.uuid4(), endpoint_id=ep.id, event_id=event_id, event_type=event_type,
                            body=event_body(event_id, event_type, payload), status="pending")
        db.session.add(d)
        pending.append(("webhook", str(d.id)))
    # E-mail only for alarms: warnings are frequent by design (the warning line is 2/3 of the
    # control limit) and belong in the feed and to webhook subscribers who ask for them.
    if alert.level == drift_stats.LEVEL_ALARM and event_type != "drift.alert.acknowledged":
        pending.append(("email", str(alert.id), event_type))
        pending.append(("email", str(alert.id), event_type, "factory"))  # the factory whose batch drifts


def commit_and_dispatch() -> None:
    """Commit, then queue the deliveries recorded in this transaction. Never raises for a delivery."""
    db.session.commit()
    pending = db.session.info.pop(_DISPATCH_KEY, [])
    if pending:
        from .jobs import dispatch

        dispatch(pending)


@event.listens_for(Session, "after_rollback")
def _forget_dispatch(session: Session) -> None:
    """A rolled-back transaction sends nothing."""
    session.info.pop(_DISPATCH_KEY, None)


def brand_recipients(brand_id: uuid.UUID) -> list[str]:
    """E-mail addresses of the brand's active reviewers and admins."""
    from ..accounts.models import Membership

    return sorted(set(db.session.scalars(select(User.email).join(Membership, Membership.user_id == User.id).where(
        Membership.organisation_id == brand_id, Membership.role.in_(roles_granting(Action.edit_brand)), User.is_active.is_(True))).all()))



# -- webhooks --------------------------------------------------------------------------------

def visible_webhooks(p: Principal):
    """Webhook endpoints of the caller's brands. Raises ``Forbidden`` for non-reviewers."""
    _require_reviewer(p)
    return select(WebhookEndpoint).where(_brand_scope(p, WebhookEndpoint.brand_id))


def get_webhook(p: Principal, webhook_id: uuid.UUID) -> WebhookEndpoint:
    """One endpoint of the caller's brands. Raises ``Forbidden`` or ``NotFound``."""
    ep = db.session.scalar(visible_webhooks(p).where(WebhookEndpoint.id == webhook_id))
    if ep is None:
        raise NotFound("No such webhook.")
    return ep


def _checked_url(url: str) -> str:
    from .delivery import UnsafeUrl, check_url

    try:
        check_url(url, allow_private=current_app.config["WEBHOOK_ALLOW_PRIVATE"])
    except UnsafeUrl as exc:
        raise ValidationFailed(errors={"url": [str(exc)]}) from None
    return url


def create_webhook(p: Principal, data: dict[str, Any]) -> WebhookEndpoint:
    """Register an endpoint for the brand's events; the secret is generated unless given.

    Raises ``Forbidden``, ``NotFound`` for another brand, ``ValidationFailed`` for an unsafe URL.
    """
    import secrets

    _require_reviewer(p)
    if not p.may(Action.edit_brand, data["brand_id"]):
        if data["brand_id"] in p.brand_ids:
            raise Forbidden("Only the brand's reviewers and admins manage its webhooks.")
        raise NotFound("No such brand.")
    org = db.session.get(Organisation, data["brand_id"])
    if org is None or org.kind.value != "brand":
        raise ValidationFailed(errors={"brand_id": ["No brand with this id."]})
    ep = WebhookEndpoint(id=uuid.uuid4(), brand_id=data["brand_id"], url=_checked_url(data["url"]),
                         secret=data.get("secret") or ("whsec_" + secrets.token_urlsafe(32)),
                         event_types=sorted(set(data["event_types"])), description=data.get("description", ""),
                         active=data.get("active", True), created_by_id=p.id)
    db.session.add(ep)
    db.session.commit()
    return ep


def update_webhook(p: Principal, webhook_id: uuid.UUID, data: dict[str, Any]) -> WebhookEndpoint:
    """Change an endpoint's URL, event types, description or active flag. Raises as :func:`create_webhook`."""
    ep = get_webhook(p, webhook_id)
    if "url" in data:
        ep.url = _checked_url(data["url"])
    if "event_types" in data:
        ep.event_types = sorted(set(data["event_types"]))
    for key in ("description", "active"):
        if key in data:
            setattr(ep, key, data[key])
    db.session.commit()
    return ep


def delete_webhook(p: Principal, webhook_id: uuid.UUID) -> None:
    """Remove an endpoint and its delivery log. Raises ``Forbidden`` or ``NotFound``."""
    ep = get_webhook(p, webhook_id)
    db.session.delete(ep)
    db.session.commit()


def webhook_deliveries(p: Principal, webhook_id: uuid.UUID):
    """The select of an endpoint's deliveries, newest first. Raises ``Forbidden`` or ``NotFound``."""
    ep = get_webhook(p, webhook_id)
    return select(WebhookDelivery).where(WebhookDelivery.endpoint_id == ep.id).order_by(
        WebhookDelivery.created_at.desc(), WebhookDelivery.id)


def delivery_item(d: WebhookDelivery) -> dict[str, Any]:
    """A delivery with its attempt log, for the schema."""
    from .models import WebhookAttempt

    log_rows = db.session.scalars(select(WebhookAttempt).where(WebhookAttempt.delivery_id == d.id)
                                  .order_by(WebhookAttempt.attempt)).all()
    return {"id": d.id, "event_id": d.event_id, "event_type": d.event_type, "status": d.status,
            "attempts": d.attempts, "next_retry_at": d.next_retry_at, "delivered_at": d.delivered_at,
            "created_at": d.created_at, "log": log_rows}


def send_test_event(p: Principal, webhook_id: uuid.UUID) -> WebhookDelivery:
    """Queue a ``webhook.test`` event to one endpoint, to check the receiver's signature code."""
    from .delivery import event_body

    ep = get_webhook(p, webhook_id)
    event_id = uuid.uuid4()
    d = WebhookDelivery(id=uuid.uuid4(), endpoint_id=ep.id, event_id=event_id, event_type="webhook.test",
                        body=event_body(event_id, "webhook.test", {"webhook_id": str(ep.id)}), status="pending")
    db.session.add(d)
    db.session.info.setdefault(_DISPATCH_KEY, []).append(("webhook", str(d.id)))
    commit_and_dispatch()
    db.session.refresh(d)
    return d


# -- signed chart links ------------------------------------------------------------------------

_CHART_SALT = "lineside.review.drift-chart"


def chart_token(p: Principal, batch_id: uuid.UUID) -> str:
    """A signed token letting an ``<img>`` fetch one batch's drift.svg for a few minutes."""
    from itsdangerous import URLSafeTimedSerializer

    s = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_CHART_SALT)
    return s.dumps({"b": str(batch_id), "u": str(p.id)})


def principal_from_chart_token(token: str, batch_id: uuid.UUID) -> Principal:
    """The principal a chart token was issued to, if it is valid, unexpired and for this batch.

    Raises ``NotFound`` otherwise (a bad link tells nothing about the batch).
    """
    from itsdangerous import BadSignature, URLSafeTimedSerializer

    s = URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_CHART_SALT)
    try:
        claims = s.loads(token, max_age=current_app.config["DRIFT_CHART_URL_TTL_SECONDS"])
    except BadSignature:
        raise NotFound("This chart link is not valid or has expired.") from None
    if claims.get("b") != str(batch_id):
        raise NotFound("This chart link is not valid or has expired.")
    user = db.session.get(User, uuid.UUID(claims["u"]))
    if user is None or not user.is_active:
        raise NotFound("This chart link is not valid or has expired.")
    return Principal.of(user)
