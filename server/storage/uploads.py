"""Photo uploads: upload targets, verified completion, signed downloads (issue 3).

The flow (see ``docs/photo-upload.md``):

1. A sync push declares the photo (sha256, size, content type); its row is ``declared``.
2. ``request_upload`` answers where to send the bytes: one presigned ``PUT``, or presigned
   multipart part URLs above ``STORAGE_MULTIPART_THRESHOLD_BYTES``, always to the photo's
   own *staging* key ``uploads/<photo id>``. Asking again after an interruption answers a
   fresh target, and for multipart only the parts still missing. When a photo with the same
   sha256 and size is already stored for the same brand, nothing needs uploading
   (``already_stored``).
3. ``complete_upload`` first copies the staged object to a private snapshot key (one version
   of it: a ``PUT`` still arriving on the upload URL cannot change what is checked), then reads
   the snapshot once — size, magic bytes, image header (dimensions and pixel count, without
   decoding) and the sha256 of those very bytes — and copies the snapshot to its
   content-addressed key ``photos/sha256/ab/cd/<sha256>``. Only verified bytes ever reach a
   content key, so one object serves every photo with that hash. No database lock is held
   while storage works; marking the photo stored takes the sync revision counter's lock, then
   the photo row's, in the order a push takes them (no deadlock). The staged object is deleted
   only after that commit, so a complete that failed can simply be retried. A refused upload
   is deleted and the photo stays ``declared``. Two completes at once, or twice in a row,
   answer the same success; the analysis is enqueued once, after the commit.
4. ``download`` answers a short-lived signed URL for the photo or its overlay.
"""
from __future__ import annotations

import importlib
import logging
import math
import hashlib
import re
import secrets
import struct
import uuid
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import Select, select

from .. import metrics
from ..auth import Action, Principal
from ..catalog.models import PurchaseOrder
from ..errors import Conflict, Forbidden, LinesideError, NotFound, PayloadTooLarge, UnsupportedMedia, ValidationFailed
from ..extensions import db
from ..inspect.models import Inspection, Photo
from ..inspect.scope import restrict_to_visible
from .backends import Part, Storage, get_storage

log = logging.getLogger(__name__)

HEADER_BYTES = 64 * 1024
"""How much of an upload the header probe reads (JPEG files whose frame header lies further
in, behind a large EXIF block, get one second look at :data:`JPEG_HEADER_MAX_BYTES`)."""
JPEG_HEADER_MAX_BYTES = 512 * 1024
STORED_STATES = ("stored", "analysed")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_FORMAT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


# -- keys ----------------------------------------------------------------------------------------

def content_key(sha256: str) -> str:
    """The content-addressed key of a photo's bytes: ``photos/sha256/ab/cd/<sha256>``."""
    if not _SHA256_RE.match(sha256 or ""):
        raise ValidationFailed(errors={"sha256": ["Must be 64 lowercase hexadecimal digits."]})
    return f"photos/sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def staging_key(photo_id: uuid.UUID) -> str:
    """Where a photo's bytes wait for ``complete``: one key per photo, never shared."""
    return f"uploads/{photo_id}"


# -- image header probe ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ImageHeader:
    """What the header says: format (``jpeg``/``png``/``webp``) and size in pixels."""

    format: str
    width_px: int
    height_px: int

    @property
    def content_type(self) -> str:
        return _FORMAT_TYPES[self.format]


class HeaderTruncated(ValueError):
    """The header did not fit in the bytes given (read more, or give up)."""


