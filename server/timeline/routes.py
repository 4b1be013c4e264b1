"""The PO timeline API: golden samples, schedule, progress, freight, issues, alerts. HTTP only."""
from __future__ import annotations

import uuid

from flask import Response, current_app, redirect, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from ..auth import require
from ..errors import NotFound, ValidationFailed
from ..extensions import db
from . import booking, capa, dashboard, release, service
from .models import MILESTONE_KINDS, GoldenSampleSubmission, Material, Milestone, Shipment
from .schemas import (AlertQuerySchema, AlertSchema, DashboardQuerySchema, DashboardSchema, BookingDateSchema, BookingReasonSchema, BookingSchema,
                      ConfirmBookingSchema, FeedCreateSchema, FeedSchema, CapaSchema, CapaStepSchema, EffectivenessSchema, ChooseGoldenSampleSchema, CommentFormSchema,
                      LineGoldenSampleSchema, DecisionSchema, DocumentSchema,
                      DocumentUpdateSchema, FromInspectionSchema, GateSchema, ReleaseSchema, ShipmentAuditSchema,
                      WaiverSchema, IssueCommentSchema, IssueQuerySchema, IssueSchema,
                      IssueUpdateSchema, MaterialSchema, MaterialUpdateSchema, MilestoneSchema,
                      MilestoneUpdateSchema, PackingListSchema, ProgressSchema, RiskRowSchema, ScheduleSchema,
                      ShipmentDetailSchema, ShipmentSchema, ShipmentUpdateSchema, SubmissionSchema, TimelineSchema,
                      UploadSchema)

blp = Blueprint("timeline", __name__, url_prefix="/api/v1",
                description="After the PO: golden samples, schedule and progress with a delay forecast, freight "
                            "readiness, issues, alerts, and one timeline per PO")


def _po(po_id: uuid.UUID):
    p = require()
    return p, service.po_or_404(p, po_id)


# -- the PO view --------------------------------------------------------------------------------

@blp.route("/purchase-orders/risk")
class RiskList(MethodView):
    @blp.response(200, RiskRowSchema(many=True))
    def get(self):
        """Open purchase orders you may see, riskiest first"""
        return service.po_risk_list(require())


@blp.route("/purchase-orders/<uuid:po_id>/timeline")
class Timeline(MethodView):
    @blp.response(200, TimelineSchema)
    def get(self, po_id: uuid.UUID):
        """One PO's timeline: milestones planned, forecast and actual; attention items first"""
        p, po = _po(po_id)
        return service.po_timeline(p, po)


# -- golden samples -----------------------------------------------------------------------------

@blp.route("/purchase-orders/<uuid:po_id>/golden-sample-submissions")
class Submissions(MethodView):
    @blp.response(200, SubmissionSchema(many=True))
    def get(self, po_id: uuid.UUID):
        """Pre-production samples submitted on a PO, newest first"""
        _, po = _po(po_id)
        return db.session.scalars(select(GoldenSampleSubmission).where(
            GoldenSampleSubmission.purchase_order_id == po.id).order_by(GoldenSampleSubmission.created_at.desc())).all()

    @blp.arguments(SubmissionSchema)
    @blp.response(201, SubmissionSchema)
    def post(self, body, po_id: uuid.UUID):
        """Submit a pre-production sample with checks, discrepancies and measured values"""
        p, po = _po(po_id)
        return service.submit_golden_sample(p, po, body)


@blp.route("/golden-sample-submissions/<uuid:submission_id>")
class SubmissionItem(MethodView):
    @blp.response(200, SubmissionSchema)
    def get(self, submission_id: uuid.UUID):
        """One golden-sample submission"""
        return service.submission_or_404(require(), submission_id)[0]


@blp.route("/golden-sample-submissions/<uuid:submission_id>/decision")
class SubmissionDecision(MethodView):
    @blp.arguments(DecisionSchema)
    @blp.response(200, SubmissionSchema)
    def post(self, body, submission_id: uuid.UUID):
        """Approve (new golden-sample version) or reject a sample, with a comment (brand editors)"""
        p = require()
        sub, po = service.submission_or_404(p, submission_id)
        return service.decide_golden_sample(p, sub, po, body["decision"], body["comment"])


