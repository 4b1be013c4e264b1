"""Storage bookkeeping: photo bytes found in storage after a database restore."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import UTCDateTime, utcnow


class RestoredBlob(db.Model):
    """Verified photo bytes in storage that no photo row named when the database was restored.

    Written by ``flask --app server restore``: the rows were lost with the restore, the bytes
    were not. When a phone offers such a photo again (same sha256 and size) the server adopts
    the bytes instead of waiting for an upload the phone can no longer make (it dropped its
    copy once the server had confirmed it). Kept for ``STORAGE_RESTORE_GRACE_HOURS``.
    """

    __tablename__ = "restored_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(String(200))
    found_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
