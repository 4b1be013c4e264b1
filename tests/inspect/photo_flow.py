"""Helpers for the photo analysis tests: demo-like synthetic photos and the phone's upload steps.

The photos come from :mod:`tests.inspect.synth` (known truth), with the unit made the demo
product's size and colour (TRAY-120-SAGE: 120 × 80 mm, sage green Lab [62, -18, 12]).
"""
from __future__ import annotations

import functools
import hashlib
import uuid
from datetime import datetime, timezone
from unittest import mock
from urllib.parse import urlsplit

import numpy as np

from tests.inspect import synth

DEMO_SIZE_MM = (120.0, 80.0)
DEMO_LAB = (62.0, -18.0, 12.0)
OFF_LAB = (58.0, -10.0, 20.0)  # ΔE00 ≈ 9 from the demo colour
OFF_SIZE_MM = (117.0, 80.0)  # 3 mm short: outside ±1.0 mm


@functools.lru_cache(maxsize=8)
def demo_photo(kind: str = "in_tolerance") -> bytes:
    """A synthetic JPEG of a demo-like unit on the card: ``in_tolerance``, ``out_of_tolerance`` or ``no_card``."""
    from server.inspect import color

    lab, size, with_card, seed = {
        "in_tolerance": (DEMO_LAB, DEMO_SIZE_MM, True, 2),
        "out_of_tolerance": (OFF_LAB, OFF_SIZE_MM, True, 4),
        "no_card": (DEMO_LAB, DEMO_SIZE_MM, False, 5),
    }[kind]
    srgb_u8 = np.round(color.lab_to_srgb(np.array(lab, dtype=np.float64)) * 255.0).astype(np.uint8)
    draw = synth._rounded_rect

    def demo_unit(cx, cy, length, width, angle_deg, radius, n_arc=12):
        # synth draws a random unit; keep its placement and corners, give it the demo's size, lying square.
        return draw(cx, cy, size[0], size[1], 0.4, min(radius, 3.0), n_arc)

    with mock.patch.object(synth, "_rounded_rect", demo_unit), \
            mock.patch.object(synth, "_random_unit_colour", lambda rng: srgb_u8):
        data, _truth = synth.make_photo(seed, size_px=(1800, 1350), with_card=with_card, max_tilt_deg=15.0)
    return data


def declare_photo(data: bytes, *, inspection: str = "inspection:inline:A", content_type: str = "image/jpeg",
                  unit_index: int | None = 1) -> uuid.UUID:
    """Create the photo row directly, as a sync push declares it (``declared``); answer its id."""
    from server.demo import demo_id
    from server.extensions import db
    from server.inspect.models import Photo

    photo = Photo(id=uuid.uuid4(), inspection_id=demo_id(inspection), item_key="unit_photo",
                  sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data), content_type=content_type,
                  unit_index=unit_index, taken_at=datetime.now(timezone.utc))
    db.session.add(photo)
    db.session.commit()
    return photo.id


def push_photo(phone, data: bytes, *, inspection: str = "inspection:inline:A", unit_index: int = 1) -> uuid.UUID:
    """Declare the photo the way the phone does: a ``photo`` upsert through ``/api/v1/sync/push``."""
    from server.demo import demo_id

    photo_id = str(uuid.uuid4())
    phone.edit("photo", photo_id, inspection_id=str(demo_id(inspection)), item_key="unit_photo",
               unit_index=unit_index, sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data),
               content_type="image/jpeg", taken_at=datetime.now(timezone.utc).isoformat())
    results = phone.push_outbox()
    assert [r["status"] for r in results] == ["applied"], results
    return uuid.UUID(photo_id)


def pulled(phone, entity: str, **match) -> list[dict]:
    """Pull like the phone and answer the pulled records of ``entity`` whose fields match ``match``."""
    phone.pull_all()
    return [{"id": id_, **rec} for (ent, id_), rec in phone.store.items()
            if ent == entity and all(rec["fields"].get(k) == v for k, v in match.items())]


def pulled_photo(phone, photo_id: uuid.UUID) -> dict:
    """The photo record as the phone has it after a pull."""
    [record] = [r for r in pulled(phone, "photo") if r["id"] == str(photo_id)]
    return record


def upload_photo(client, headers, photo_id: uuid.UUID, data: bytes):
    """Upload like a phone: ask for a target, PUT the bytes to it, complete. Answers the complete response."""
    r = client.post(f"/api/v1/blobs/{photo_id}/upload", headers=headers)
    assert r.status_code == 200, r.get_json()
    target = r.get_json()
    assert target["method"] == "put", target
    url = urlsplit(target["url"])
    put = client.put(url.path + (f"?{url.query}" if url.query else ""), data=data,
                     headers=target.get("headers") or {})
    assert put.status_code == 200, put.get_data(as_text=True)
    return client.post(f"/api/v1/blobs/{photo_id}/complete", headers=headers)


def store_photo(data: bytes, **declare_kw) -> uuid.UUID:
    """Declare a photo and put its bytes straight into storage as ``stored`` (no verification: bad bytes too)."""
    from server.extensions import db
    from server.inspect.models import Photo
    from server.storage.backends import get_storage

    photo_id = declare_photo(data or b"\0", **declare_kw)
    photo = db.session.get(Photo, photo_id)
    key = f"photos/test/{photo_id}"
    get_storage().put(key, data)
    photo.storage_key, photo.upload_state, photo.size_bytes = key, "stored", len(data)
    db.session.commit()
    return photo_id


def photo_row(photo_id: uuid.UUID):
    """The photo as the database has it now (ends the read so other writers are not blocked)."""
    from server.extensions import db
    from server.inspect.models import Photo

    db.session.rollback()
    photo = db.session.get(Photo, photo_id, populate_existing=True)
    if photo is not None:
        db.session.expunge(photo)  # detached with its values loaded: reading it takes no lock
    db.session.rollback()
    return photo


def photo_measurements(photo_id: uuid.UUID) -> dict[str, object]:
    """The photo's measurements by spec name (tombstones included)."""
    from sqlalchemy import select

    from server.catalog.models import DimensionSpec
    from server.extensions import db
    from server.inspect.models import Measurement

    db.session.rollback()
    rows = db.session.execute(
        select(DimensionSpec.name, Measurement).join(DimensionSpec, Measurement.dimension_spec_id == DimensionSpec.id)
        .where(Measurement.photo_id == photo_id)).all()
    for _, m in rows:
        db.session.expunge(m)
    db.session.rollback()
    return {name: m for name, m in rows}