@blp.route("/purchase-orders/<uuid:po_id>/golden-samples")
class PoGoldenSamples(MethodView):
    @blp.response(200, LineGoldenSampleSchema(many=True))
    def get(self, po_id: uuid.UUID):
        """Per PO line: the golden-sample version it is produced and inspected against"""
        p, po = _po(po_id)
        return service.po_golden_samples(p, po)

    @blp.arguments(ChooseGoldenSampleSchema)
    @blp.response(200, LineGoldenSampleSchema(many=True))
    def put(self, body, po_id: uuid.UUID):
        """Pin the PO's lines of a product (or one line) to a golden-sample version (brand editors)"""
        p, po = _po(po_id)
        return service.choose_golden_sample(p, po, body)


# -- schedule, materials, milestones, progress ---------------------------------------------------

@blp.route("/purchase-orders/<uuid:po_id>/schedule")
class Schedule(MethodView):
    @blp.response(200, ScheduleSchema)
    def get(self, po_id: uuid.UUID):
        """The PO's production schedule"""
        _, po = _po(po_id)
        sched = service.schedule_of(po)
        if sched is None:
            raise NotFound("This PO has no production schedule yet.")
        return sched

    @blp.arguments(ScheduleSchema)
    @blp.response(200, ScheduleSchema)
    def put(self, body, po_id: uuid.UUID):
        """Set the production line, slot, planned daily rate and working days (fields given change)"""
        p, po = _po(po_id)
        return service.set_schedule(p, po, body)


@blp.route("/purchase-orders/<uuid:po_id>/materials")
class Materials(MethodView):
    @blp.response(200, MaterialSchema(many=True))
    def get(self, po_id: uuid.UUID):
        """Materials to procure for a PO, by ETA"""
        _, po = _po(po_id)
        return db.session.scalars(select(Material).where(Material.purchase_order_id == po.id)
                                  .order_by(Material.eta, Material.name)).all()

    @blp.arguments(MaterialSchema)
    @blp.response(201, MaterialSchema)
    def post(self, body, po_id: uuid.UUID):
        """Add a material with supplier and ETA"""
        p, po = _po(po_id)
        return service.add_material(p, po, body)


@blp.route("/materials/<uuid:material_id>")
class MaterialItem(MethodView):
    @blp.arguments(MaterialUpdateSchema)
    @blp.response(200, MaterialSchema)
    def patch(self, body, material_id: uuid.UUID):
        """Change a material's supplier or ETA, or record it received"""
        p = require()
        m, po = service.material_or_404(p, material_id)
        return service.update_material(p, m, po, body)


@blp.route("/purchase-orders/<uuid:po_id>/milestones")
class Milestones(MethodView):
    @blp.response(200, MilestoneSchema(many=True))
    def get(self, po_id: uuid.UUID):
        """Milestone dates set by hand on a PO (the timeline adds derived and forecast dates)"""
        _, po = _po(po_id)
        return db.session.scalars(select(Milestone).where(Milestone.purchase_order_id == po.id)).all()


@blp.route("/purchase-orders/<uuid:po_id>/milestones/<string:kind>")
class MilestoneItem(MethodView):
    @blp.arguments(MilestoneUpdateSchema)
    @blp.response(200, MilestoneSchema)
    def put(self, body, po_id: uuid.UUID, kind: str):
        """Set a milestone's planned or actual date; production start needs an approved golden sample"""
        p, po = _po(po_id)
        if kind not in MILESTONE_KINDS:
            raise ValidationFailed(errors={"kind": [f"One of: {', '.join(MILESTONE_KINDS)}."]})
        return service.set_milestone(p, po, kind, body)


@blp.route("/purchase-orders/<uuid:po_id>/progress")
class Progress(MethodView):
    @blp.response(200, ProgressSchema(many=True))
    def get(self, po_id: uuid.UUID):
        """Daily progress reports of a PO, oldest first"""
        _, po = _po(po_id)
        return service.progress_reports(po)

    @blp.arguments(ProgressSchema)
    @blp.response(201, ProgressSchema)
    @blp.alt_response(200, schema=ProgressSchema, description="the same report was already recorded")
    def post(self, body, po_id: uuid.UUID):
        """Report units of a PO line produced on a day (idempotent by the client-made id)"""
        p, po = _po(po_id)
        report, created = service.report_progress(p, po, body)
        return report, 201 if created else 200