def sniff_format(data: bytes) -> str | None:
    """The image format named by the magic bytes (``jpeg``, ``png``, ``webp``), or ``None``."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def probe_image_header(data: bytes) -> ImageHeader | None:
    """Read width and height from the first bytes of a JPEG, PNG or WebP, without decoding pixels.

    Returns ``None`` when the bytes are not one of those formats or the header is corrupt.
    Raises :class:`HeaderTruncated` when a JPEG's frame header lies beyond ``data``.
    """
    fmt = sniff_format(data)
    try:
        if fmt == "png":
            if data[12:16] != b"IHDR":
                return None
            w, h = struct.unpack(">II", data[16:24])
        elif fmt == "webp":
            w, h = _webp_size(data)
        elif fmt == "jpeg":
            w, h = _jpeg_size(data)
        else:
            return None
    except struct.error:
        return None
    if w <= 0 or h <= 0:
        return None
    return ImageHeader(fmt, w, h)


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8 ":  # lossy: frame tag (3), start code 9d 01 2a, 14-bit width and height
        if data[23:26] != b"\x9d\x01\x2a":
            return 0, 0
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L":  # lossless: signature 0x2f, then 14 bits each of width-1 and height-1
        if data[20:21] != b"\x2f":
            return 0, 0
        (bits,) = struct.unpack("<I", data[21:25])
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8X":  # extended: flags (4), then 24-bit canvas width-1 and height-1
        b = data[24:30]
        if len(b) < 6:
            raise struct.error("short VP8X")
        return 1 + int.from_bytes(b[0:3], "little"), 1 + int.from_bytes(b[3:6], "little")
    return 0, 0


# SOFn markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i = 2
    n = len(data)
    while True:
        if i + 4 > n:
            raise HeaderTruncated("JPEG frame header beyond the bytes read")
        if data[i] != 0xFF:
            return 0, 0
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i + 3 > n:
            raise HeaderTruncated("JPEG frame header beyond the bytes read")
        marker = data[i]
        i += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # no length
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            return 0, 0
        (length,) = struct.unpack(">H", data[i:i + 2])
        if length < 2:
            return 0, 0
        if marker in _JPEG_SOF:
            if i + 7 > n:
                raise HeaderTruncated("JPEG frame header beyond the bytes read")
            h, w = struct.unpack(">HH", data[i + 3:i + 7])
            return w, h
        i += length


# -- scope -----------------------------------------------------------------------------------------

def visible_photos(p: Principal) -> Select:
    """Photos the principal may see: the PO's brand, the PO's factory staff, the assigned inspector."""
    q = (select(Photo).join(Inspection, Photo.inspection_id == Inspection.id)
         .join(PurchaseOrder, Inspection.purchase_order_id == PurchaseOrder.id)
         .where(Photo.deleted.is_(False), Inspection.deleted.is_(False)))
    return restrict_to_visible(p, q)


def photo_or_404(p: Principal, photo_id: uuid.UUID) -> Photo:
    """The photo if the principal may see it. Raises ``NotFound`` otherwise."""
    photo = db.session.scalar(visible_photos(p).where(Photo.id == photo_id))
    if photo is None:
        raise NotFound("No such photo.")
    return photo


def _photo_for_upload(p: Principal, photo_id: uuid.UUID) -> tuple[Photo, PurchaseOrder]:
    """The photo if the principal may upload it: the assigned inspector or the factory's managers.

    Raises ``NotFound`` out of scope, ``Forbidden`` for people who may only look (brand users).
    """
    photo = photo_or_404(p, photo_id)
    inspection = db.session.get(Inspection, photo.inspection_id)
    po = db.session.get(PurchaseOrder, inspection.purchase_order_id)
    if p.is_platform_admin or inspection.inspector_id == p.id:
        return photo, po
    if p.may(Action.manage_factory, po.factory_id):
        return photo, po
    raise Forbidden("Only the inspector and the factory's managers upload this inspection's photos.")


# -- declared metadata -----------------------------------------------------------------------------

def _allowed_types() -> set[str]:
    return {t.strip().lower() for t in current_app.config["PHOTO_CONTENT_TYPES"].split(",") if t.strip()}


def check_declaration(photo: Photo) -> None:
    """Refuse a declaration that no upload could satisfy.

    Raises ``PayloadTooLarge`` over ``PHOTO_MAX_BYTES``, ``UnsupportedMedia`` for a type not in
    ``PHOTO_CONTENT_TYPES``, ``ValidationFailed`` for an empty file or a malformed sha256.
    """
    max_bytes = current_app.config["PHOTO_MAX_BYTES"]
    if photo.size_bytes > max_bytes:
        raise PayloadTooLarge(f"The photo is {photo.size_bytes} bytes; the limit is {max_bytes}.",
                              errors={"size_bytes": [f"Must be at most {max_bytes} bytes."]})
    if photo.size_bytes <= 0:
        raise ValidationFailed(errors={"size_bytes": ["Must be more than 0 bytes."]})
    allowed = _allowed_types()
    if (photo.content_type or "").lower() not in allowed:
        raise UnsupportedMedia(f"Photos must be one of {', '.join(sorted(allowed))}.",
                               errors={"content_type": [f"Must be one of {', '.join(sorted(allowed))}."]})
    content_key(photo.sha256)


def _is_multipart(photo: Photo) -> bool:
    return photo.size_bytes > current_app.config["STORAGE_MULTIPART_THRESHOLD_BYTES"]


def _expected_parts(photo: Photo) -> dict[int, int]:
    """Part number -> size in bytes, for the photo's declared size."""
    return _expected_parts_of(photo.size_bytes)


