"""The sync endpoints: push, pull and the conflict log. HTTP only: rules live in ``service`` (push) and ``pull``."""
from __future__ import annotations

import time

from flask import current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import ValidationError as MarshmallowError

from .. import metrics
from ..auth import require
from ..errors import PROBLEM, PayloadTooLarge, ValidationFailed
from ..jsontext import dumps_bytes, json_loads
from . import pull as pull_side
from . import push, service
from .schemas import (ConflictQuerySchema, ConflictSchema, PullPageSchema, PullQuerySchema, PushDocSchema,
                      PushResultSchema, PushSchema, SyncProblemSchema)

blp = Blueprint("sync", __name__, url_prefix="/api/v1/sync",
                description="Offline sync: push mutations exactly once, pull changes in commit order")


@blp.route("/push")
class Push(MethodView):
    @blp.doc(requestBody={"content": {"application/json": {"schema": PushDocSchema}}})
    @blp.response(200, PushResultSchema)
    @blp.alt_response(409, schema=SyncProblemSchema, content_type=PROBLEM,
                      description="protocol_outdated: update the app")
    @blp.alt_response(413, schema=SyncProblemSchema, content_type=PROBLEM,
                      description="payload_too_large: split the batch")
    def post(self):
        """Apply a batch of offline changes, exactly once, one result per mutation

        Body size and batch length are limited (413); an unknown protocol answers 409
        ``protocol_outdated``. See docs/sync-protocol.md.
        """
        g.sync_started = time.perf_counter()
        p = require()
        limit = current_app.config["SYNC_PUSH_MAX_BYTES"]
        if (request.content_length or 0) > limit:
            raise PayloadTooLarge(f"The push body is over {limit} bytes; send smaller batches.", max_bytes=limit)
        raw = request.get_data(cache=False)
        if len(raw) > limit:
            raise PayloadTooLarge(f"The push body is over {limit} bytes; send smaller batches.", max_bytes=limit)
        try:
            body = json_loads(raw or b"null")
        except ValueError:
            raise ValidationFailed("The body is not JSON.", errors={"json": ["Not valid JSON."]}) from None
        if not isinstance(body, dict):
            raise ValidationFailed("The body must be a JSON object.", errors={"json": ["Must be an object."]})
        push.check_envelope(body)
        try:
            data = PushSchema().load(body)
        except MarshmallowError as exc:
            raise ValidationFailed("The push envelope is not valid; nothing was applied.",
                                   errors=exc.messages) from None
        results = push.push(p, data["client_id"], data["mutations"],
                            text_checked=not push.body_may_hold_unstorable_text(raw))
        metrics.observe_push(time.perf_counter() - g.sync_started, results)
        # Already plain JSON: skip a second serialisation pass (the schema documents the shape).
        return current_app.response_class(dumps_bytes({"results": results}), mimetype="application/json")


@blp.route("/pull")
class Pull(MethodView):
    @blp.arguments(PullQuerySchema, location="query")
    @blp.response(200, PullPageSchema)
    @blp.alt_response(410, schema=SyncProblemSchema, content_type=PROBLEM,
                      description="gone: push, then pull again from no cursor")
    def get(self, args):
        """Changes you may see after the cursor, in commit order, one page at a time

        410 ``gone`` with ``must_resync: true`` when the cursor is older than the kept
        tombstones or what you may see has changed: push, then pull from no cursor.
        """
        started = time.perf_counter()
        p = require()
        cfg = current_app.config
        limit = min(args["limit"] or cfg["SYNC_PAGE_LIMIT"], cfg["SYNC_PAGE_MAX_LIMIT"])
        page = pull_side.pull(p, args["cursor"], limit)
        body = dumps_bytes(page)
        metrics.observe_pull(time.perf_counter() - started, len(page["changes"]))
        return current_app.response_class(body, mimetype="application/json")


@blp.route("/conflicts")
class Conflicts(MethodView):
    @blp.arguments(ConflictQuerySchema, location="query")
    @blp.response(200, ConflictSchema(many=True))
    def get(self, args):
        """Values that lost a merge on one inspection, newest first"""
        p = require()
        return service.conflicts_for_inspection(p, args["inspection_id"])
