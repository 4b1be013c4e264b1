"""Storage after a database restore: bring photo rows back in step with the bytes in storage.

The bucket is not restored with the database: bytes uploaded after the backup are still
there, while the rows naming them may be gone or behind. ``flask --app server restore``
(:mod:`server.sync.cli`) calls :func:`reconcile_photos` and :func:`record_unreferenced`;
the analysis sweep calls :func:`adopt_restored` so that photos offered again by phones find
their bytes. ``purge-blobs`` keeps everything stored before the restore for
``STORAGE_RESTORE_GRACE_HOURS`` (:func:`restore_keep_before`).
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from flask import current_app
from sqlalchemy import delete, select

from ..extensions import db
from ..inspect.models import Photo
from ..models import utcnow
from .backends import Storage
from .gc import CONTENT_PREFIX, OVERLAY_PREFIX, sha_of_content_key
from .models import RestoredBlob
from .uploads import STORED_STATES, content_key

log = logging.getLogger(__name__)
BATCH = 500


@dataclass
class Reconciled:
    checked: int = 0
    marked_stored: int = 0  # declared rows whose verified bytes were in storage
    bytes_missing: int = 0  # stored rows whose bytes were not: back to declared, the phone uploads again
    to_analyse: list[uuid.UUID] | None = None


def reconcile_photos(storage: Storage, progress: Callable[[int], None] | None = None) -> Reconciled:
    """Make each photo row agree with storage. Commits every ``BATCH`` rows.

    A ``declared`` row whose content key holds bytes of its declared size becomes ``stored``
    (only verified bytes ever reach a content key) and is analysed; a ``stored`` or
    ``analysed`` row whose bytes are missing goes back to ``declared`` so the phone's next
    upload is accepted.
    """
    out = Reconciled(to_analyse=[])
    last: uuid.UUID | None = None
    while True:
        q = select(Photo).where(Photo.deleted.is_(False)).order_by(Photo.id).limit(BATCH)
        if last is not None:
            q = q.where(Photo.id > last)
        photos = list(db.session.scalars(q))
        if not photos:
            break
        for photo in photos:
            out.checked += 1
            key = content_key(photo.sha256)
            size = storage.head(photo.storage_key or key)
            if photo.upload_state not in STORED_STATES:
                if storage.head(key) == photo.size_bytes:
                    photo.upload_state, photo.storage_key = "stored", key
                    out.marked_stored += 1
                    out.to_analyse.append(photo.id)
            elif size is None:
                photo.upload_state, photo.storage_key = "declared", None
                out.bytes_missing += 1
            elif photo.upload_state == "stored":
                out.to_analyse.append(photo.id)
        last = photos[-1].id
        db.session.commit()
        if progress:
            progress(out.checked)
    return out


def record_unreferenced(storage: Storage, progress: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Remember photo bytes no row names (their rows were lost), for adoption when phones offer them again.

    Answers ``(photo objects recorded, overlays no row names)``.
    """
    db.session.execute(delete(RestoredBlob))
    found = overlays = seen = 0
    page: list = []

    def flush() -> int:
        shas = {sha_of_content_key(o.key): o for o in page}
        shas.pop(None, None)
        known = set(db.session.scalars(select(Photo.sha256).where(Photo.sha256.in_(list(shas)))))
        n = 0
        for sha, obj in shas.items():
            if sha not in known:
                db.session.add(RestoredBlob(sha256=sha, size_bytes=obj.size_bytes, key=obj.key))
                n += 1
        db.session.commit()
        page.clear()
        return n

    for obj in storage.list_objects(CONTENT_PREFIX):
        page.append(obj)
        seen += 1
        if len(page) >= BATCH:
            found += flush()
            if progress:
                progress(seen)
    found += flush()
    for obj in storage.list_objects(OVERLAY_PREFIX):
        named = db.session.scalar(select(Photo.id).where(Photo.overlay_key == obj.key).limit(1))
        overlays += named is None
    db.session.rollback()
    return found, overlays


def adopt_restored() -> list[uuid.UUID]:
    """Mark ``stored`` the declared photos whose bytes a restore found in storage (same sha256 and size).

    A phone that dropped its copy after the server confirmed it cannot upload again; its offer
    of the photo's row is enough. Limited to what ``flask --app server restore`` recorded,
    within ``STORAGE_RESTORE_GRACE_HOURS``. Answers the ids marked (their analysis is the caller's).
    """
    hours = current_app.config["STORAGE_RESTORE_GRACE_HOURS"]
    q = (select(Photo, RestoredBlob.key).join(RestoredBlob, RestoredBlob.sha256 == Photo.sha256)
         .where(Photo.upload_state == "declared", Photo.deleted.is_(False),
                Photo.size_bytes == RestoredBlob.size_bytes,
                RestoredBlob.found_at > utcnow() - timedelta(hours=hours)))
    adopted = []
    for photo, key in db.session.execute(q).all():
        photo.upload_state, photo.storage_key = "stored", key
        adopted.append(photo.id)
    db.session.commit()
    if adopted:
        log.info("adopted the stored bytes of %d photo(s) offered again after the restore", len(adopted))
    return adopted


def restore_keep_before() -> datetime | None:
    """When a restore happened within ``STORAGE_RESTORE_GRACE_HOURS``: its time (purge-blobs keeps older objects)."""
    from ..sync.models import SyncCounter

    at = db.session.scalar(select(SyncCounter.restored_at).where(SyncCounter.id == 1))
    db.session.rollback()
    if at is None or at + timedelta(hours=current_app.config["STORAGE_RESTORE_GRACE_HOURS"]) < utcnow():
        return None
    return at
