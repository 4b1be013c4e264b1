"""Photo upload and download endpoints. HTTP only: rules live in :mod:`server.storage.uploads`."""
from __future__ import annotations

import contextlib
import logging
import uuid

from flask import Response, request, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from ..auth import require
from ..errors import LinesideError, NotFound, Unauthenticated, Unavailable, UnsupportedMedia
from . import uploads as blobs
from .schemas import CompleteSchema, DownloadQuerySchema, DownloadSchema, UploadTargetSchema
from .backends import (STORAGE_RETRY_AFTER_SECONDS, InvalidToken, LocalStorage, SizeMismatch, get_storage,
                       is_outage)

log = logging.getLogger(__name__)

blobs_blp = Blueprint("blobs", __name__, url_prefix="/api/v1/blobs",
                      description="Photo bytes: upload targets, verified completion, signed downloads")


@contextlib.contextmanager
def _storage_outage_is_503():
    """Unreachable storage answers 503 with Retry-After: the phone keeps its bytes and tries later."""
    try:
        yield
    except Exception as exc:
        if not is_outage(exc):
            raise
        log.warning("storage unreachable: %s: %s", type(exc).__name__, exc)
        raise Unavailable("Photo storage is unreachable; keep the photo and try again later.",
                          retry_after_seconds=STORAGE_RETRY_AFTER_SECONDS) from None


@blobs_blp.route("/<uuid:photo_id>/upload")
class UploadTarget(MethodView):
    @blobs_blp.response(200, UploadTargetSchema)
    def post(self, photo_id: uuid.UUID):
        """Where to upload a declared photo (presigned PUT or multipart parts); ask again to resume"""
        p = require()
        with _storage_outage_is_503():
            return blobs.request_upload(p, photo_id)


@blobs_blp.route("/<uuid:photo_id>/complete")
class Complete(MethodView):
    @blobs_blp.response(200, CompleteSchema)
    def post(self, photo_id: uuid.UUID):
        """Verify the uploaded bytes (size, type, header, sha256) and mark the photo stored"""
        p = require()
        with _storage_outage_is_503():
            return blobs.complete_upload(p, photo_id)


@blobs_blp.route("/<uuid:photo_id>/download")
class Download(MethodView):
    @blobs_blp.arguments(DownloadQuerySchema, location="query")
    @blobs_blp.response(200, DownloadSchema)
    def get(self, args, photo_id: uuid.UUID):
        """A short-lived signed URL for the photo or (variant=overlay) its analysis overlay"""
        return blobs.download(require(), photo_id, args["variant"])


def _local_claims(token: str, *ops: str) -> tuple[LocalStorage, dict]:
    storage = get_storage()
    if not isinstance(storage, LocalStorage):
        raise NotFound("No such resource.")
    last: InvalidToken | None = None
    for op in ops:
        try:
            return storage, storage.read_token(token, op)
        except InvalidToken as exc:
            last = exc
    raise Unauthenticated(str(last))


@blobs_blp.route("/storage/<token>")
class StorageObject(MethodView):
    """The local folder backend's stand-in for presigned S3 URLs (the token is the credential)."""

    @blobs_blp.doc(security=[], responses={200: {"description": "stored (empty body, ETag header)"}})
    def put(self, token: str):
        """Upload bytes to a signed local-storage URL (raw body, like an S3 presigned PUT)"""
        storage, claims = _local_claims(token, "put", "part")
        expected = claims.get("n")
        # Like S3 with a signed Content-Type and Content-Length: another type or length is refused.
        if claims.get("ct") and request.mimetype != claims["ct"]:
            raise UnsupportedMedia(f"This upload URL is signed for Content-Type {claims['ct']}.")
        if expected is not None and request.content_length not in (None, expected):
            raise LinesideError(f"This upload URL is signed for Content-Length {expected}.")
        try:
            if claims["op"] == "part":
                size = storage.put_part(claims["key"], claims["upload_id"], claims["part"], request.stream,
                                        expected_size=expected)
            else:
                size = storage.put(claims["key"], request.stream, expected_size=expected)
        except FileNotFoundError:
            raise NotFound("No such upload: ask for a new upload target.") from None
        except SizeMismatch as exc:  # the body was cut off (or ran on): nothing was stored
            raise LinesideError(f"The upload did not arrive whole ({exc}); nothing was stored. Send it again.") from None
        resp = Response(status=200)
        resp.headers["ETag"] = f'"{size}"'
        return resp

    @blobs_blp.doc(security=[], responses={200: {"description": "the object's bytes",
                                                 "content": {"image/*": {}, "application/octet-stream": {}}}})
    def get(self, token: str):
        """Download bytes from a signed local-storage URL"""
        storage, claims = _local_claims(token, "get")
        size = storage.head(claims["key"])
        if size is None:
            raise NotFound("No such object.")
        resp = Response(stream_with_context(storage.iter_chunks(claims["key"])),
                        mimetype=claims.get("ct") or "application/octet-stream")
        resp.headers["Content-Disposition"] = claims.get("cd") or "attachment"
        resp.headers["Content-Length"] = str(size)
        resp.headers["Cache-Control"] = "private, max-age=300"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp
