"""The shareable inspection report (HTML for print to A4 PDF), share links and CSV exports.

The report is rendered with Jinja (autoescaping on) from ``templates/report.html`` and styled
by ``static/report.css``, served from the same origin so the page runs under a strict CSP
with no inline style and no script. Photos are shown through short-lived signed URLs to a
route that streams them from storage; a photo not yet uploaded shows "photo pending upload".
Share links are random tokens of which only the SHA-256 is stored.
"""
from __future__ import annotations

import csv
import functools
import hashlib
import io
import secrets
import statistics
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select

from ..accounts.models import Organisation
from ..auth import Principal
from ..catalog.models import Batch, GoldenSample, Product, PurchaseOrder
from ..errors import Forbidden, NotFound
from ..extensions import db
from ..models import utcnow
from . import defects as defect_library
from . import service
from .models import ChecklistResponse, Defect, Inspection, Measurement, Photo, ReportShareLink

TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")
PHOTO_URL_MAX_AGE_SECONDS = 24 * 3600
#: A signed-in report's photo links also end with the session they were made for (sign-out, deactivation).
SIGNED_IN_PHOTO_URL_MAX_AGE_SECONDS = 3600
_PHOTO_SALT = "lineside.report-photo"
#: Spreadsheet programs run cells starting with these as formulas (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

_env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


@functools.cache
def stylesheet() -> bytes:
    """The report's stylesheet (``static/report.css``), read once."""
    return (STATIC_DIR / "report.css").read_bytes()


def hash_share_token(token: str) -> str:
    """The stored form of a share token (hex SHA-256)."""
    return hashlib.sha256(token.encode()).hexdigest()


# -- share links ------------------------------------------------------------------------------

def create_share_link(p: Principal, insp: Inspection, expires_in_seconds: int) -> tuple[ReportShareLink, str]:
    """Make a revocable link to the report (the brand's admins and reviewers). Returns the link and its token.

    The token is returned once and never stored. Raises ``Forbidden`` for anyone else.
    """
    po = db.session.get(PurchaseOrder, insp.purchase_order_id)
    if not p.is_brand_editor(po.brand_id):
        raise Forbidden("Only the brand's admins and reviewers share reports.")
    token = secrets.token_urlsafe(32)
    link = ReportShareLink(id=uuid.uuid4(), inspection_id=insp.id, token_hash=hash_share_token(token),
                           created_by_id=p.id, created_at=utcnow(),
                           expires_at=utcnow() + timedelta(seconds=expires_in_seconds))
    db.session.add(link)
    service.record_audit("share_link", link.id, insp.id, "create", {"expires_at": [None, link.expires_at]}, p.id)
    db.session.commit()
    return link, token


def list_share_links(p: Principal, insp: Inspection) -> list[ReportShareLink]:
    """The report's share links, newest first (the brand's admins and reviewers)."""
    po = db.session.get(PurchaseOrder, insp.purchase_order_id)
    if not p.is_brand_editor(po.brand_id):
        raise Forbidden("Only the brand's admins and reviewers see share links.")
    return list(db.session.scalars(select(ReportShareLink).where(ReportShareLink.inspection_id == insp.id)
                                   .order_by(ReportShareLink.created_at.desc())))


def revoke_share_link(p: Principal, insp: Inspection, link_id: uuid.UUID) -> None:
    """Revoke a share link at once. Raises ``NotFound`` for a link of another inspection."""
    po = db.session.get(PurchaseOrder, insp.purchase_order_id)
    if not p.is_brand_editor(po.brand_id):
        raise Forbidden("Only the brand's admins and reviewers revoke share links.")
    link = db.session.get(ReportShareLink, link_id)
    if link is None or link.inspection_id != insp.id:
        raise NotFound("No such share link.")
    if link.revoked_at is None:
        link.revoked_at = utcnow()
        service.record_audit("share_link", link.id, insp.id, "delete", {"revoked_at": [None, link.revoked_at]},
                             p.id)
    db.session.commit()


def _live_link(link_id: Any) -> ReportShareLink | None:
    link = db.session.get(ReportShareLink, link_id)
    if link is None or link.revoked_at is not None or link.expires_at <= utcnow():
        return None
    return link


def render_link_gone(stylesheet_url: str) -> str:
    """The page a revoked, expired or unknown share link shows (people open these in a browser)."""
    return _env.get_template("link_gone.html").render(stylesheet_url=stylesheet_url)


def link_for_token(token: str) -> ReportShareLink:
    """The live share link of a token. Raises ``NotFound`` for unknown, revoked or expired tokens."""
    link = db.session.scalar(select(ReportShareLink).where(ReportShareLink.token_hash == hash_share_token(token)))
    if link is None or _live_link(link.id) is None:
        raise NotFound("This link does not exist, has expired or was revoked.")
    insp = db.session.get(Inspection, link.inspection_id)
    if insp is None or insp.deleted:
        raise NotFound("This link does not exist, has expired or was revoked.")
    return link


# -- photos -------------------------------------------------------------------------------------

def photo_token(secret_key: str, photo_id: uuid.UUID, link_id: uuid.UUID | None,
                session_id: uuid.UUID | None = None) -> str:
    """A signed, short-lived token naming a photo and what it was shown through: a share link, or the
    signed-in session (API token id) of the report's reader. Either one ending ends the photo link too."""
    return URLSafeTimedSerializer(secret_key, salt=_PHOTO_SALT).dumps(
        {"p": str(photo_id), "l": str(link_id) if link_id else None, "s": str(session_id) if session_id else None})


def _live_session(session_id: uuid.UUID) -> bool:
    from ..accounts.models import ApiToken

    row = db.session.get(ApiToken, session_id)
    return (row is not None and row.revoked_at is None and row.expires_at > utcnow()
            and row.user is not None and row.user.is_active)


def photo_for_token(secret_key: str, token: str) -> Photo:
    """The stored photo a token names. Raises ``NotFound`` for bad or expired tokens, revoked links, missing bytes."""
    serializer = URLSafeTimedSerializer(secret_key, salt=_PHOTO_SALT)
    try:
        data = serializer.loads(token, max_age=PHOTO_URL_MAX_AGE_SECONDS)
        photo_id = uuid.UUID(data["p"])
        if data.get("s"):
            serializer.loads(token, max_age=SIGNED_IN_PHOTO_URL_MAX_AGE_SECONDS)
            session_id = uuid.UUID(data["s"])
        elif not data.get("l"):  # neither a share link nor a session: not a link this server makes
            raise ValueError("unbound photo token")
    except (BadSignature, KeyError, TypeError, ValueError):
        raise NotFound("No such photo.") from None
    if data.get("l") and _live_link(uuid.UUID(data["l"])) is None:
        raise NotFound("No such photo.")
    if data.get("s") and not _live_session(session_id):
        raise NotFound("No such photo.")
    photo = db.session.get(Photo, photo_id)
    if photo is None or photo.deleted or not photo.storage_key:
        raise NotFound("No such photo.")
    return photo


def _storage():
    """The blob storage, or None when this build has none (the report then says "pending upload")."""
    try:
        from ..storage.backends import get_storage
    except ImportError:  # pragma: no cover - storage module not in this build
        return None
    try:
        return get_storage()
    except Exception:  # pragma: no cover - misconfigured storage must not break the report
        return None


def open_photo(photo: Photo):
    """An iterator over the photo's bytes. Raises ``NotFound`` when storage lacks them."""
    storage = _storage()
    if storage is None:
        raise NotFound("No such photo.")
    try:
        if not storage.exists(photo.storage_key):
            raise NotFound("No such photo.")
        return storage.iter_chunks(photo.storage_key)
    except (FileNotFoundError, ValueError):
        raise NotFound("No such photo.") from None