# -- freight ------------------------------------------------------------------------------------

@blp.route("/purchase-orders/<uuid:po_id>/shipments")
class Shipments(MethodView):
    @blp.response(200, ShipmentSchema(many=True))
    def get(self, po_id: uuid.UUID):
        """Shipments of a PO with booking, packing list and documents"""
        _, po = _po(po_id)
        return db.session.scalars(select(Shipment).where(Shipment.purchase_order_id == po.id)
                                  .order_by(Shipment.reference)).all()

    @blp.arguments(ShipmentSchema)
    @blp.response(201, ShipmentSchema)
    def post(self, body, po_id: uuid.UUID):
        """Create a shipment; its document checklist follows the PO's destination"""
        p, po = _po(po_id)
        return service.create_shipment(p, po, body)


def _shipment_detail(shipment, po):
    return {"shipment": shipment, "packing": service.packing_summary(
        service.packing_check(shipment, po), {str(line.id): line.product.sku for line in po.lines}),
        "missing_documents": service.missing_documents(shipment)}


@blp.route("/shipments/<uuid:shipment_id>")
class ShipmentItem(MethodView):
    @blp.response(200, ShipmentDetailSchema)
    def get(self, shipment_id: uuid.UUID):
        """A shipment with its packing-list check, container fit and missing documents"""
        shipment, po = service.shipment_or_404(require(), shipment_id)
        return _shipment_detail(shipment, po)

    @blp.arguments(ShipmentUpdateSchema)
    @blp.response(200, ShipmentDetailSchema)
    def patch(self, body, shipment_id: uuid.UUID):
        """Change booking details, departure or delivery; mark the packing list complete"""
        p = require()
        shipment, po = service.shipment_or_404(p, shipment_id)
        return _shipment_detail(service.update_shipment(p, shipment, po, body), po)


@blp.route("/shipments/<uuid:shipment_id>/packing-list")
class PackingList(MethodView):
    @blp.arguments(PackingListSchema)
    @blp.response(200, ShipmentDetailSchema)
    def put(self, body, shipment_id: uuid.UUID):
        """Replace the packing list; the answer checks it against the PO and estimates containers"""
        p = require()
        shipment, po = service.shipment_or_404(p, shipment_id)
        return _shipment_detail(service.replace_packing_list(p, shipment, po, body["cartons"]), po)


@blp.route("/shipments/<uuid:shipment_id>/gate")
class ShipmentGate(MethodView):
    @blp.response(200, GateSchema)
    def get(self, shipment_id: uuid.UUID):
        """The shipment's release gate: what is missing before it may depart, and what was waived"""
        p = require()
        shipment, po = service.shipment_or_404(p, shipment_id)
        return release.shipment_gate(p, shipment, po)


@blp.route("/shipments/<uuid:shipment_id>/release")
class ShipmentRelease(MethodView):
    @blp.arguments(ReleaseSchema)
    @blp.response(200, GateSchema)
    def post(self, body, shipment_id: uuid.UUID):
        """Release the shipment (mark it departed); 409 release_blocked with the missing items"""
        p = require()
        shipment, po = service.shipment_or_404(p, shipment_id)
        return release.release_shipment(p, shipment, po, body.get("departed_on"))


@blp.route("/shipments/<uuid:shipment_id>/gate/waivers")
class ShipmentWaivers(MethodView):
    @blp.response(200, WaiverSchema(many=True))
    def get(self, shipment_id: uuid.UUID):
        """Waivers of the shipment's gate, revoked ones included"""
        p = require()
        shipment, po = service.shipment_or_404(p, shipment_id)
        release.shipment_gate(p, shipment, po)  # same readers as the gate
        from .models import GateWaiver

        return db.session.scalars(select(GateWaiver).where(GateWaiver.shipment_id == shipment.id)
                                  .order_by(GateWaiver.created_at)).all()

    @blp.arguments(WaiverSchema)
    @blp.response(201, WaiverSchema)
    def post(self, body, shipment_id: uuid.UUID):
        """Waive one missing gate item with a reason (brand editors; audited)"""
        p = require()
        shipment, po = service.shipment_or_404(p, shipment_id)
        return release.waive_item(p, shipment, po, body)