def _expected_parts_of(size_bytes: int) -> dict[int, int]:
    part = current_app.config["STORAGE_MULTIPART_PART_BYTES"]
    count = max(1, math.ceil(size_bytes / part))
    return {n: (part if n < count else size_bytes - part * (count - 1)) for n in range(1, count + 1)}


def _ttl() -> int:
    return int(current_app.config["STORAGE_PRESIGN_TTL_SECONDS"])


# -- upload target ---------------------------------------------------------------------------------

def request_upload(p: Principal, photo_id: uuid.UUID) -> dict[str, Any]:
    """Where to send a declared photo's bytes; safe to ask again after an interruption.

    Answers ``{"already_stored": true}`` when nothing needs uploading, otherwise a single
    ``PUT`` URL or, above the multipart threshold, the URLs of the parts still missing.
    Raises ``NotFound``, ``Forbidden``, ``PayloadTooLarge``, ``UnsupportedMedia``, ``ValidationFailed``.
    """
    photo, po = _photo_for_upload(p, photo_id)
    if photo.upload_state in STORED_STATES:
        return _stored_answer(photo, already_stored=True)
    check_declaration(photo)
    storage = get_storage()
    if _adopt_stored_twin(storage, photo, po):
        return _stored_answer(photo, already_stored=True)

    if not storage.ping():  # presigning needs no network: make sure the URL can work (else 503)
        raise ConnectionError("photo storage is not reachable")
    ttl, key = _ttl(), staging_key(photo.id)
    answer: dict[str, Any] = {"id": photo.id, "already_stored": False, "upload_state": photo.upload_state,
                              "expires_in_seconds": ttl, "size_bytes": photo.size_bytes}
    if not _is_multipart(photo):
        answer.update(method="put", url=storage.presign_put(key, expires_in=ttl, content_type=photo.content_type,
                                                            content_length=photo.size_bytes),
                      headers={"Content-Type": photo.content_type})
        return answer

    upload_id = storage.find_multipart(key) or storage.create_multipart(key, content_type=photo.content_type)
    expected = _expected_parts(photo)
    done = _good_parts(storage.list_parts(key, upload_id), expected)
    answer.update(method="multipart", upload_id=upload_id,
                  part_size_bytes=current_app.config["STORAGE_MULTIPART_PART_BYTES"],
                  parts_done=sorted(done),
                  parts=[{"part_number": n, "size_bytes": size,
                          "url": storage.presign_part(key, upload_id, n, expires_in=ttl, content_length=size)}
                         for n, size in expected.items() if n not in done])
    return answer


def _good_parts(parts: list[Part], expected: dict[int, int]) -> dict[int, Part]:
    """Uploaded parts whose number and size are what the declaration needs."""
    return {pt.number: pt for pt in parts if expected.get(pt.number) == pt.size_bytes}


def _adopt_stored_twin(storage: Storage, photo: Photo, po: PurchaseOrder) -> bool:
    """Mark ``photo`` stored when the same brand already stored these exact bytes.

    Limited to the brand: the hash alone must not let another tenant claim (or probe for)
    someone else's photo. Across brands the bytes are still stored only once (see ``complete``).
    """
    twin = db.session.scalar(
        select(Photo.id).join(Inspection, Photo.inspection_id == Inspection.id)
        .join(PurchaseOrder, Inspection.purchase_order_id == PurchaseOrder.id)
        .where(Photo.sha256 == photo.sha256, Photo.size_bytes == photo.size_bytes, Photo.id != photo.id,
               Photo.upload_state.in_(STORED_STATES), PurchaseOrder.brand_id == po.brand_id).limit(1))
    key = content_key(photo.sha256)
    if twin is None or storage.head(key) != photo.size_bytes:
        return False
    return _mark_stored(photo, key)


