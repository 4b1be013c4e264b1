"""Corrective and preventive actions (CAPA, 8D style) on issues. No Flask request objects here.

Six steps per issue, in order (``models.CAPA_STEPS``): containment, root cause (with a 5-why),
corrective action, preventive action, verification, effectiveness check. Each has an owner who
must belong to the issue's responsible organisation (``Issue.owner_org_id``), a due date, a
status (open, in_progress, done) and evidence files that can be downloaded again.

Who may do what: the brand's editors and the factory's managers write steps and add evidence;
only a brand editor records whether the effectiveness check proved the action effective. An
issue with a CAPA is closed (``verified``) only after an effective, verified effectiveness
check, or with a brand editor's ``capa_waiver_reason`` (audited). Overdue steps raise a
``capa_overdue`` alert on the PO (see ``service.wanted_alerts``).
"""
from __future__ import annotations

from datetime import date
from typing import Any, Iterable

from sqlalchemy import select

from ..accounts.models import Membership
from ..audit import record_audit
from ..auth import Principal
from ..catalog.models import PurchaseOrder
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..models import utcnow
from .forecast import AlertSpec
from .models import CAPA_STEPS, CapaStep, Issue
from .service import refresh_alerts, require_brand, require_party, store_upload

CLOSED_ISSUE_STATUSES = ("verified", "wont_fix")


def responsible_org(issue: Issue, po: PurchaseOrder):
    return issue.owner_org_id or po.factory_id


def steps_of(issue: Issue) -> dict[str, CapaStep]:
    return {s.step: s for s in db.session.scalars(select(CapaStep).where(CapaStep.issue_id == issue.id))}


def close_blocker(issue: Issue) -> str | None:
    """Why the issue may not be closed yet (None: it may): its CAPA's effectiveness check is not verified."""
    steps = steps_of(issue)
    if not steps:
        return None
    check = steps.get("effectiveness_check")
    if check is None or check.verified_at is None:
        return "The effectiveness check has not been verified by the brand."
    if not check.effective:
        return "The effectiveness check found the action not effective."
    return None


def capa_view(issue: Issue, po: PurchaseOrder, today: date) -> dict[str, Any]:
    """The issue's CAPA: every step in order (``status: "not_started"`` for those not begun)."""
    steps = steps_of(issue)
    rows = []
    for name in CAPA_STEPS:
        s = steps.get(name)
        if s is None:
            rows.append({"step": name, "status": "not_started", "evidence": [], "five_whys": [], "overdue": False})
            continue
        rows.append({"id": s.id, "step": name, "description": s.description, "five_whys": s.five_whys or [],
                     "owner_user_id": s.owner_user_id, "due_date": s.due_date, "status": s.status,
                     "completed_at": s.completed_at, "effective": s.effective, "verified_by_id": s.verified_by_id,
                     "verified_at": s.verified_at, "evidence": s.evidence or [],
                     "overdue": bool(s.due_date and s.due_date < today and s.status != "done")})
    blocker = close_blocker(issue)
    return {"issue_id": issue.id, "responsible_org_id": responsible_org(issue, po), "steps": rows,
            "closable": blocker is None, "close_blocked_by": blocker, "capa_waiver_reason": issue.capa_waiver_reason}


