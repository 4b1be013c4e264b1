"""Checklist templates, inspections, their rows, verdicts, reports. HTTP only: rules live in ``service``."""
from __future__ import annotations

import uuid

from flask import Response, current_app, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import missing

from ..auth import require
from ..errors import NotFound, ValidationFailed
from ..pagination import paginate_query
from . import defects, reports, service
from .schemas import (AuditEventSchema, ChecklistResponseSchema, DefectLibraryEntrySchema,
                      DefectLibraryQuerySchema, DefectSchema, InspectionCreateSchema, InspectionDetailSchema, InspectionQuerySchema,
                      InspectionSchema, InspectionUpdateSchema, MeasurementSchema, OverrideSchema,
                      ShareLinkCreateSchema, ShareLinkSchema, SpecSummarySchema, SwitchingQuerySchema, SwitchingStateSchema,
                      TemplateCopySchema, TemplateCreateSchema, TemplateEditSchema, TemplateQuerySchema,
                      TemplateSchema)

blp = Blueprint("inspect", __name__, url_prefix="/api/v1",
                description="Checklist templates, inspections, AQL plans, measurements, defects, verdicts, reports")
public_blp = Blueprint("inspect_public", __name__, url_prefix="",
                       description="Shared inspection reports (no sign-in: the link is the key)")
extra_blps = [public_blp]

#: The report page loads nothing but its stylesheet and its photos from this origin.
REPORT_CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
              "frame-ancestors 'none'")


# -- templates --------------------------------------------------------------------------------

