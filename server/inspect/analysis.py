"""Photo analysis, the product side (issue 5): from a stored photo to results phones can pull.

:func:`analyse_photo` is what the Celery task in :mod:`server.inspect.jobs` runs once a
photo's upload is complete (and what ``flask --app server reanalyse`` runs by hand):

1. read the photo row; only ``stored`` (or, when forced, ``analysed``) photos are analysed;
2. build the ``reference`` from the inspection's golden sample (``measured``: lab,
   length_mm, width_mm), the product's colour standard (``delta_e_tolerance`` ->
   ``delta_e_max``) and its length/width dimension specs (``tolerance_mm`` ->
   ``size_tolerance_mm``), see :func:`build_reference`;
3. end the database transaction, then load the bytes from storage and run the pure pipeline
   :func:`server.inspect.vision.analyze_photo` with ``max_pixels=PHOTO_MAX_PIXELS``;
4. store the overlay JPEG under a content-addressed key, then in one transaction (photo row
   locked): ``Photo.analysis`` (the result without the overlay bytes), ``analysis_status``,
   ``overlay_key``, ``upload_state = "analysed"``, the review flags, and one photo
   :class:`~server.inspect.models.Measurement` per length/width spec, then the inspection's
   stored verdict is recomputed; a signed-off (or cancelled) inspection keeps its
   measurements and verdict, and the analysis notes it in ``measurements_skipped``;
5. after the commit, call ``server.review.service.on_photo_analysed(photo)`` when the review
   package provides it (drift alerts).

Every change goes through the ORM, so the revision hook gives the rows new revisions and
phones get the results by pull. Safe to retry: nothing is written before the final
transaction, so a crash mid-analysis leaves the photo ``stored`` and re-analysable, and a
re-delivered task finds the photo ``analysed`` and does nothing. A photo that cannot be
analysed (corrupt, truncated, not an image, missing from storage, or an unexpected error in
the pipeline) ends ``unusable`` with a reason, never stuck.
"""
from __future__ import annotations

import hashlib
import importlib
import logging
import math
import uuid
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import select

from .. import metrics
from ..catalog.models import ColourStandard, DimensionSpec, GoldenSample
from ..extensions import db
from ..models import utcnow
from . import measure, rules
from .models import Inspection, Measurement, Photo

log = logging.getLogger(__name__)

#: Flag reasons that the analysis sets (and clears again on re-analysis). Other reasons on a
#: photo (set by people) are kept as they are.
ANALYSIS_FLAGS = ("out_of_tolerance", "needs_review", "retake", "unusable", "low_confidence")
#: Upload states in which the photo's bytes are in storage.
ANALYSABLE_STATES = ("stored", "analysed")
#: The dimension specs a photo measures, by name.
PHOTO_DIMENSIONS = (("length", "length_mm"), ("width", "width_mm"))
OVERLAY_CONTENT_TYPE = "image/jpeg"
#: Photo analysis statuses (``Photo.analysis_status``).
ANALYSIS_STATUSES = ("pass", "review", "fail", "retake", "unusable")
_PIPELINE_KEYS = ("lab", "length_mm", "width_mm", "delta_e_max", "size_tolerance_mm")
_MEASUREMENT_NS = uuid.UUID("3d8e61a4-0a4e-4f63-9b55-5c1bd0a7c2f1")


class AnalysisUnavailable(Exception):
    """Storage (or another dependency) failed in a way that may pass: retry the analysis later."""


# -- reference -------------------------------------------------------------------------------------

def build_reference(inspection: Inspection) -> dict[str, Any]:
    """The ``reference`` dict for :func:`server.inspect.vision.analyze_photo` for ``inspection``.

    ``lab``, ``length_mm`` and ``width_mm`` come from the inspection's golden sample version
    (``Inspection.golden_sample_id``; without one, the product's latest approved version), with
    the colour standard's Lab and the specs' nominal sizes as fallbacks. ``delta_e_max`` is the
    colour standard's ΔE00 tolerance; ``size_tolerance_mm`` the tighter of the length and width
    spec tolerances. The colour standard is the product's first by name; its Lab in the golden
    sample's ``measured.colours`` wins over ``measured.lab``. Values that are missing stay out of
    the dict (the pipeline then skips that check and says so). Also carries
    ``colour_standard_id``, ``golden_sample_id`` and ``golden_sample_version`` (not sent to the
    pipeline).
    """
    golden = _golden_sample(inspection)
    measured = golden.measured if golden is not None and isinstance(golden.measured, dict) else {}
    colour = db.session.scalar(
        select(ColourStandard).where(ColourStandard.product_id == inspection.product_id,
                                     ColourStandard.deleted.is_(False))
        .order_by(ColourStandard.name, ColourStandard.id).limit(1))
    specs = _photo_specs(inspection.product_id)
    reference: dict[str, Any] = {}
    per_colour = measured.get("colours") if isinstance(measured.get("colours"), dict) else {}
    lab = next((c for c in (per_colour.get(colour.name) if colour is not None else None, measured.get("lab"),
                            colour.lab if colour is not None else None) if _is_lab(c)), None)
    if lab is not None:
        reference["lab"] = [float(v) for v in lab]
    for name, key in PHOTO_DIMENSIONS:
        value = _number(measured.get(key))
        if value is None:
            value = _number((measured.get("dimensions") or {}).get(name)) if isinstance(
                measured.get("dimensions"), dict) else None
        if value is None and name in specs:
            value = specs[name].nominal_mm
        if value is not None:
            reference[key] = value
    if colour is not None:
        reference["delta_e_max"] = float(colour.delta_e_tolerance)
        reference["colour_standard_id"] = str(colour.id)
    tolerances = [s.tolerance_mm for s in specs.values()]
    if tolerances:
        reference["size_tolerance_mm"] = float(min(tolerances))
    if golden is not None:
        reference["golden_sample_id"] = str(golden.id)
        reference["golden_sample_version"] = golden.version
    return reference


