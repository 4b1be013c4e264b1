"""Review of flagged photos, drift alerts and charts, webhooks. HTTP only: rules live in ``service``."""
from __future__ import annotations

import uuid

from flask import Response, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from ..auth import require
from ..inspect.chart import render_drift_svg
from ..pagination import paginate_query
from . import service
from .models import DriftAlert
from .schemas import (AcknowledgeSchema, AnswerSchema, DriftAlertQuerySchema, DriftAlertSchema, BatchDriftSchema, ReviewCommentSchema,
                      ReviewDecisionSchema, DriftQuerySchema, PhotoDetailSchema, QueueItemSchema, QueueQuerySchema,
                      SvgQuerySchema, WebhookCreatedSchema, WebhookDeliverySchema, WebhookSchema,
                      WebhookUpdateSchema)

blp = Blueprint("review", __name__, url_prefix="/api/v1/review",
                description="Brand review of flagged photos, colour and dimension drift alerts, webhooks")


@blp.route("/queue")
class Queue(MethodView):
    @blp.arguments(QueueQuerySchema, location="query")
    @blp.response(200, QueueItemSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """Flagged photos of your brand to review, most severe first, then oldest"""
        q = service.review_queue(require(), args)
        rows = _paginate_rows(q, pagination_parameters)
        return [service.queue_item(r) for r in rows]


def _paginate_rows(query, pagination_parameters) -> list:
    from sqlalchemy import func, select

    from ..extensions import db

    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pagination_parameters.item_count = total
    page, size = pagination_parameters.page, pagination_parameters.page_size
    if (page - 1) * size >= total:
        return []
    return list(db.session.execute(query.limit(size).offset((page - 1) * size)).all())


@blp.route("/photos/<uuid:photo_id>")
class PhotoItem(MethodView):
    @blp.response(200, PhotoDetailSchema)
    def get(self, photo_id: uuid.UUID):
        """One flagged photo beside the golden sample, with measured values, tolerances and context"""
        return service.photo_detail(require(), photo_id)


@blp.route("/photos/<uuid:photo_id>/decisions")
class Decisions(MethodView):
    @blp.arguments(ReviewDecisionSchema)
    @blp.response(201, ReviewDecisionSchema)
    def post(self, body, photo_id: uuid.UUID):
        """Accept, reject or ask for a retake of a photo, with a comment (brand reviewers)"""
        return service.decide(require(), photo_id, body["decision"], body["comment"])


@blp.route("/photos/<uuid:photo_id>/comments")
class Comments(MethodView):
    @blp.arguments(ReviewCommentSchema)
    @blp.response(201, ReviewCommentSchema)
    def post(self, body, photo_id: uuid.UUID):
        """Comment on a photo; the inspector sees it on the phone after the next sync"""
        return service.add_comment(require(), photo_id, body["body"])


@blp.route("/alerts")
class Alerts(MethodView):
    @blp.arguments(DriftAlertQuerySchema, location="query")
    @blp.response(200, DriftAlertSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """The alert feed of your brand, newest first (filter by status, batch, kind, level)"""
        q = service.visible_alerts(require())
        status = args.get("status")
        if status == "active":
            q = q.where(DriftAlert.status.in_(("open", "acknowledged")))
        elif status:
            q = q.where(DriftAlert.status == status)
        for key in ("batch_id", "kind", "level"):
            if key in args:
                q = q.where(getattr(DriftAlert, key) == args[key])
        return paginate_query(q.order_by(DriftAlert.opened_at.desc(), DriftAlert.id), pagination_parameters)


@blp.route("/alerts/<uuid:alert_id>")
class AlertItem(MethodView):
    @blp.response(200, DriftAlertSchema)
    def get(self, alert_id: uuid.UUID):
        """One drift alert"""
        return service.get_alert(require(), alert_id)


@blp.route("/alerts/<uuid:alert_id>/acknowledge")
class AlertAcknowledge(MethodView):
    @blp.arguments(AcknowledgeSchema)
    @blp.response(200, DriftAlertSchema)
    def post(self, body, alert_id: uuid.UUID):
        """Acknowledge an alert; it still resolves itself when the process is back in control"""
        return service.acknowledge_alert(require(), alert_id, body["note"])


@blp.route("/alerts/<uuid:alert_id>/answer")
class AlertAnswer(MethodView):
    @blp.arguments(AnswerSchema)
    @blp.response(200, DriftAlertSchema)
    def post(self, body, alert_id: uuid.UUID):
        """The factory answers a drift alert of its batch (what it found, what it does)"""
        return service.answer_alert(require(), alert_id, body["body"])


@blp.route("/batches/<uuid:batch_id>/drift")
class BatchDrift(MethodView):
    @blp.arguments(DriftQuerySchema, location="query")
    @blp.response(200, BatchDriftSchema)
    def get(self, args, batch_id: uuid.UUID):
        """Colour and dimension drift of a batch: series, EWMA, state, direction and a signed chart link"""
        p = require()
        batch = service.get_batch(p, batch_id)
        token = service.chart_token(p, batch.id)
        out = []
        for s in service.evaluate_batch(batch):
            if "standard_id" in args and s.standard_id != args["standard_id"]:
                continue
            r = s.result
            out.append({"kind": s.kind, "standard_id": s.standard_id, "standard_name": s.standard_name,
                        "reference": s.reference, "status": r.status, "lam": r.lam, "limit_width": r.limit_width,
                        "warning_width": r.warning_width, "active": dict(r.active), "direction": r.direction,
                        "display_chart": r.display_chart, "points": service.series_points(s),
                        "svg_url": url_for("review.BatchDriftSvg", batch_id=batch.id, standard_id=s.standard_id,
                                           token=token)})
        return {"batch_id": batch.id, "batch_code": batch.code, "series": out}


@blp.route("/batches/<uuid:batch_id>/drift.svg")
class BatchDriftSvg(MethodView):
    @blp.arguments(SvgQuerySchema, location="query")
    @blp.response(200, description="The drift chart as a self-contained SVG", content_type="image/svg+xml")
    def get(self, args, batch_id: uuid.UUID):
        """Drift chart of a batch as SVG (bearer token, or the signed ``token`` for <img>)"""
        p = service.principal_from_chart_token(args["token"], batch_id) if args.get("token") else require()
        batch = service.get_batch(p, batch_id)
        s = service.pick_series(service.evaluate_batch(batch), args.get("standard_id"))
        svg = render_drift_svg(s.result, title=f"{batch.code} · {s.standard_name}")
        return Response(svg, mimetype="image/svg+xml",
                        headers={"Cache-Control": "private, max-age=60", "X-Content-Type-Options": "nosniff"})


@blp.route("/webhooks")
class Webhooks(MethodView):
    @blp.response(200, WebhookSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters):
        """Webhook endpoints of your brand"""
        from .models import WebhookEndpoint

        q = service.visible_webhooks(require()).order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        return paginate_query(q, pagination_parameters)

    @blp.arguments(WebhookSchema)
    @blp.response(201, WebhookCreatedSchema)
    def post(self, body):
        """Register a webhook endpoint; the answer shows its signing secret once"""
        return service.create_webhook(require(), body)


@blp.route("/webhooks/<uuid:webhook_id>")
class WebhookItem(MethodView):
    @blp.response(200, WebhookSchema)
    def get(self, webhook_id: uuid.UUID):
        """One webhook endpoint (without its secret)"""
        return service.get_webhook(require(), webhook_id)

    @blp.arguments(WebhookUpdateSchema)
    @blp.response(200, WebhookSchema)
    def patch(self, body, webhook_id: uuid.UUID):
        """Change a webhook's URL, event types, description or active flag"""
        return service.update_webhook(require(), webhook_id, body)

    @blp.response(204)
    def delete(self, webhook_id: uuid.UUID):
        """Remove a webhook endpoint and its delivery log"""
        service.delete_webhook(require(), webhook_id)


@blp.route("/webhooks/<uuid:webhook_id>/deliveries")
class WebhookDeliveries(MethodView):
    @blp.response(200, WebhookDeliverySchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters, webhook_id: uuid.UUID):
        """Delivery log of a webhook: each event with its attempts, status codes, errors and next retry"""
        q = service.webhook_deliveries(require(), webhook_id)
        return [service.delivery_item(d) for d in paginate_query(q, pagination_parameters)]


@blp.route("/webhooks/<uuid:webhook_id>/test")
class WebhookTest(MethodView):
    @blp.response(202, WebhookDeliverySchema)
    def post(self, webhook_id: uuid.UUID):
        """Send a signed test event to a webhook endpoint"""
        d = service.send_test_event(require(), webhook_id)
        return service.delivery_item(d)