def _check_step(issue: Issue, po: PurchaseOrder, step: str, data: dict[str, Any]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if step not in CAPA_STEPS:
        raise NotFound(f"No such CAPA step: {step}.")
    if data.get("five_whys") and step != "root_cause":
        errors["five_whys"] = ["Only the root cause has a 5-why."]
    if data.get("owner_user_id"):
        member = db.session.scalar(select(Membership.id).where(Membership.user_id == data["owner_user_id"],
                                                               Membership.organisation_id == responsible_org(issue, po)))
        if member is None:
            errors["owner_user_id"] = ["The owner must be a member of the issue's responsible organisation."]
    return errors


def set_step(p: Principal, issue: Issue, po: PurchaseOrder, step: str, data: dict[str, Any]) -> CapaStep:
    """Create or change one CAPA step (brand editors, factory managers).

    Raises ``NotFound`` (no such step), ``Forbidden``, ``ValidationFailed`` (owner outside the
    responsible organisation, a 5-why on another step), ``Conflict`` once the issue is closed.
    """
    require_party(p, po)
    if issue.status in CLOSED_ISSUE_STATUSES:
        raise Conflict(f"The issue is {issue.status}; its CAPA is closed.")
    errors = _check_step(issue, po, step, data)
    if errors:
        raise ValidationFailed(errors=errors)
    row = steps_of(issue).get(step) or CapaStep(issue_id=issue.id, step=step, status="open", five_whys=[],
                                                evidence=[])
    for key in ("description", "five_whys", "owner_user_id", "due_date"):
        if key in data:
            setattr(row, key, data[key])
    if "status" in data and data["status"] != row.status:
        row.status = data["status"]
        row.completed_at = utcnow() if row.status == "done" else None
        if step == "effectiveness_check" and row.status != "done":
            row.effective, row.verified_by_id, row.verified_at = None, None, None
    db.session.add(row)
    refresh_alerts(po)
    db.session.commit()
    return row


def verify_effectiveness(p: Principal, issue: Issue, po: PurchaseOrder, effective: bool, note: str) -> CapaStep:
    """The brand records whether the effectiveness check proved the action effective.

    Raises ``Forbidden`` (not a brand editor), ``Conflict`` until the check is done.
    """
    require_brand(p, po)
    row = steps_of(issue).get("effectiveness_check")
    if row is None or row.status != "done":
        raise Conflict("Mark the effectiveness check done (with its evidence) before verifying it.")
    row.effective, row.verified_by_id, row.verified_at = effective, p.id, utcnow()
    if note:
        row.description = (row.description + "\n" if row.description else "") + f"Brand: {note}"
    record_audit("issue", issue.id, None, "capa_verify", {"effective": [None, effective], "note": [None, note]}, p.id)
    db.session.commit()
    return row


def add_evidence(p: Principal, issue: Issue, po: PurchaseOrder, step: str,
                 files: Iterable[tuple[Any, str, str]]) -> CapaStep:
    """Attach evidence files to a step (``(stream, filename, content_type)``; same types and limits as documents)."""
    require_party(p, po)
    row = steps_of(issue).get(step)
    if step not in CAPA_STEPS or row is None:
        raise NotFound("Start this CAPA step before attaching evidence.")
    stored = [store_upload(stream, name, ctype, "attachments") for stream, name, ctype in files]
    if not stored:
        raise ValidationFailed(errors={"files": ["Attach at least one file."]})
    row.evidence = [*(row.evidence or []), *stored]
    db.session.commit()
    return row


def evidence_file(issue: Issue, step: str, index: int) -> dict[str, Any]:
    """One evidence file of a step. Raises ``NotFound``."""
    row = steps_of(issue).get(step)
    files = (row.evidence or []) if row else []
    if not 0 <= index < len(files):
        raise NotFound("No such evidence file.")
    return files[index]


def close_with_waiver(p: Principal, issue: Issue, po: PurchaseOrder, reason: str) -> None:
    """Record the brand's waiver to close an issue whose CAPA is not proven effective (no commit)."""
    require_brand(p, po)
    issue.capa_waiver_reason = reason
    record_audit("issue", issue.id, None, "capa_waiver", {"capa_waiver_reason": [None, reason]}, p.id)


def overdue_step_alerts(po: PurchaseOrder, today: date) -> list[AlertSpec]:
    """A ``capa_overdue`` warning per CAPA step past its due date and not done, on issues still open."""
    rows = db.session.execute(select(CapaStep, Issue).join(Issue, CapaStep.issue_id == Issue.id).where(
        Issue.purchase_order_id == po.id, Issue.status.notin_(CLOSED_ISSUE_STATUSES), CapaStep.status != "done",
        CapaStep.due_date < today)).all()
    return [AlertSpec("capa_overdue", f"capa:{issue.id}:{s.step}", "warning",
                      f"CAPA {s.step.replace('_', ' ')} of \u201c{issue.title}\u201d was due {s.due_date.isoformat()}.",
                      {"issue_id": str(issue.id), "step": s.step, "due_date": s.due_date.isoformat(),
                       "owner_user_id": str(s.owner_user_id) if s.owner_user_id else None})
            for s, issue in sorted(rows, key=lambda r: (r[0].due_date, CAPA_STEPS.index(r[0].step)))]