@blp.route("/gate-waivers/<uuid:waiver_id>")
class GateWaiverItem(MethodView):
    @blp.response(200, WaiverSchema)
    def delete(self, waiver_id: uuid.UUID):
        """Revoke a waiver before the shipment departs (brand editors; audited)"""
        p = require()
        w, shipment, po = release.waiver_or_404(p, waiver_id)
        return release.revoke_waiver(p, w, shipment, po)


@blp.route("/shipments/<uuid:shipment_id>/audit")
class ShipmentAudit(MethodView):
    @blp.response(200, ShipmentAuditSchema(many=True))
    def get(self, shipment_id: uuid.UUID):
        """The shipment's audit trail: releases, waivers, document decisions"""
        p = require()
        shipment, po = service.shipment_or_404(p, shipment_id)
        return release.shipment_audit(p, shipment, po)


@blp.route("/shipments/<uuid:shipment_id>/documents")
class Documents(MethodView):
    @blp.arguments(DocumentSchema)
    @blp.response(201, DocumentSchema)
    def post(self, body, shipment_id: uuid.UUID):
        """Add a document to the shipment's export checklist"""
        p = require()
        shipment, po = service.shipment_or_404(p, shipment_id)
        return service.add_document(p, shipment, po, body)


@blp.route("/documents/<uuid:document_id>")
class DocumentItem(MethodView):
    @blp.arguments(DocumentUpdateSchema)
    @blp.response(200, DocumentSchema)
    def patch(self, body, document_id: uuid.UUID):
        """Approve, reject or waive a document, or change whether it is required"""
        p = require()
        doc, po = service.document_or_404(p, document_id)
        return service.update_document(p, doc, po, body)


@blp.route("/documents/<uuid:document_id>/file")
class DocumentFile(MethodView):
    @blp.arguments(UploadSchema, location="files")
    @blp.response(200, DocumentSchema)
    def put(self, files, document_id: uuid.UUID):
        """Upload a document's file (multipart/form-data, field "file"; PDF, image or Office file)"""
        p = require()
        doc, po = service.document_or_404(p, document_id)
        f = files["file"]
        return service.upload_document(p, doc, po, f.stream, f.filename or "", f.mimetype or "")

    @blp.response(302)
    def get(self, document_id: uuid.UUID):
        """Download a document's file (a redirect to a short-lived signed URL)"""
        doc, _ = service.document_or_404(require(), document_id)
        if not doc.storage_key:
            raise NotFound("No file has been uploaded for this document.")
        from ..storage.backends import get_storage

        ttl = current_app.config["STORAGE_PRESIGN_TTL_SECONDS"]
        return redirect(get_storage().presign_get(doc.storage_key, expires_in=ttl, content_type=doc.content_type))


# -- issues -------------------------------------------------------------------------------------

@blp.route("/purchase-orders/<uuid:po_id>/issues")
class Issues(MethodView):
    @blp.arguments(IssueQuerySchema, location="query")
    @blp.response(200, IssueSchema(many=True))
    def get(self, args, po_id: uuid.UUID):
        """Issues of a PO, filterable by status ("unresolved" = open or in progress)"""
        p, po = _po(po_id)
        from .models import Issue

        q = service.visible_issues(p, po).order_by(Issue.created_at)
        if args.get("status") == "unresolved":
            q = q.where(Issue.status.in_(service.OPEN_ISSUE_STATUSES))
        elif args.get("status"):
            q = q.where(Issue.status == args["status"])
        return db.session.scalars(q).all()

    @blp.arguments(IssueSchema)
    @blp.response(201, IssueSchema)
    def post(self, body, po_id: uuid.UUID):
        """Open an issue with type, severity, owner, due date, expected delay and links"""
        p, po = _po(po_id)
        return service.create_issue(p, po, body)