# -- complete --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Declared:
    """What a photo's row declares, read once, so storage work needs no open transaction."""

    id: uuid.UUID
    sha256: str
    size_bytes: int
    content_type: str

    @classmethod
    def of(cls, photo: Photo) -> _Declared:
        return cls(photo.id, photo.sha256, photo.size_bytes, photo.content_type)

    def matches(self, photo: Photo) -> bool:
        return (photo.sha256, photo.size_bytes, photo.content_type) == (self.sha256, self.size_bytes,
                                                                         self.content_type)


@metrics.outcome_of(metrics.UPLOADS, metrics.UPLOAD_SECONDS, outcome=lambda r: str(r.get("upload_state", "stored")))
def complete_upload(p: Principal, photo_id: uuid.UUID) -> dict[str, Any]:
    """Verify the uploaded bytes and mark the photo stored; idempotent, and safe to run twice at once.

    Checks size, magic bytes against the declared type, the image header (dimensions > 0 and at
    most ``PHOTO_MAX_PIXELS``) and the sha256, all on one private snapshot of the upload, read
    once. A refused upload is deleted and the photo stays ``declared``. Raises ``ValidationFailed``
    (incomplete upload, wrong size or hash, unreadable header; the ``upload`` entry of ``errors``
    says what to resend, see docs/photo-upload.md), ``UnsupportedMedia``, ``PayloadTooLarge``,
    ``NotFound``, ``Forbidden``, ``Conflict`` (the declaration changed meanwhile).
    """
    photo, po = _photo_for_upload(p, photo_id)
    if photo.upload_state in STORED_STATES:
        return _stored_answer(photo)
    check_declaration(photo)
    declared = _Declared.of(photo)
    # End the read transaction: no row lock (nor SQLite's write lock) is held while storage works.
    db.session.rollback()
    storage = get_storage()
    staged = staging_key(declared.id)
    _finish_multipart(storage, staged, declared)

    snapshot = f"{staged}.verify-{secrets.token_hex(8)}"
    try:
        try:
            storage.copy(staged, snapshot)
        except FileNotFoundError:
            return _nothing_staged(storage, photo, po)
        try:
            _verify_snapshot(storage, snapshot, declared)
        except LinesideError:
            storage.delete(staged)
            raise
        key = content_key(declared.sha256)
        if storage.head(key) != declared.size_bytes:  # content keys only ever hold verified bytes
            storage.copy(snapshot, key, content_type=declared.content_type)
        _mark_stored(photo, key, declared)
    finally:
        storage.delete(snapshot)
    storage.delete(staged)  # only now: a complete that failed before its commit can be retried
    return _stored_answer(photo)


def _finish_multipart(storage: Storage, staged: str, declared: _Declared) -> None:
    """Join a multipart upload's parts into the staged object, or say which parts are missing."""
    if declared.size_bytes <= current_app.config["STORAGE_MULTIPART_THRESHOLD_BYTES"]:
        return
    upload_id = storage.find_multipart(staged)
    if not upload_id:
        return
    expected = _expected_parts_of(declared.size_bytes)
    try:
        good = _good_parts(storage.list_parts(staged, upload_id), expected)
    except FileNotFoundError:  # a concurrent complete joined it a moment ago
        return
    missing = [n for n in expected if n not in good]
    if missing:
        raise ValidationFailed("The upload is incomplete: send the missing parts, then complete again.",
                               errors={"upload": ["incomplete"],
                                       "parts": [f"Missing parts: {', '.join(map(str, missing))}."]},
                               incomplete=True, missing_parts=missing)
    try:
        storage.complete_multipart(staged, upload_id, [good[n] for n in expected])
    except Exception as exc:  # a concurrent complete joined it first: the staged object is there
        if storage.head(staged) is None:
            raise
        log.info("multipart upload %s was completed concurrently: %s", upload_id, exc)