def _golden_sample(inspection: Inspection) -> GoldenSample | None:
    if inspection.golden_sample_id is not None:
        golden = db.session.get(GoldenSample, inspection.golden_sample_id)
        if golden is not None:
            return golden
    return db.session.scalar(
        select(GoldenSample).where(GoldenSample.product_id == inspection.product_id,
                                   GoldenSample.status == "approved", GoldenSample.deleted.is_(False))
        .order_by(GoldenSample.version.desc()).limit(1))


def _photo_specs(product_id: uuid.UUID) -> dict[str, DimensionSpec]:
    """The product's live dimension specs named ``length`` and ``width`` (case-insensitive)."""
    specs = db.session.scalars(
        select(DimensionSpec).where(DimensionSpec.product_id == product_id, DimensionSpec.deleted.is_(False))
        .order_by(DimensionSpec.position, DimensionSpec.id)).all()
    wanted = {name for name, _ in PHOTO_DIMENSIONS}
    found: dict[str, DimensionSpec] = {}
    for spec in specs:
        name = (spec.name or "").strip().lower()
        if name in wanted and name not in found:
            found[name] = spec
    return found


def _is_lab(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 3 and all(_number(v) is not None for v in value)


def _number(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


# -- flags -----------------------------------------------------------------------------------------

def flags_for(result: dict[str, Any], min_confidence: float) -> list[str]:
    """The review flags an analysis result raises, in :data:`ANALYSIS_FLAGS` order.

    ``out_of_tolerance`` for a ``fail``, ``needs_review`` for a ``review`` (the measurement's
    uncertainty straddles the tolerance: a person decides, exactly as for a failed photo),
    ``retake`` for a ``retake``, ``unusable`` for an ``unusable`` result, and
    ``low_confidence`` when a pass, review or fail has a confidence below ``min_confidence``
    (a retake or unusable result is already flagged; its confidence says nothing more).
    """
    status = result.get("status")
    flags = []
    if status == "fail":
        flags.append("out_of_tolerance")
    elif status == "review":
        flags.append("needs_review")
    elif status == "retake":
        flags.append("retake")
    if status not in ("pass", "review", "fail"):
        if status != "retake":
            flags.append("unusable")
    elif (_number(result.get("confidence")) or 0.0) < min_confidence:
        flags.append("low_confidence")
    return flags


# -- the analysis ----------------------------------------------------------------------------------

@metrics.outcome_of(metrics.ANALYSES, metrics.ANALYSIS_SECONDS, outcome=lambda status: status or "skipped")
def analyse_photo(photo_id: uuid.UUID, *, force: bool = False) -> str | None:
    """Analyse one stored photo and store its results; answers the analysis status.

    Does nothing (answers ``None``) for an unknown, deleted or not yet stored photo, and
    nothing new (answers the existing status) for an already analysed photo unless ``force``.
    A photo that cannot be analysed ends ``unusable`` with a reason. Raises
    ``AnalysisUnavailable`` when storage fails in a way that may pass (retry later), and the
    database's errors when the database is unreachable; in both cases nothing was written.
    """
    photo = db.session.get(Photo, photo_id)
    if photo is None or photo.deleted or photo.upload_state not in ANALYSABLE_STATES or not photo.storage_key:
        log.info("photo %s: not analysed (unknown, deleted or not stored)", photo_id)
        db.session.rollback()
        return None
    if photo.upload_state == "analysed" and not force:
        status = photo.analysis_status
        db.session.rollback()
        return status
    inspection = db.session.get(Inspection, photo.inspection_id)
    reference = build_reference(inspection)
    storage_key = photo.storage_key
    # End the transaction before the slow part: no locks or idle transactions while decoding.
    db.session.rollback()

    data, problem = _load_bytes(storage_key)
    if problem is not None:
        result = _unusable(problem)
    else:
        result = run_pipeline(data, reference)
    del data
    overlay = result.pop("overlay_jpeg", b"") or b""
    overlay_key = store_overlay(overlay) if overlay else None
    return _save(photo_id, result, reference, overlay_key, force=force)


def mark_unusable(photo_id: uuid.UUID, reason: str) -> str | None:
    """Record an ``unusable`` result with ``reason`` for a stored photo that could not be analysed.

    Used when retries are exhausted, so the photo never stays waiting. Answers the status, or
    ``None`` when the photo is not (or no longer) waiting for an analysis.
    """
    photo = db.session.get(Photo, photo_id)
    if photo is None or photo.deleted or photo.upload_state != "stored":
        db.session.rollback()
        return None
    inspection = db.session.get(Inspection, photo.inspection_id)
    reference = build_reference(inspection)
    db.session.rollback()
    return _save(photo_id, _unusable(reason), reference, None, force=False)


def run_pipeline(data: bytes, reference: dict[str, Any]) -> dict[str, Any]:
    """Run :func:`server.inspect.vision.analyze_photo` with the configured pixel limit.

    Never raises: an exception inside the pipeline becomes an ``unusable`` result with a reason.
    """
    from .vision import analyze_photo

    pipeline_reference = {k: v for k, v in reference.items() if k in _PIPELINE_KEYS}
    try:
        result = analyze_photo(data, pipeline_reference, max_pixels=int(current_app.config["PHOTO_MAX_PIXELS"]),
                               chart_edition=str(current_app.config.get("COLOR_CHART_EDITION", "post2014")))
    except MemoryError:
        return _unusable("not enough memory to analyse this photo")
    except Exception as exc:  # noqa: BLE001 - a photo must never leave the worker with an error
        log.exception("the analysis pipeline failed")
        return _unusable(f"analysis failed unexpectedly ({type(exc).__name__})")
    if not isinstance(result, dict) or result.get("status") not in ANALYSIS_STATUSES:
        return _unusable("analysis gave no usable answer")
    return result


def _unusable(reason: str) -> dict[str, Any]:
    return {"status": "unusable", "calibrated": False, "lab": None, "delta_e_cie2000": None, "delta_e_u": None,
            "length_mm": None, "width_mm": None, "length_u_mm": None, "width_u_mm": None, "light_cct_k": None,
            "confidence": 0.0, "reasons": [reason], "reason_codes": ["unreadable"], "overlay_jpeg": b"", "quality": {}}


def _load_bytes(key: str) -> tuple[bytes, str | None]:
    """The photo's bytes, or a reason why they cannot be analysed. Raises ``AnalysisUnavailable``."""
    from ..storage.backends import get_storage

    limit = int(current_app.config["PHOTO_MAX_BYTES"])
    try:
        with get_storage().open(key) as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        return b"", "the photo file is missing from storage"
    except Exception as exc:  # storage down, network, permissions: may pass
        raise AnalysisUnavailable(f"could not read the photo from storage ({type(exc).__name__})") from exc
    if len(data) > limit:
        return b"", f"the photo file is larger than {limit} bytes"
    if not data:
        return b"", "the photo file is empty"
    return data, None


def overlay_key_for(overlay_jpeg: bytes) -> str:
    """The content-addressed storage key of an overlay JPEG: ``overlays/sha256/ab/cd/<sha256>.jpg``."""
    digest = hashlib.sha256(overlay_jpeg).hexdigest()
    return f"overlays/sha256/{digest[:2]}/{digest[2:4]}/{digest}.jpg"


def store_overlay(overlay_jpeg: bytes) -> str:
    """Store the overlay under its content key (once) and answer the key. Raises ``AnalysisUnavailable``."""
    from ..storage.backends import get_storage

    key = overlay_key_for(overlay_jpeg)
    storage = get_storage()
    try:
        if storage.head(key) != len(overlay_jpeg):
            storage.put(key, overlay_jpeg, content_type=OVERLAY_CONTENT_TYPE)
    except Exception as exc:
        raise AnalysisUnavailable(f"could not store the overlay ({type(exc).__name__})") from exc
    return key


def _save(photo_id: uuid.UUID, result: dict[str, Any], reference: dict[str, Any], overlay_key: str | None,
          *, force: bool) -> str | None:
    """Write the result in one transaction with the photo row locked; then tell the review package."""
    photo = db.session.scalar(select(Photo).where(Photo.id == photo_id).with_for_update()
                              .execution_options(populate_existing=True))
    if photo is None or photo.deleted or photo.upload_state not in ANALYSABLE_STATES:
        db.session.rollback()
        return None
    if photo.upload_state == "analysed" and not force:  # a concurrent delivery got there first
        status = photo.analysis_status
        db.session.rollback()
        return status
    min_confidence = float(current_app.config["ANALYSIS_MIN_CONFIDENCE"])
    analysis = _plain({k: v for k, v in result.items() if k != "overlay_jpeg"})
    analysis["reference"] = _plain(reference)
    analysis["colour_standard_id"] = reference.get("colour_standard_id")  # read by server.review
    analysis["analysed_at"] = utcnow().isoformat()
    analysis["min_confidence"] = min_confidence
    flags = flags_for(analysis, min_confidence)

    photo.analysis = analysis
    photo.analysis_status = analysis["status"]
    photo.overlay_key = overlay_key
    photo.upload_state = "analysed"
    kept = [r for r in (photo.flag_reasons or []) if r not in ANALYSIS_FLAGS]
    photo.flag_reasons = kept + flags
    photo.flagged = bool(flags or kept or photo.flagged_by_inspector)
    if photo.flagged and photo.review_state == "none":
        photo.review_state = "open"
    elif not photo.flagged and photo.review_state == "open":
        photo.review_state = "none"  # re-analysed clean before anybody decided
    inspection = db.session.get(Inspection, photo.inspection_id)
    if not rules.analysis_updates_measurements(inspection):
        # The inspection's numbers are final: keep the analysis on the photo, leave its measurements.
        # a new dict: the photo was already flushed when the inspection was read
        photo.analysis = {**analysis, "measurements_skipped": (f"The inspection is "
                                                                f"{inspection.status.replace('_', ' ')}; "
                                                                "its measurements were not changed.")}
    else:
        _save_measurements(photo, inspection, analysis)
        from .verdicts import recompute_verdict

        recompute_verdict(inspection)  # the stored verdict follows the new measurements, same transaction
    status = photo.analysis_status
    db.session.commit()
    _notify_review(photo_id)
    return status


def measurement_id(photo_id: uuid.UUID, dimension_spec_id: uuid.UUID) -> uuid.UUID:
    """The fixed id of the measurement a photo gives for one dimension spec (same on re-analysis)."""
    return uuid.uuid5(_MEASUREMENT_NS, f"{photo_id}:{dimension_spec_id}")


def _save_measurements(photo: Photo, inspection: Inspection, analysis: dict[str, Any]) -> None:
    """Create or update the photo's length/width measurements; tombstone them when there is no size."""
    specs = _photo_specs(inspection.product_id)
    for name, key in PHOTO_DIMENSIONS:
        spec = specs.get(name)
        if spec is None:
            continue
        value = _number(analysis.get(key))
        row = db.session.get(Measurement, measurement_id(photo.id, spec.id))
        if value is None or analysis.get("status") in ("unusable", "retake"):
            if row is not None and not row.deleted:
                row.deleted = True
            continue
        value = round(value, 2)
        within = measure.in_tolerance(value, spec.nominal_mm, spec.tolerance_mm)
        if row is None:
            db.session.add(Measurement(
                id=measurement_id(photo.id, spec.id), inspection_id=inspection.id, dimension_spec_id=spec.id,
                unit_index=photo.unit_index if photo.unit_index is not None else 0, value_entered=value,
                unit_entered="mm", value_si=value, in_tolerance=within, source="photo", photo_id=photo.id))
            continue
        changes = {"value_entered": value, "unit_entered": "mm", "value_si": value, "in_tolerance": within,
                   "deleted": False, "unit_index": photo.unit_index if photo.unit_index is not None else row.unit_index}
        for attr, new in changes.items():
            if getattr(row, attr) != new:
                setattr(row, attr, new)


def _notify_review(photo_id: uuid.UUID) -> None:
    """Call ``server.review.service.on_photo_analysed(photo)`` if the review package has it.

    Looked up at call time (the review package is optional). Its failure is logged, never
    raised: the analysis is committed either way.
    """
    try:
        module = importlib.import_module("server.review.service")
    except ModuleNotFoundError as exc:
        if exc.name and "server.review.service".startswith(exc.name):
            return
        log.exception("could not load the review hook")
        return
    hook = getattr(module, "on_photo_analysed", None)
    if hook is None:
        return
    try:
        photo = db.session.get(Photo, photo_id)
        hook(photo)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("the review hook failed for photo %s", photo_id)


def _plain(value: Any) -> Any:
    """``value`` as plain JSON: numpy numbers to Python, non-finite floats to None, bytes dropped."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not isinstance(v, (bytes, bytearray, memoryview))}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return None
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        try:
            return _plain(value.item())
        except (TypeError, ValueError):
            return None
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy array
        return _plain(value.tolist())
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)