@blp.route("/issues/from-inspection")
class IssueFromInspection(MethodView):
    @blp.arguments(FromInspectionSchema)
    @blp.response(201, IssueSchema)
    @blp.alt_response(200, schema=IssueSchema, description="an open issue for this inspection already exists")
    def post(self, body):
        """Open a quality-failure issue from a failed inspection in one step"""
        issue, created = service.issue_from_inspection(require(), body["inspection_id"])
        return issue, 201 if created else 200


@blp.route("/issues/<uuid:issue_id>")
class IssueItem(MethodView):
    @blp.response(200, IssueSchema)
    def get(self, issue_id: uuid.UUID):
        """One issue with its comment thread"""
        return service.issue_or_404(require(), issue_id)[0]

    @blp.arguments(IssueUpdateSchema)
    @blp.response(200, IssueSchema)
    def patch(self, body, issue_id: uuid.UUID):
        """Change an issue or move its status (open, in_progress, resolved, verified, wont_fix)"""
        p = require()
        issue, po = service.issue_or_404(p, issue_id)
        return service.update_issue(p, issue, po, body)


@blp.route("/issues/<uuid:issue_id>/comments")
class IssueComments(MethodView):
    @blp.arguments(CommentFormSchema, location="form")
    @blp.response(201, IssueCommentSchema)
    def post(self, form, issue_id: uuid.UUID):
        """Comment on an issue (multipart/form-data: "body" and any number of "files")"""
        p = require()
        issue, po = service.issue_or_404(p, issue_id)
        files = [(f.stream, f.filename or "", f.mimetype or "") for f in request.files.getlist("files")]
        return service.add_comment(p, issue, po, form["body"], files)


def _signed_redirect(attachment: dict):
    from ..storage.backends import get_storage

    ttl = current_app.config["STORAGE_PRESIGN_TTL_SECONDS"]
    return redirect(get_storage().presign_get(attachment["storage_key"], expires_in=ttl,
                                              content_type=attachment.get("content_type")))


@blp.route("/issues/<uuid:issue_id>/comments/<uuid:comment_id>/attachments/<int:index>")
class CommentAttachment(MethodView):
    @blp.response(302)
    def get(self, issue_id: uuid.UUID, comment_id: uuid.UUID, index: int):
        """Download a comment's attachment (a redirect to a short-lived signed URL)"""
        issue, _ = service.issue_or_404(require(), issue_id)
        comment = next((c for c in issue.comments if c.id == comment_id), None)
        files = comment.attachments if comment is not None else []
        if not 0 <= index < len(files):
            raise NotFound("No such attachment.")
        return _signed_redirect(files[index])


# -- CAPA ---------------------------------------------------------------------------------------

@blp.route("/issues/<uuid:issue_id>/capa")
class Capa(MethodView):
    @blp.response(200, CapaSchema)
    def get(self, issue_id: uuid.UUID):
        """The issue's corrective and preventive action: six steps in order, and whether it may close"""
        issue, po = service.issue_or_404(require(), issue_id)
        return capa.capa_view(issue, po, service.today_utc())


@blp.route("/issues/<uuid:issue_id>/capa/<string:step>")
class CapaStepItem(MethodView):
    @blp.arguments(CapaStepSchema)
    @blp.response(200, CapaSchema)
    def put(self, body, issue_id: uuid.UUID, step: str):
        """Start or change a CAPA step: description, 5-why, owner (responsible organisation), due date, status"""
        p = require()
        issue, po = service.issue_or_404(p, issue_id)
        capa.set_step(p, issue, po, step, body)
        return capa.capa_view(issue, po, service.today_utc())


@blp.route("/issues/<uuid:issue_id>/capa/effectiveness_check/verification")
class CapaVerification(MethodView):
    @blp.arguments(EffectivenessSchema)
    @blp.response(200, CapaSchema)
    def post(self, body, issue_id: uuid.UUID):
        """The brand records whether the effectiveness check proved the action effective"""
        p = require()
        issue, po = service.issue_or_404(p, issue_id)
        capa.verify_effectiveness(p, issue, po, body["effective"], body["note"])
        return capa.capa_view(issue, po, service.today_utc())