def _nothing_staged(storage: Storage, photo: Photo, po: PurchaseOrder) -> dict[str, Any]:
    """No staged bytes: a concurrent complete may have stored them, or a twin may serve; else 422."""
    db.session.rollback()
    db.session.refresh(photo)
    if photo.upload_state in STORED_STATES:  # a concurrent complete got there first
        return _stored_answer(photo)
    if _adopt_stored_twin(storage, photo, po):
        return _stored_answer(photo)
    raise ValidationFailed("Nothing has been uploaded for this photo yet: ask for an upload target.",
                           errors={"upload": ["incomplete"], "file": ["No uploaded bytes."]}, incomplete=True)


def _verify_snapshot(storage: Storage, key: str, declared: _Declared) -> None:
    """Check a snapshot against its declaration, reading it once. Raises a ``LinesideError`` on any mismatch."""
    size = storage.head(key)
    if size != declared.size_bytes:
        raise ValidationFailed(
            f"The uploaded file has {size} bytes but {declared.size_bytes} were declared; upload it again.",
            errors={"size_bytes": [f"Uploaded {size} bytes, declared {declared.size_bytes}."],
                    **({"upload": ["incomplete"]} if (size or 0) < declared.size_bytes else {})},
            incomplete=(size or 0) < declared.size_bytes)
    digest, head, read = hashlib.sha256(), bytearray(), 0
    for chunk in storage.iter_chunks(key):  # one read: the bytes hashed are the bytes probed
        digest.update(chunk)
        read += len(chunk)
        if len(head) < JPEG_HEADER_MAX_BYTES:
            head += chunk[:JPEG_HEADER_MAX_BYTES - len(head)]
    _check_header(bytes(head), declared)
    if read != declared.size_bytes or digest.hexdigest() != declared.sha256:
        raise ValidationFailed("The uploaded file does not match the declared sha256; it was discarded.",
                               errors={"sha256": ["Does not match the uploaded bytes."]})


def _check_header(head: bytes, declared: _Declared) -> None:
    """Type and pixel count from the first bytes (up to ``JPEG_HEADER_MAX_BYTES``)."""
    fmt = sniff_format(head)
    allowed = _allowed_types()
    if fmt is None or _FORMAT_TYPES[fmt] not in allowed:
        raise UnsupportedMedia("The file is not an accepted image type.",
                               errors={"file": [f"Must be one of {', '.join(sorted(allowed))}."]})
    if _FORMAT_TYPES[fmt] != declared.content_type.lower():
        raise UnsupportedMedia(f"The file is {_FORMAT_TYPES[fmt]} but was declared {declared.content_type}.",
                               errors={"content_type": [f"The file is {_FORMAT_TYPES[fmt]}."]})
    try:
        try:
            info = probe_image_header(head[:HEADER_BYTES])
        except HeaderTruncated:
            info = probe_image_header(head)
    except HeaderTruncated:
        info = None
    if info is None:
        raise ValidationFailed("The image header cannot be read; the file is corrupt.",
                               errors={"file": ["Not a readable image."]})
    max_px = current_app.config["PHOTO_MAX_PIXELS"]
    if info.width_px * info.height_px > max_px:
        raise PayloadTooLarge(f"The image is {info.width_px} × {info.height_px} pixels; the limit is {max_px} pixels.",
                              errors={"file": [f"At most {max_px} pixels."]})