# -- report ---------------------------------------------------------------------------------------

def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _answer_text(item: dict, value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, dict) and "value" in value:
        return f"{value['value']:g} {value.get('unit', '')}".strip()
    if item["kind"] == "number" and isinstance(value, (int, float)):
        return f"{value:g} {item.get('unit', '')}".strip()
    if item["kind"] == "yes_no_na":
        return {"yes": "Yes", "no": "No", "na": "N/A"}.get(value, str(value))
    if item["kind"] == "photo":
        n = len(value) if isinstance(value, list) else 1
        return f"{n} photo{'s' if n != 1 else ''}"
    return str(value)


def _defect_labels(category: str | None) -> dict[str, str]:
    """Defect code -> label, the product's own category winning over the others (a code may be in several)."""
    labels = {e["code"]: e["label"] for e in defect_library.entries(None)}
    try:
        labels.update({e["code"]: e["label"] for e in defect_library.entries(category)} if category else {})
    except ValueError:  # a category the library does not know: the general labels stand
        pass
    return labels


def _item_state(item: dict, answers: list, photos: list[Photo], measured: list[Measurement]) -> str:
    """How a checklist item came out: ``fail``, ``pass``, ``info`` (answered, nothing to judge) or ``missing``.

    An item is answered by its responses, or, like the verdict counts it, by the measurements of
    its dimension or by the photos taken for it.
    """
    if answers:
        if any(a.passed is False for a in answers):
            return "fail"
        return "info" if all(a.passed is None for a in answers) else "pass"
    if measured:
        return "fail" if any(m.in_tolerance is False for m in measured) else "pass"
    if photos:
        statuses = {ph.analysis_status for ph in photos}
        if "fail" in statuses:
            return "fail"
        return "pass" if statuses == {"pass"} else "info"
    return "missing" if item.get("required") else "info"


def _checklist_sections(template, responses: list, measurements: list, photos: list[Photo],
                        photo_view: Callable[[Photo], dict]) -> list[dict[str, Any]]:
    by_key: dict[str, list] = {}
    for r in responses:
        by_key.setdefault(r.item_key, []).append(r)
    sections = []
    for s in template.sections or []:
        rows = []
        for item in s.get("items", []):
            answers = sorted(by_key.get(item["key"], []), key=lambda r: (r.unit_index is None, r.unit_index or 0))
            item_photos = [ph for ph in photos if ph.item_key == item["key"]]
            spec_id = item.get("dimension_spec_id")
            measured = sorted((m for m in measurements if spec_id and str(m.dimension_spec_id) == str(spec_id)),
                              key=lambda m: m.unit_index)
            shown = [{"unit": a.unit_index, "text": _answer_text(item, a.value), "note": a.note, "passed": a.passed}
                     for a in answers]
            if not answers:
                shown = [{"unit": m.unit_index, "text": f"{_fmt(m.value_si)} mm", "note": "", "passed": m.in_tolerance}
                         for m in measured]
            rows.append({"label": item["label"], "kind": item["kind"], "required": item.get("required", False),
                         "answers": shown, "state": _item_state(item, answers, item_photos, measured),
                         "photos": [photo_view(ph) for ph in item_photos]})
        sections.append({"title": s.get("title", s["key"]), "items": rows})
    return sections


def _measurement_rows(specs: list, measurements: list[Measurement]) -> list[dict[str, Any]]:
    table: dict[int, dict[str, Measurement]] = {}
    for m in measurements:
        table.setdefault(m.unit_index, {})[str(m.dimension_spec_id)] = m

    def cell(m: Measurement | None) -> dict[str, Any] | None:
        if m is None:
            return None
        return {"value": _fmt(m.value_si), "entered": f"{m.value_entered:g} {m.unit_entered}", "ok": m.in_tolerance,
                "photo": m.source == "photo"}

    return [{"unit": unit, "cells": [cell(cells.get(str(sp.id))) for sp in specs]}
            for unit, cells in sorted(table.items())]


