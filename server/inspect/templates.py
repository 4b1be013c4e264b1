"""Checklist templates: versions of a family, the golden-sample section, items by key.

Editing a checklist adds a version; inspections keep the version they started with.
"""
from __future__ import annotations

import contextlib
import contextvars
import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from ..accounts.models import OrgKind, Organisation
from ..auth import Principal
from ..errors import Conflict, ValidationFailed
from ..extensions import db
from ..models import utcnow
from ..audit import record_audit
from ..jsontext import jsonable_deep
from .models import ChecklistTemplate
from .scope import require_brand_editor, visible_templates

#: The golden-sample confirmation every pre-production checklist carries.
GOLDEN_SAMPLE_SECTION = {"key": "golden_sample", "title": "Golden sample confirmation", "items": [
    {"key": "gs_materials", "kind": "yes_no_na", "label": "Materials match the golden sample", "required": True},
    {"key": "gs_colours", "kind": "yes_no_na", "label": "Colours and finishes consistent with the golden sample",
     "required": True},
    {"key": "gs_packaging", "kind": "yes_no_na", "label": "Packaging specs correct", "required": True},
    {"key": "gs_tooling", "kind": "yes_no_na", "label": "Tooling or moulds final", "required": True},
]}


# -- helpers ------------------------------------------------------------------------------


def normalise_sections(sections: list[dict], inspection_kind: str | None) -> list[dict]:
    """Sections as stored: JSON-ready, with the golden-sample confirmation on pre-production checklists.

    Raises ``ValidationFailed`` when a pre-production checklist's own golden-sample section
    would clash with the standard item keys.
    """
    out = jsonable_deep([{**s, "items": [dict(i) for i in s["items"]]} for s in sections])
    if inspection_kind == "pre_production" and not any(s["key"] == "golden_sample" for s in out):
        keys = {i["key"] for s in out for i in s["items"]}
        clash = keys & {i["key"] for i in GOLDEN_SAMPLE_SECTION["items"]}
        if clash:
            raise ValidationFailed(errors={"sections": [f"Item keys reserved for the golden-sample section: "
                                                        f"{', '.join(sorted(clash))}."]})
        out.append(jsonable_deep(GOLDEN_SAMPLE_SECTION))
    return out


def list_templates(p: Principal, args: dict[str, Any]) -> Select:
    """Templates the principal may see; current versions of live families unless asked otherwise."""
    q = visible_templates(p)
    if not args.get("all_versions"):
        q = q.where(ChecklistTemplate.is_current.is_(True))
    if not args.get("include_archived"):
        q = q.where(ChecklistTemplate.archived_at.is_(None))
    for key in ("brand_id", "family_id", "inspection_kind"):
        if key in args:
            q = q.where(getattr(ChecklistTemplate, key) == args[key])
    return q.order_by(ChecklistTemplate.name, ChecklistTemplate.version.desc())


def create_template(p: Principal, data: dict[str, Any]) -> ChecklistTemplate:
    """Create version 1 of a new checklist family. Raises ``Forbidden`` outside the caller's brands."""
    require_brand_editor(p, data["brand_id"])
    brand = db.session.get(Organisation, data["brand_id"])
    if brand is None or brand.kind != OrgKind.brand:
        raise ValidationFailed(errors={"brand_id": ["No brand with this id."]})
    t = ChecklistTemplate(id=uuid.uuid4(), brand_id=data["brand_id"], family_id=uuid.uuid4(), version=1,
                          name=data["name"], inspection_kind=data.get("inspection_kind"),
                          sections=normalise_sections(data["sections"], data.get("inspection_kind")),
                          verdict_rule=data.get("verdict_rule"), is_current=True, created_by_id=p.id)
    db.session.add(t)
    db.session.flush()
    record_audit("template", t.id, None, "create", {"name": [None, t.name], "version": [None, 1]}, p.id)
    db.session.commit()
    return t


def _current_of_family(family_id: uuid.UUID) -> ChecklistTemplate | None:
    return db.session.scalar(select(ChecklistTemplate).where(ChecklistTemplate.family_id == family_id)
                             .order_by(ChecklistTemplate.version.desc()).with_for_update())