@blp.route("/issues/<uuid:issue_id>/capa/<string:step>/evidence")
class CapaEvidence(MethodView):
    @blp.response(201, CapaSchema)
    def post(self, issue_id: uuid.UUID, step: str):
        """Attach evidence to a CAPA step (multipart/form-data, any number of "files")"""
        p = require()
        issue, po = service.issue_or_404(p, issue_id)
        files = [(f.stream, f.filename or "", f.mimetype or "") for f in request.files.getlist("files")]
        capa.add_evidence(p, issue, po, step, files)
        return capa.capa_view(issue, po, service.today_utc())


@blp.route("/issues/<uuid:issue_id>/capa/<string:step>/evidence/<int:index>")
class CapaEvidenceFile(MethodView):
    @blp.response(302)
    def get(self, issue_id: uuid.UUID, step: str, index: int):
        """Download one evidence file (a redirect to a short-lived signed URL)"""
        issue, _ = service.issue_or_404(require(), issue_id)
        return _signed_redirect(capa.evidence_file(issue, step, index))


# -- alerts -------------------------------------------------------------------------------------

@blp.route("/purchase-orders/<uuid:po_id>/alerts")
class Alerts(MethodView):
    @blp.arguments(AlertQuerySchema, location="query")
    @blp.response(200, AlertSchema(many=True))
    def get(self, args, po_id: uuid.UUID):
        """Delay-risk, freight and overdue-issue alerts of a PO, most severe first"""
        p, po = _po(po_id)
        if service.inspector_view(p, po):
            return []
        if args["include_resolved"]:
            from .models import PoAlert

            return db.session.scalars(select(PoAlert).where(PoAlert.purchase_order_id == po.id)
                                      .order_by(PoAlert.created_at.desc())).all()
        return service.open_alerts(po)


@blp.route("/alerts/<uuid:alert_id>/acknowledge")
class AlertAcknowledge(MethodView):
    @blp.response(200, AlertSchema)
    def post(self, alert_id: uuid.UUID):
        """Acknowledge an alert (it stays until its cause goes away)"""
        p = require()
        alert, po = service.alert_or_404(p, alert_id)
        return service.acknowledge_alert(p, alert, po)


@blp.route("/alerts/<uuid:alert_id>/issue")
class AlertIssue(MethodView):
    @blp.response(201, IssueSchema)
    @blp.alt_response(200, schema=IssueSchema, description="an open issue for this alert already exists")
    def post(self, alert_id: uuid.UUID):
        """Open an issue from an alert in one step"""
        p = require()
        alert, po = service.alert_or_404(p, alert_id)
        issue, created = service.issue_from_alert(p, alert, po)
        return issue, 201 if created else 200


# -- inspection booking -------------------------------------------------------------------------

@blp.route("/purchase-orders/<uuid:po_id>/inspection-bookings")
class Bookings(MethodView):
    @blp.response(200, BookingSchema(many=True))
    def get(self, po_id: uuid.UUID):
        """Inspection bookings of a PO, by ready date"""
        p, po = _po(po_id)
        return booking.visible_bookings(p, po)

    @blp.arguments(BookingSchema)
    @blp.response(201, BookingSchema)
    def post(self, body, po_id: uuid.UUID):
        """Request an inspection of a PO line or batch: the day the goods are ready and the quantity"""
        p, po = _po(po_id)
        return booking.request_booking(p, po, body)


@blp.route("/inspection-bookings/<uuid:booking_id>")
class BookingItem(MethodView):
    @blp.response(200, BookingSchema)
    def get(self, booking_id: uuid.UUID):
        """One booking with its history"""
        return booking.booking_or_404(require(), booking_id)[0]


@blp.route("/inspection-bookings/<uuid:booking_id>/confirm")
class BookingConfirm(MethodView):
    @blp.arguments(ConfirmBookingSchema)
    @blp.response(200, BookingSchema)
    def post(self, body, booking_id: uuid.UUID):
        """Confirm: assign an inspector and a date; the inspection is created and reaches the phone (brand)"""
        p = require()
        b, po = booking.booking_or_404(p, booking_id)
        return booking.confirm_booking(p, b, po, body)


@blp.route("/inspection-bookings/<uuid:booking_id>/propose")
class BookingPropose(MethodView):
    @blp.arguments(BookingDateSchema)
    @blp.response(200, BookingSchema)
    def post(self, body, booking_id: uuid.UUID):
        """Propose another date (brand)"""
        p = require()
        b, po = booking.booking_or_404(p, booking_id)
        return booking.propose_date(p, b, po, body["date"], body["reason"])