_CLASS_ORDER = ("critical", "major", "minor")


def _defect_rows(found: list[Defect], photos: list[Photo], category: str | None,
                 photo_view: Callable[[Photo], dict]) -> list[dict[str, Any]]:
    labels = _defect_labels(category)
    ordered = sorted(found, key=lambda d: (_CLASS_ORDER.index(d.defect_class) if d.defect_class in _CLASS_ORDER
                                           else len(_CLASS_ORDER), d.code))
    return [{"code": d.code, "label": labels.get(d.code, d.code.replace("_", " ")), "cls": d.defect_class,
             "count": d.count, "unit": d.unit_index, "note": d.note,
             "photos": [photo_view(ph) for ph in photos if ph.defect_id == d.id]} for d in ordered]


def _golden_rows(golden: GoldenSample | None, summary: list[dict], photos: list[Photo]) -> list[dict[str, Any]]:
    """The golden sample's reference next to what was measured, each row naming its statistic:
    dimensions by the mean of the manual and photo measurements, colour by the median CIELAB of
    the analysed photos (per channel, as the photo analysis itself summarises a unit)."""
    if golden is None:
        return []
    rows = []
    ref_dims = (golden.measured or {}).get("dimensions") or {}
    for s in summary:
        ref = ref_dims.get(s["name"])
        rows.append({"name": s["name"], "reference": _fmt(ref), "measured": _fmt(s["mean"]),
                     "statistic": f"mean of {s['count']}" if s["count"] else "",
                     "difference": _fmt(None if ref is None or s["mean"] is None else s["mean"] - ref), "unit": "mm"})
    ref_lab = (golden.measured or {}).get("lab")
    if ref_lab:
        labs = [ph.analysis["lab"] for ph in photos
                if isinstance(ph.analysis, dict) and isinstance(ph.analysis.get("lab"), list)
                and len(ph.analysis["lab"]) == 3]
        measured_lab = [statistics.median(c) for c in zip(*labs, strict=True)] if labs else None
        delta = None
        if measured_lab:
            from .color import delta_e_cie2000

            delta = float(delta_e_cie2000(ref_lab, measured_lab))
        rows.append({"name": "colour (CIELAB D65)", "reference": " / ".join(f"{v:.1f}" for v in ref_lab),
                     "measured": " / ".join(f"{v:.1f}" for v in measured_lab) if measured_lab else "–",
                     "statistic": f"median of {len(labs)} photo{'s' if len(labs) != 1 else ''}" if labs else "",
                     "difference": f"ΔE00 {delta:.2f}" if delta is not None else "–", "unit": ""})
    return rows


def _plan_rows(plans: dict, outcome: dict) -> list[dict[str, Any]]:
    return [{"cls": cls, "aql": pl.aql, "letter": pl.code_letter, "n": pl.sample_size, "ac": pl.accept,
             "re": pl.reject, "found": outcome["classes"].get(cls, {}).get("found", 0),
             "status": outcome["classes"].get(cls, {}).get("status", "pending").replace("_", " ")}
            for cls, pl in plans.items()]