def _lock_revisions(photo: Photo) -> None:
    """Lock the photo's inspection first, as a push and every other writer of its rows do
    (server/sync/revisions.py), so the two never wait on each other in a circle."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(select(Inspection.id).where(Inspection.id == photo.inspection_id).with_for_update())


def _mark_stored(photo: Photo, key: str, declared: _Declared | None = None) -> bool:
    """Mark the photo stored under ``key`` and commit; enqueue its analysis when this call did it.

    Locks in the push's order: the photo's inspection, then the photo row (``FOR UPDATE`` on
    PostgreSQL), so that of two concurrent completes only one changes the state and enqueues the
    analysis, and a push editing the photo meanwhile cannot deadlock with it. Raises ``Conflict``
    when the declaration (hash, size, type) changed since ``declared`` was read.
    """
    _lock_revisions(photo)
    locked = db.session.scalar(select(Photo).where(Photo.id == photo.id).with_for_update()
                               .execution_options(populate_existing=True))
    if declared is not None and not declared.matches(locked):
        db.session.rollback()
        raise Conflict("The photo's declaration changed while its upload was checked: ask for an upload target again.")
    first = locked.upload_state not in STORED_STATES
    if first:
        locked.upload_state = "stored"
        locked.storage_key = key
    db.session.commit()
    if first:
        enqueue_analysis(locked.id)
    return True


def enqueue_analysis(photo_id: uuid.UUID) -> None:
    """Hand the photo to the analysis queue (``server.inspect.jobs.enqueue_analysis``), if installed.

    Looked up at call time so that the vision package stays optional. A failure to enqueue is
    logged, never raised: the photo is stored either way.
    """
    try:
        jobs = importlib.import_module("server.inspect.jobs")
    except ModuleNotFoundError as exc:
        if exc.name and "server.inspect.jobs".startswith(exc.name):
            log.info("photo %s stored; no analysis module installed", photo_id)
            return
        raise
    hook = getattr(jobs, "enqueue_analysis", None)
    if hook is None:
        log.info("photo %s stored; server.inspect.jobs has no enqueue_analysis", photo_id)
        return
    try:
        hook(photo_id)
    except Exception:
        log.exception("could not enqueue the analysis of photo %s", photo_id)


def _stored_answer(photo: Photo, *, already_stored: bool | None = None) -> dict[str, Any]:
    answer = {"id": photo.id, "upload_state": photo.upload_state, "stored": True, "sha256": photo.sha256,
              "size_bytes": photo.size_bytes, "content_type": photo.content_type}
    if already_stored is not None:
        answer["already_stored"] = already_stored
    return answer


# -- download --------------------------------------------------------------------------------------

def download(p: Principal, photo_id: uuid.UUID, variant: str = "original") -> dict[str, Any]:
    """A short-lived signed URL for the photo (``original``) or its analysis overlay (``overlay``).

    Raises ``NotFound`` out of scope or when there is no overlay, ``Conflict`` before the upload completed.
    """
    photo = photo_or_404(p, photo_id)
    if variant == "overlay":
        if not photo.overlay_key:
            raise NotFound("This photo has no overlay image (yet).")
        key, content_type = photo.overlay_key, _type_of_key(photo.overlay_key)
    else:
        if photo.upload_state not in STORED_STATES or not photo.storage_key:
            raise Conflict("This photo has not been uploaded yet.")
        key, content_type = photo.storage_key, photo.content_type
    ttl = _ttl()
    content_type = image_type_or_binary(content_type)
    return {"url": signed_image_url(key, content_type, expires_in=ttl),
            "expires_in_seconds": ttl, "variant": variant, "content_type": content_type}


def image_type_or_binary(content_type: str | None) -> str:
    """``content_type`` when it is an accepted image type, else ``application/octet-stream``."""
    ct = (content_type or "").lower()
    return ct if ct in _FORMAT_TYPES.values() else "application/octet-stream"


def signed_image_url(key: str, content_type: str | None, *, expires_in: int | None = None) -> str:
    """A signed download URL that answers with a forced image type, whatever the object was stored as.

    Anything but an accepted image type is served as ``application/octet-stream`` and as an
    attachment, so an object never renders as HTML or script on the storage origin.
    """
    ct = image_type_or_binary(content_type)
    ext = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}.get(ct, "bin")
    name = key.rsplit("/", 1)[-1][:64]
    disposition = (f'inline; filename="{name}.{ext}"' if ct != "application/octet-stream"
                   else f'attachment; filename="{name}.bin"')
    return get_storage().presign_get(key, expires_in=expires_in or _ttl(), content_type=ct, disposition=disposition)


def _type_of_key(key: str) -> str | None:
    for ext, ctype in ((".png", "image/png"), (".jpg", "image/jpeg"), (".jpeg", "image/jpeg"),
                       (".webp", "image/webp")):
        if key.lower().endswith(ext):
            return ctype
    return None