@blp.route("/inspection-bookings/<uuid:booking_id>/accept")
class BookingAccept(MethodView):
    @blp.response(200, BookingSchema)
    def post(self, booking_id: uuid.UUID):
        """Accept the brand's proposed date (factory)"""
        p = require()
        b, po = booking.booking_or_404(p, booking_id)
        return booking.accept_proposal(p, b, po)


@blp.route("/inspection-bookings/<uuid:booking_id>/reschedule")
class BookingReschedule(MethodView):
    @blp.arguments(BookingDateSchema)
    @blp.response(200, BookingSchema)
    def post(self, body, booking_id: uuid.UUID):
        """Move a confirmed inspection to another day, with a reason"""
        p = require()
        b, po = booking.booking_or_404(p, booking_id)
        return booking.reschedule(p, b, po, body["date"], body["reason"])


@blp.route("/inspection-bookings/<uuid:booking_id>/cancel")
class BookingCancel(MethodView):
    @blp.arguments(BookingReasonSchema)
    @blp.response(200, BookingSchema)
    def post(self, body, booking_id: uuid.UUID):
        """Cancel a booking with a reason (an inspection not started is withdrawn from the phone)"""
        p = require()
        b, po = booking.booking_or_404(p, booking_id)
        return booking.cancel(p, b, po, body["reason"])


@blp.route("/calendar-feeds")
class CalendarFeeds(MethodView):
    @blp.arguments(FeedCreateSchema)
    @blp.response(201, FeedSchema)
    def post(self, body):
        """Make an iCalendar feed of confirmed inspections (an inspector's own, or a factory's)"""
        feed, token = booking.create_feed(require(), body["kind"], body.get("subject_id"))
        return {"id": feed.id, "kind": feed.kind, "subject_id": feed.subject_id, "created_at": feed.created_at,
                "revoked_at": None, "token": token,
                "url": url_for("timeline.CalendarIcs", token=token, _external=False)}


@blp.route("/calendar-feeds/<uuid:feed_id>")
class CalendarFeedItem(MethodView):
    @blp.response(200, FeedSchema)
    def delete(self, feed_id: uuid.UUID):
        """Revoke a feed you made"""
        return booking.revoke_feed(require(), feed_id)


@blp.route("/calendar/<string:token>.ics")
class CalendarIcs(MethodView):
    @blp.response(200, description="An iCalendar (RFC 5545) feed", content_type="text/calendar")
    def get(self, token: str):
        """The feed's confirmed inspections as iCalendar (the token in the address is the key)"""
        feed, rows = booking.feed_bookings(token)
        return Response(booking.to_ics(feed, rows), mimetype="text/calendar",
                        headers={"Cache-Control": "private, max-age=300"})


# -- quality dashboard --------------------------------------------------------------------------

def _dashboard(args):
    filters = {k: args.get(k) for k in ("brand_id", "factory_id", "product_id", "purchase_order_id", "date_from",
                                         "date_to")}
    return dashboard.quality_dashboard(require(), filters, service.today_utc())


@blp.route("/dashboard/quality")
class QualityDashboard(MethodView):
    @blp.arguments(DashboardQuerySchema, location="query")
    @blp.response(200, DashboardSchema)
    @blp.doc(responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
    def get(self, args):
        """Quality figures over the POs you may see (filters: brand, factory, product, PO, period); format=csv"""
        data = _dashboard(args)
        if args["format"] == "csv":
            return Response(dashboard.to_csv(data, args["table"]), mimetype="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="quality-{args["table"]}.csv"'})
        return data


@blp.route("/dashboard/quality/pareto.svg")
class QualityPareto(MethodView):
    @blp.arguments(DashboardQuerySchema, location="query")
    @blp.response(200, description="The defect Pareto as SVG", content_type="image/svg+xml")
    def get(self, args):
        """The defect Pareto as a server-rendered SVG chart"""
        return Response(dashboard.pareto_svg(_dashboard(args)["pareto"]), mimetype="image/svg+xml",
                        headers={"X-Content-Type-Options": "nosniff"})
