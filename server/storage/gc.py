"""Storage housekeeping: delete photo bytes and overlays nothing refers to, and abandoned uploads.

``flask --app server purge-blobs`` (see ``docs/photo-upload.md``, "Storage housekeeping") runs
:func:`purge_blobs` over four kinds of object, each listed from storage:

``photo``
    content-addressed photo bytes, ``photos/sha256/ab/cd/<sha256>`` (:func:`~server.storage.uploads.content_key`).
    Several photos share one object (dedup), so it is kept while **any** photo row has that
    sha256 or that ``storage_key`` — whatever its state, ``deleted`` flag included: a tombstone
    may still be pulled, and a declared photo may adopt the bytes without uploading them. Only
    when every such row is gone (tombstones purged by ``purge-tombstones``) are the bytes deleted.
``overlay``
    analysis overlays under ``overlays/``; kept while any photo row (deleted or not) names it
    in ``overlay_key``. A re-analysis that made a new overlay frees the old one.
``staging``
    ``uploads/<photo id>``, bytes waiting for ``complete``: deleted once older than the grace
    period whatever the row says (the phone's next ``complete`` answers ``incomplete`` and it
    uploads again).
``multipart``
    unfinished multipart uploads to ``uploads/``: aborted once neither the start nor any part
    is younger than the grace period, so a slow upload that still makes progress is kept.

Race safety: nothing younger than the grace period (``STORAGE_GC_GRACE_HOURS``, by
last-modified) is ever deleted, so an object stored while the purge runs survives it; and the
references of each small chunk of candidates are read again, in a fresh transaction, right
before that chunk is deleted. Anything else in the bucket (``documents/``, ``attachments/``,
keys that are not content keys) is never touched.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Callable, Iterable, Iterator, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import select

from ..extensions import db
from ..inspect.models import Photo
from .backends import InvalidKey, Storage, StoredObject, validate_key

CONTENT_PREFIX = "photos/sha256/"
OVERLAY_PREFIX = "overlays/"
STAGING_PREFIX = "uploads/"
KINDS = ("photo", "overlay", "staging", "multipart")
LIST_PAGE = 1000
"""Objects checked against the database per query."""
RECHECK_CHUNK = 50
"""Candidates whose references are read again right before they are deleted, per query."""

_CONTENT_KEY_RE = re.compile(r"^photos/sha256/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})$")
T = TypeVar("T")


@dataclass
class PurgeReport:
    """What a purge looked at and did (or, in a dry run, would do)."""

    dry_run: bool
    grace: timedelta
    checked: Counter = field(default_factory=Counter)  # kind -> objects (or multipart uploads) listed
    deleted: Counter = field(default_factory=Counter)  # kind -> deleted, or would delete in a dry run
    bytes_freed: int = 0
    kept_referenced: int = 0
    kept_recent: int = 0
    kept_restore: int = 0  # stored before a recent database restore: kept for STORAGE_RESTORE_GRACE_HOURS
    skipped: int = 0  # keys under a Lineside prefix that are not what the prefix holds: left alone

    @property
    def total_checked(self) -> int:
        return sum(self.checked.values())

    @property
    def total_deleted(self) -> int:
        return sum(self.deleted.values())


def sha_of_content_key(key: str) -> str | None:
    """The sha256 named by a content key ``photos/sha256/ab/cd/<sha256>``, or ``None`` for any other key."""
    m = _CONTENT_KEY_RE.match(key)
    if not m or m.group(3)[:2] != m.group(1) or m.group(3)[2:4] != m.group(2):
        return None
    return m.group(3)


def _batched(items: Iterable[T], n: int) -> Iterator[list[T]]:
    it = iter(items)
    while batch := list(islice(it, n)):
        yield batch


def _referenced(kind: str, objects: list[StoredObject]) -> set[str]:
    """The keys among ``objects`` that some photo row (deleted or not) still refers to.

    Ends the read transaction, so that the next check sees every commit made since.
    """
    keys = [o.key for o in objects]
    try:
        if kind == "photo":
            sha_by_key = {k: sha_of_content_key(k) for k in keys}
            shas = set(sha_by_key.values())
            found = set(db.session.scalars(select(Photo.sha256).where(Photo.sha256.in_(shas)).distinct()))
            refs = {k for k, sha in sha_by_key.items() if sha in found}
            refs |= set(db.session.scalars(select(Photo.storage_key).where(Photo.storage_key.in_(keys))))
        else:
            refs = set(db.session.scalars(select(Photo.overlay_key).where(Photo.overlay_key.in_(keys))))
    finally:
        db.session.rollback()
    return refs


def purge_blobs(storage: Storage, *, grace: timedelta, dry_run: bool = False, now: datetime | None = None,
                on_delete: Callable[[str, str, int], None] | None = None,
                progress: Callable[[PurgeReport], None] | None = None,
                keep_before: datetime | None = None) -> PurgeReport:
    """Delete what no photo refers to any more and abandoned uploads (see the module docstring).

    ``keep_before`` (the time of a recent database restore) keeps every photo and overlay
    object stored before it: rows lost with the restore may still come back from phones.

    ``on_delete(kind, key, bytes)`` is called for each object deleted (in a dry run: each one
    that would be); ``progress(report)`` after every page of listing. Raises whatever the storage
    backend raises (the report so far is lost; running again is safe).
    """
    now = now or datetime.now(timezone.utc)
    cutoff = now - grace
    report = PurgeReport(dry_run=dry_run, grace=grace)

    def delete(kind: str, key: str, size: int, upload_id: str | None = None) -> None:
        if not dry_run:
            if upload_id is None:
                storage.delete(key)
            else:
                storage.abort_multipart(key, upload_id)
        report.deleted[kind] += 1
        report.bytes_freed += size
        if on_delete:
            on_delete(kind, key, size)

    for kind, prefix in (("photo", CONTENT_PREFIX), ("overlay", OVERLAY_PREFIX), ("staging", STAGING_PREFIX)):
        for page in _batched(storage.list_objects(prefix), LIST_PAGE):
            report.checked[kind] += len(page)
            old = []
            for obj in page:
                if not _is_key(obj.key) or (kind == "photo" and sha_of_content_key(obj.key) is None):
                    report.skipped += 1
                elif obj.last_modified >= cutoff:
                    report.kept_recent += 1
                elif keep_before is not None and kind != "staging" and obj.last_modified < keep_before:
                    report.kept_restore += 1
                else:
                    old.append(obj)
            if kind == "staging":  # nothing refers to a staging key: its age is the whole rule
                for obj in old:
                    delete(kind, obj.key, obj.size_bytes)
            elif old:
                refs = _referenced(kind, old)
                report.kept_referenced += len(refs)
                for chunk in _batched((o for o in old if o.key not in refs), RECHECK_CHUNK):
                    refs = _referenced(kind, chunk)  # again, right before deleting: a row may have come since
                    for obj in chunk:
                        if obj.key in refs:
                            report.kept_referenced += 1
                        else:
                            delete(kind, obj.key, obj.size_bytes)
            if progress:
                progress(report)

    for upload in list(storage.list_multipart(STAGING_PREFIX)):
        report.checked["multipart"] += 1
        if not _is_key(upload.key):
            report.skipped += 1
            continue
        if upload.initiated >= cutoff:
            report.kept_recent += 1
            continue
        try:
            parts = storage.list_parts(upload.key, upload.upload_id)
        except FileNotFoundError:  # completed or aborted meanwhile
            continue
        if any(p.last_modified is not None and p.last_modified >= cutoff for p in parts):
            report.kept_recent += 1  # started long ago but still receiving parts: in progress
            continue
        delete("multipart", upload.key, sum(p.size_bytes for p in parts), upload.upload_id)
    if progress:
        progress(report)
    return report


def _is_key(key: str) -> bool:
    try:
        validate_key(key)
    except InvalidKey:
        return False
    return True


def check_origins(origins: Iterable[str]) -> list[str]:
    """The PWA origins for the bucket's CORS rule, normalised (``https://app.example.com``).

    Raises ``ValueError`` naming the first one that is not a plain ``http(s)://host[:port]``.
    """
    out: list[str] = []
    for raw in origins:
        origin = (raw or "").strip().rstrip("/")
        try:
            parts = urlsplit(origin)
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            parts, port_ok = None, False
        if (parts is None or not port_ok or parts.scheme not in ("http", "https") or not parts.hostname
                or parts.path or parts.query or parts.fragment or "@" in parts.netloc or "*" in origin):
            raise ValueError(f"{raw!r} is not an origin: give scheme and host only, like https://app.example.com")
        if origin.lower() not in out:
            out.append(origin.lower())
    return out