def edit_template(p: Principal, t: ChecklistTemplate, data: dict[str, Any]) -> ChecklistTemplate:
    """Edit a checklist: adds a new version; earlier versions (and inspections using them) stay as they are.

    Raises ``Forbidden`` outside the caller's brands, ``Conflict`` for an archived family or a
    concurrent edit.
    """
    require_brand_editor(p, t.brand_id)
    latest = _current_of_family(t.family_id)
    if latest.archived_at is not None:
        raise Conflict("This checklist is archived; copy it to start a new one.")
    kind = data.get("inspection_kind", latest.inspection_kind)
    sections = data["sections"] if "sections" in data else latest.sections
    new = ChecklistTemplate(id=uuid.uuid4(), brand_id=latest.brand_id, family_id=latest.family_id,
                            version=latest.version + 1, name=data.get("name", latest.name), inspection_kind=kind,
                            sections=normalise_sections(sections, kind),
                            verdict_rule=data.get("verdict_rule", latest.verdict_rule),
                            copied_from_id=latest.copied_from_id, is_current=True, created_by_id=p.id)
    for old in db.session.scalars(select(ChecklistTemplate).where(ChecklistTemplate.family_id == t.family_id,
                                                                   ChecklistTemplate.is_current.is_(True))):
        old.is_current = False
    db.session.add(new)
    db.session.flush()
    record_audit("template", new.id, None, "update",
                 {"version": [latest.version, new.version],
                  **{k: [getattr(latest, k), getattr(new, k)] for k in ("name", "inspection_kind", "sections",
                                                                        "verdict_rule")
                     if getattr(latest, k) != getattr(new, k)}}, p.id)
    try:
        db.session.commit()
    except IntegrityError:  # someone else added this version number first
        db.session.rollback()
        raise Conflict("Someone edited this checklist at the same time; reload it and edit again.") from None
    return new


def copy_template(p: Principal, t: ChecklistTemplate, data: dict[str, Any]) -> ChecklistTemplate:
    """Copy a template version into a new family (version 1), in the same or another brand the caller edits."""
    brand_id = data.get("brand_id") or t.brand_id
    require_brand_editor(p, brand_id)
    new = ChecklistTemplate(id=uuid.uuid4(), brand_id=brand_id, family_id=uuid.uuid4(), version=1,
                            name=data["name"], inspection_kind=t.inspection_kind, sections=jsonable_deep(t.sections),
                            verdict_rule=t.verdict_rule, copied_from_id=t.id, is_current=True, created_by_id=p.id)
    db.session.add(new)
    db.session.flush()
    record_audit("template", new.id, None, "create", {"copied_from_id": [None, t.id], "name": [None, new.name]},
                 p.id)
    db.session.commit()
    return new


def archive_template(p: Principal, t: ChecklistTemplate) -> ChecklistTemplate:
    """Archive a checklist family: no new inspections use it; every version stays readable."""
    require_brand_editor(p, t.brand_id)
    now = utcnow()
    for version in db.session.scalars(select(ChecklistTemplate).where(ChecklistTemplate.family_id == t.family_id)):
        if version.archived_at is None:
            version.archived_at = now
    record_audit("template", t.id, None, "update", {"archived_at": [None, now]}, p.id)
    db.session.commit()
    return t


def template_items(t: ChecklistTemplate) -> dict[str, dict]:
    """Item key -> item (with its ``section``) of one template version."""
    return {i["key"]: {**i, "section": s["key"]} for s in (t.sections or []) for i in s.get("items", [])}


#: Inside :func:`sync_batch`: template id -> its items, so a batch reads each checklist version once.
_BATCH_ITEMS: contextvars.ContextVar[dict | None] = contextvars.ContextVar("inspect_batch_items", default=None)


@contextlib.contextmanager
def sync_batch():
    """Scope of one sync batch: each checklist version's items are built once and reused.

    Templates do not change while a batch is being applied, so the memo is safe; it ends
    with the block.
    """
    token = _BATCH_ITEMS.set({})
    try:
        yield
    finally:
        _BATCH_ITEMS.reset(token)


def items_of(insp: Any) -> dict[str, dict]:
    """The items of the inspection's checklist version (memoised inside :func:`sync_batch`)."""
    cache = _BATCH_ITEMS.get()
    if cache is not None and insp.template_id in cache:
        return cache[insp.template_id]
    template = getattr(insp, "template", None) or db.session.get(ChecklistTemplate, insp.template_id)
    items = template_items(template)
    if cache is not None:
        cache[insp.template_id] = items
    return items