def report_context(insp: Inspection, photo_url: Callable[[Photo], str | None]) -> dict[str, Any]:
    """Everything the report shows, as plain values. ``photo_url(photo)`` gives an image URL or None."""
    outcome = service.recompute_verdict(insp)
    plans = service.plans_for(insp) or {}
    po = db.session.get(PurchaseOrder, insp.purchase_order_id)
    product = db.session.get(Product, insp.product_id)
    template = insp.template
    responses = service.live(ChecklistResponse, insp.id)
    measurements = service.live(Measurement, insp.id)
    photos = service.live(Photo, insp.id)

    def photo_view(ph: Photo) -> dict[str, Any]:
        url = photo_url(ph) if ph.storage_key and ph.upload_state in ("stored", "analysed") else None
        return {"url": url, "taken_at": ph.taken_at, "id": str(ph.id)}

    specs = [sp for sp in product.dimension_specs if not sp.deleted]
    summary = service.measurement_summary(insp)
    golden = db.session.get(GoldenSample, insp.golden_sample_id) if insp.golden_sample_id else None
    override = insp.verdict_override or None
    return {
        "inspection": insp, "po": po, "product": product,
        "batch": db.session.get(Batch, insp.batch_id) if insp.batch_id else None,
        "brand": db.session.get(Organisation, po.brand_id), "factory": db.session.get(Organisation, po.factory_id),
        "template": template, "inspector_name": service.user_name(insp.inspector_id) or "Not assigned",
        "final_verdict": insp.final_verdict, "computed_verdict": insp.verdict,
        "reasons": outcome["reasons"], "override": override,
        "plans": _plan_rows(plans, outcome),
        "lot_letter": next(iter(plans.values())).lot_code_letter if plans else None,
        "sections": _checklist_sections(template, responses, measurements, photos, photo_view),
        "specs": [{"name": sp.name, "nominal": _fmt(sp.nominal_mm), "tolerance": _fmt(sp.tolerance_mm)}
                  for sp in specs],
        "measurement_rows": _measurement_rows(specs, measurements),
        "summary": [{**s, "mean": _fmt(s["mean"]), "min": _fmt(s["min"]), "max": _fmt(s["max"]),
                     "stdev": _fmt(s["stdev"], 3)} for s in summary],
        "defects": _defect_rows(service.live(Defect, insp.id), photos, product.category, photo_view),
        "golden": golden, "golden_rows": _golden_rows(golden, summary, photos), "generated_at": utcnow(),
    }


def render_report(insp: Inspection, photo_url: Callable[[Photo], str | None], stylesheet_url: str) -> str:
    """The report as a complete HTML document (autoescaped; no scripts, no inline styles)."""
    return _env.get_template("report.html").render(stylesheet_url=stylesheet_url,
                                                   **report_context(insp, photo_url))


# -- CSV --------------------------------------------------------------------------------------------

def _cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas: text cells starting with = + - @ get a leading quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue()


def measurements_csv(insp: Inspection) -> str:
    """Every live measurement: unit, spec, value as entered, value in mm, limits, in tolerance, source."""
    product = db.session.get(Product, insp.product_id)
    specs = {sp.id: sp for sp in product.dimension_specs}
    rows = []
    for m in sorted(service.live(Measurement, insp.id), key=lambda m: (m.unit_index, str(m.dimension_spec_id))):
        sp = specs.get(m.dimension_spec_id)
        rows.append([m.unit_index, sp.name if sp else str(m.dimension_spec_id), m.value_entered, m.unit_entered,
                     m.value_si, sp.nominal_mm if sp else None, sp.tolerance_mm if sp else None,
                     "yes" if m.in_tolerance else "no", m.source, m.updated_at.isoformat() if m.updated_at else None])
    return _csv(["unit_index", "dimension", "value_entered", "unit_entered", "value_mm", "nominal_mm",
                 "tolerance_mm", "in_tolerance", "source", "updated_at"], rows)


def defects_csv(insp: Inspection) -> str:
    """Every live defect: code, label, class, count, unit, note, photo ids."""
    library = _defect_labels(db.session.get(Product, insp.product_id).category)
    photos = service.live(Photo, insp.id)
    rows = [[d.code, library.get(d.code, ""), d.defect_class, d.count, d.unit_index, d.note,
             " ".join(str(ph.id) for ph in photos if ph.defect_id == d.id),
             d.updated_at.isoformat() if d.updated_at else None]
            for d in sorted(service.live(Defect, insp.id), key=lambda d: (d.defect_class, d.code))]
    return _csv(["code", "label", "class", "count", "unit_index", "note", "photo_ids", "updated_at"], rows)