@blp.route("/checklist-templates")
class Templates(MethodView):
    @blp.arguments(TemplateQuerySchema, location="query")
    @blp.response(200, TemplateSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """Checklist templates you may see: current versions of live checklists unless asked otherwise"""
        return paginate_query(service.list_templates(require(), args), pagination_parameters)

    @blp.arguments(TemplateCreateSchema)
    @blp.response(201, TemplateSchema)
    def post(self, body):
        """Create a checklist (version 1 of a new family; brand admin or reviewer)"""
        return service.create_template(require(), body)


@blp.route("/checklist-templates/<uuid:template_id>")
class TemplateItem(MethodView):
    @blp.response(200, TemplateSchema)
    def get(self, template_id: uuid.UUID):
        """One checklist version (old versions stay readable)"""
        return service.template_or_404(require(), template_id)

    @blp.arguments(TemplateEditSchema)
    @blp.response(201, TemplateSchema)
    def patch(self, body, template_id: uuid.UUID):
        """Edit a checklist: makes a new version; inspections under way keep theirs"""
        p = require()
        return service.edit_template(p, service.template_or_404(p, template_id), body)

    @blp.response(200, TemplateSchema)
    def delete(self, template_id: uuid.UUID):
        """Archive a checklist family: no new inspections use it"""
        p = require()
        return service.archive_template(p, service.template_or_404(p, template_id))


@blp.route("/checklist-templates/<uuid:template_id>/copy")
class TemplateCopy(MethodView):
    @blp.arguments(TemplateCopySchema)
    @blp.response(201, TemplateSchema)
    def post(self, body, template_id: uuid.UUID):
        """Copy a checklist version into a new checklist"""
        p = require()
        return service.copy_template(p, service.template_or_404(p, template_id), body)


# -- inspections --------------------------------------------------------------------------------

@blp.route("/inspections")
class Inspections(MethodView):
    @blp.arguments(InspectionQuerySchema, location="query")
    @blp.response(200, InspectionSchema(many=True))
    @blp.paginate()
    def get(self, args, pagination_parameters):
        """Inspections you may see, filterable by PO, batch, product, inspector, status and kind"""
        return paginate_query(service.list_inspections(require(), args), pagination_parameters)

    @blp.arguments(InspectionCreateSchema)
    @blp.response(201, InspectionSchema)
    def post(self, body):
        """Create an inspection of a PO or batch and assign it (brand admin or reviewer)"""
        return service.create_inspection(require(), body)


@blp.route("/inspections/<uuid:inspection_id>")
class InspectionItem(MethodView):
    @blp.response(200, InspectionDetailSchema)
    def get(self, inspection_id: uuid.UUID):
        """One inspection with its checklist version, plans, rows and verdict"""
        p = require()
        return service.inspection_detail(service.inspection_or_404(p, inspection_id))

    @blp.arguments(InspectionUpdateSchema)
    @blp.response(200, InspectionSchema)
    def patch(self, body, inspection_id: uuid.UUID):
        """Assign, reschedule, change lot size or level, or cancel (brand admin or reviewer)"""
        p = require()
        return service.update_inspection(p, service.inspection_or_404(p, inspection_id), body)


def _status_view(status: str, summary: str):
    def post(self, inspection_id: uuid.UUID):
        p = require()
        return service.change_status(p, service.inspection_or_404(p, inspection_id), status)

    post.__doc__ = summary
    return post


@blp.route("/inspections/<uuid:inspection_id>/start")
class InspectionStart(MethodView):
    post = blp.response(200, InspectionSchema)(_status_view("in_progress", "Start an inspection (its inspector)"))


@blp.route("/inspections/<uuid:inspection_id>/submit")
class InspectionSubmit(MethodView):
    post = blp.response(200, InspectionSchema)(_status_view(
        "submitted", "Submit an inspection: the whole sample is inspected (its inspector)"))


@blp.route("/inspections/<uuid:inspection_id>/sign-off")
class InspectionSignOff(MethodView):
    post = blp.response(200, InspectionSchema)(_status_view(
        "signed_off", "Sign off an inspection: freezes it and records the lot for switching (its inspector)"))


@blp.route("/inspections/<uuid:inspection_id>/verdict-override")
class VerdictOverride(MethodView):
    @blp.arguments(OverrideSchema)
    @blp.response(200, InspectionSchema)
    def post(self, body, inspection_id: uuid.UUID):
        """Override the computed verdict with a reason (brand admin or reviewer)"""
        p = require()
        return service.override_verdict(p, service.inspection_or_404(p, inspection_id), body)


def _partial(schema):
    """An update schema: every field optional and no defaults filled in, so a PATCH changes only what it names."""
    update = type(schema.__name__.replace("Schema", "UpdateSchema"), (schema,), {})(partial=True)
    for f in update.fields.values():
        f.load_default = missing
    return update


def _row_views(entity: str, schema):
    class Rows(MethodView):
        @blp.arguments(schema)
        @blp.response(201, schema)
        def post(self, body, inspection_id: uuid.UUID):
            p = require()
            return service.upsert_row(p, service.inspection_or_404(p, inspection_id), entity, body)

    class RowItem(MethodView):
        @blp.arguments(_partial(schema))
        @blp.response(200, schema)
        def patch(self, body, inspection_id: uuid.UUID, row_id: uuid.UUID):
            p = require()
            return service.upsert_row(p, service.inspection_or_404(p, inspection_id), entity, {**body, "id": row_id})

        @blp.response(204)
        def delete(self, inspection_id: uuid.UUID, row_id: uuid.UUID):
            p = require()
            service.delete_row(p, service.inspection_or_404(p, inspection_id), entity, row_id)

    Rows.post.__doc__ = f"Record a {entity} (same rules as a sync push; its inspector)"
    RowItem.patch.__doc__ = f"Change a {entity}"
    RowItem.delete.__doc__ = f"Delete a {entity}"
    Rows.__name__, RowItem.__name__ = f"{entity.title()}s", f"{entity.title()}Item"
    return Rows, RowItem


for _entity, _schema, _path in (("response", ChecklistResponseSchema, "responses"),
                                ("measurement", MeasurementSchema, "measurements"),
                                ("defect", DefectSchema, "defects")):
    _rows, _item = _row_views(_entity, _schema)
    blp.route(f"/inspections/<uuid:inspection_id>/{_path}", endpoint=f"{_entity}s")(_rows)
    blp.route(f"/inspections/<uuid:inspection_id>/{_path}/<uuid:row_id>", endpoint=f"{_entity}_item")(_item)


@blp.route("/inspections/<uuid:inspection_id>/measurements/summary")
class MeasurementSummary(MethodView):
    @blp.response(200, SpecSummarySchema(many=True))
    def get(self, inspection_id: uuid.UUID):
        """Per dimension: count, mean, min, max, standard deviation and units out of tolerance (mm)"""
        p = require()
        return service.measurement_summary(service.inspection_or_404(p, inspection_id))


@blp.route("/inspections/<uuid:inspection_id>/audit")
class Audit(MethodView):
    @blp.response(200, AuditEventSchema(many=True))
    def get(self, inspection_id: uuid.UUID):
        """Who changed what and when on this inspection, sync included (brand; factory managers)"""
        p = require()
        return service.audit_events(p, service.inspection_or_404(p, inspection_id))


@blp.route("/switching-state")
class Switching(MethodView):
    @blp.arguments(SwitchingQuerySchema, location="query")
    @blp.response(200, SwitchingStateSchema)
    def get(self, args):
        """ISO 2859-1 switching state (normal, tightened, reduced) of a product made by a factory"""
        return service.switching_state_for(require(), args["product_id"], args["factory_id"])


@blp.route("/defect-library")
class DefectLibrary(MethodView):
    @blp.arguments(DefectLibraryQuerySchema, location="query")
    @blp.response(200, DefectLibraryEntrySchema(many=True))
    def get(self, args):
        """Common defects per product category with their default class (cache it for offline use)"""
        require()
        return defects.entries(args.get("category"))


# -- reports and exports ---------------------------------------------------------------------

def _html(body: str, *, shared: bool = False) -> Response:
    resp = Response(body, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = REPORT_CSP
    resp.headers["Cache-Control"] = "no-store"
    if shared:
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Robots-Tag"] = "noindex"
    return resp


def _render(insp, link_id=None) -> str:
    secret = current_app.config["SECRET_KEY"]
    session_id = None if link_id else _session_id()
    return reports.render_report(
        insp, lambda ph: url_for("inspect_public.report_photo",
                                 token=reports.photo_token(secret, ph.id, link_id, session_id)),
        url_for("inspect_public.report_css"))


def _session_id():
    """The id of the API token this request signed in with (photo links in the report end with it)."""
    from sqlalchemy import select

    from ..accounts.models import ApiToken
    from ..accounts.service import hash_token
    from ..auth import bearer_token
    from ..extensions import db

    token = bearer_token()
    return db.session.scalar(select(ApiToken.id).where(ApiToken.token_hash == hash_token(token))) if token else None


@blp.route("/inspections/<uuid:inspection_id>/report")
@blp.doc(responses={200: {"description": "HTML report", "content": {"text/html": {}}}})
def report(inspection_id: uuid.UUID):
    """The inspection report as an HTML page (prints to A4 PDF)"""
    p = require()
    return _html(_render(service.inspection_or_404(p, inspection_id)))


def _csv(body: str, name: str) -> Response:
    resp = Response(body, mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


@blp.route("/inspections/<uuid:inspection_id>/measurements.csv")
@blp.doc(responses={200: {"description": "CSV", "content": {"text/csv": {}}}})
def measurements_csv(inspection_id: uuid.UUID):
    """Measurements as CSV"""
    p = require()
    return _csv(reports.measurements_csv(service.inspection_or_404(p, inspection_id)),
                f"inspection-{inspection_id}-measurements.csv")


@blp.route("/inspections/<uuid:inspection_id>/defects.csv")
@blp.doc(responses={200: {"description": "CSV", "content": {"text/csv": {}}}})
def defects_csv(inspection_id: uuid.UUID):
    """Defects as CSV"""
    p = require()
    return _csv(reports.defects_csv(service.inspection_or_404(p, inspection_id)),
                f"inspection-{inspection_id}-defects.csv")


@blp.route("/inspections/<uuid:inspection_id>/share-links")
class ShareLinks(MethodView):
    @blp.response(200, ShareLinkSchema(many=True))
    def get(self, inspection_id: uuid.UUID):
        """Share links of a report (brand admin or reviewer)"""
        p = require()
        return reports.list_share_links(p, service.inspection_or_404(p, inspection_id))

    @blp.arguments(ShareLinkCreateSchema)
    @blp.response(201, ShareLinkSchema)
    def post(self, body, inspection_id: uuid.UUID):
        """Share the report through a revocable link with an expiry; the URL is shown once"""
        p = require()
        link, token = reports.create_share_link(p, service.inspection_or_404(p, inspection_id),
                                                body["expires_in_seconds"])
        base = current_app.config.get("PUBLIC_BASE_URL") or request.host_url
        return {"id": link.id, "url": base.rstrip("/") + url_for("inspect_public.shared_report", token=token),
                "expires_at": link.expires_at, "created_at": link.created_at, "revoked_at": None}


@blp.route("/inspections/<uuid:inspection_id>/share-links/<uuid:link_id>")
class ShareLinkItem(MethodView):
    @blp.response(204)
    def delete(self, inspection_id: uuid.UUID, link_id: uuid.UUID):
        """Revoke a share link"""
        p = require()
        reports.revoke_share_link(p, service.inspection_or_404(p, inspection_id), link_id)


@public_blp.route("/r/<token>")
@public_blp.doc(security=[], responses={
    200: {"description": "HTML report", "content": {"text/html": {}}},
    404: {"description": "The link does not exist, has expired or was revoked: a page in words",
          "content": {"text/html": {}}}})
def shared_report(token: str):
    """A shared inspection report (no sign-in; the link may expire or be revoked)"""
    if len(token) > 200:
        raise ValidationFailed(errors={"token": ["Too long."]})
    try:
        link = reports.link_for_token(token)
    except NotFound:
        # People open these links in a browser: a page in words, not problem+json.
        page = reports.render_link_gone(url_for("inspect_public.report_css"))
        resp = _html(page, shared=True)
        resp.status_code = 404
        return resp
    from ..extensions import db
    from .models import Inspection

    return _html(_render(db.session.get(Inspection, link.inspection_id), link.id), shared=True)


@public_blp.route("/reports/report.css")
@public_blp.doc(security=[], responses={200: {"description": "The stylesheet", "content": {"text/css": {}}}})
def report_css():
    """The report's stylesheet"""
    # From memory, not a file handle: a few kilobytes, and nothing left open by a client that never
    # closes the answer (a WSGI test client, say).
    resp = Response(reports.stylesheet(), mimetype="text/css")
    resp.headers["Cache-Control"] = "public, max-age=3600"
    resp.add_etag()
    return resp.make_conditional(request)


@public_blp.route("/reports/photos/<token>")
@public_blp.doc(security=[])
def report_photo(token: str):
    """A photo shown in a report, through the short-lived signed URL the report carries"""
    photo = reports.photo_for_token(current_app.config["SECRET_KEY"], token)
    resp = Response(reports.open_photo(photo), mimetype=photo.content_type)
    resp.headers["Cache-Control"] = "private, max-age=3600"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return resp
