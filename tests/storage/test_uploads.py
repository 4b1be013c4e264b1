"""Photo upload, verification and download, on both storage backends (local folder and S3 over HTTP).

The photo rows are made directly here, as a sync push of entity "photo" would declare them.
Bytes go to the URLs the server answers, the way a phone sends them: with ``requests`` to the
S3 server, through the test client to the local backend's signed URLs.
"""
from __future__ import annotations

import hashlib
import os
import struct
import sys
import types
import uuid
import zlib
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from server.storage.backends import LocalStorage, get_storage
from tests.support.s3 import s3_app_config, s3_bucket, s3_client, s3_server  # noqa: F401

MB = 1024 * 1024
PART_BYTES = 5 * MB  # S3's minimum part size (all parts but the last)


@pytest.fixture(params=["local", "s3"])
def storage_kind(request):
    return request.param


@pytest.fixture
def app_config(storage_kind, tmp_path, request):
    cfg = {"TESTING": True, "STORAGE_URL": f"file://{tmp_path / 'storage'}", "LOGIN_MAX_FAILURES_PER_ADDRESS": 1000,
           "STORAGE_MULTIPART_THRESHOLD_BYTES": 6 * MB, "STORAGE_MULTIPART_PART_BYTES": PART_BYTES,
           "STORAGE_PRESIGN_TTL_SECONDS": 120}
    if storage_kind == "s3":
        cfg.update(s3_app_config(request.getfixturevalue("s3_server"), request.getfixturevalue("s3_bucket")))
    return cfg


@pytest.fixture(autouse=True)
def analysis_calls(monkeypatch):
    """Record ``server.inspect.jobs.enqueue_analysis`` calls instead of running the analysis."""
    calls: list = []
    try:
        import server.inspect.jobs as jobs
    except ModuleNotFoundError:
        jobs = types.ModuleType("server.inspect.jobs")
        monkeypatch.setitem(sys.modules, "server.inspect.jobs", jobs)
    monkeypatch.setattr(jobs, "enqueue_analysis", calls.append, raising=False)
    return calls


# -- helpers -----------------------------------------------------------------------------------

def png(width: int = 64, height: int = 48, body_bytes: int = 2000) -> bytes:
    """A PNG whose header says ``width`` × ``height``, followed by random IDAT bytes (never decoded here)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", os.urandom(body_bytes)) + chunk(b"IEND", b""))


def declare(data: bytes, *, content_type: str = "image/png", size: int | None = None, sha256: str | None = None,
            inspection: str = "inspection:inline:A") -> str:
    """Create the photo row as a sync push would; answer its id."""
    from server.demo import demo_id
    from server.extensions import db
    from server.inspect.models import Photo

    photo = Photo(id=uuid.uuid4(), inspection_id=demo_id(inspection), item_key="photo_front",
                  sha256=sha256 or hashlib.sha256(data).hexdigest(), size_bytes=len(data) if size is None else size,
                  content_type=content_type, taken_at=datetime.now(timezone.utc))
    db.session.add(photo)
    db.session.commit()
    return str(photo.id)


def send(client, method: str, url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    """PUT or GET ``url`` like a phone (with the headers the upload target names): the local backend's
    URLs go through the test client."""
    parts = urlsplit(url)
    if parts.hostname in (None, "localhost"):
        r = client.open(parts.path + (f"?{parts.query}" if parts.query else ""), method=method, data=data,
                        headers=headers or {})
        return r.status_code, r.get_data()
    r = requests.request(method, url, data=data, headers=headers or {}, timeout=30)
    return r.status_code, r.content


def upload(client, headers, photo_id: str, data: bytes):
    r = client.post(f"/api/v1/blobs/{photo_id}/upload", headers=headers)
    assert r.status_code == 200, r.get_json()
    target = r.get_json()
    assert target["method"] == "put"
    assert send(client, "PUT", target["url"], data, target["headers"])[0] == 200
    return client.post(f"/api/v1/blobs/{photo_id}/complete", headers=headers)


def stored_objects(app) -> list[str]:
    """Everything in storage: object keys, and unfinished multipart uploads as ``multipart:<key>``."""
    storage = get_storage(app)
    if isinstance(storage, LocalStorage):
        if not storage.root.exists():
            return []
        return sorted(str(p.relative_to(storage.root)) for p in storage.root.rglob("*") if p.is_file())
    client = s3_client(app.config["S3_ENDPOINT_URL"])
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=storage.bucket).get("Contents", [])]
    uploads = client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])
    return sorted(keys + [f"multipart:{u['Key']}" for u in uploads])


def photo_row(photo_id: str):
    from server.extensions import db
    from server.inspect.models import Photo

    db.session.expire_all()
    return db.session.get(Photo, uuid.UUID(photo_id))


def other_brand_headers(login) -> dict:
    from server.accounts.models import Organisation, OrgKind, Role
    from server.accounts.service import add_membership, create_user
    from server.extensions import db

    org = Organisation(name="Other Brand", slug="other-brand", kind=OrgKind.brand)
    db.session.add(org)
    user = create_user("rival@other.test", "rival-password-1", "Rival Reviewer")
    add_membership(user, org, Role.brand_reviewer)
    db.session.commit()
    return login("rival@other.test", "rival-password-1")


# -- the happy path ------------------------------------------------------------------------------

def test_uploaded_photo_is_verified_and_stored_under_its_content_key(app, client, as_inspector):
    data = png()
    photo_id = declare(data)
    r = upload(client, as_inspector, photo_id, data)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["stored"] is True
    sha = hashlib.sha256(data).hexdigest()
    row = photo_row(photo_id)
    assert (row.upload_state, row.storage_key) == ("stored", f"photos/sha256/{sha[:2]}/{sha[2:4]}/{sha}")
    assert b"".join(get_storage(app).iter_chunks(row.storage_key)) == data
    assert not any(k.endswith(f"uploads/{photo_id}") for k in stored_objects(app))  # staging copy gone


def test_complete_is_idempotent(app, client, as_inspector):
    data = png()
    photo_id = declare(data)
    first = upload(client, as_inspector, photo_id, data)
    second = client.post(f"/api/v1/blobs/{photo_id}/complete", headers=as_inspector)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.get_json() == first.get_json()


def test_completing_enqueues_the_analysis_exactly_once(app, client, as_inspector, analysis_calls):
    data = png()
    photo_id = declare(data)
    upload(client, as_inspector, photo_id, data)
    client.post(f"/api/v1/blobs/{photo_id}/complete", headers=as_inspector)
    client.post(f"/api/v1/blobs/{photo_id}/upload", headers=as_inspector)
    assert analysis_calls == [uuid.UUID(photo_id)]


# -- interruptions ---------------------------------------------------------------------------------

def test_interrupted_multipart_upload_resumes_and_completes(app, client, as_inspector, analysis_calls):
    data = png(body_bytes=2 * PART_BYTES + 300_000)  # three parts: 5 MB, 5 MB, the rest
    photo_id = declare(data)
    target = client.post(f"/api/v1/blobs/{photo_id}/upload", headers=as_inspector).get_json()
    assert target["method"] == "multipart"
    assert [p["part_number"] for p in target["parts"]] == [1, 2, 3] and target["parts_done"] == []
    first = target["parts"][0]
    assert send(client, "PUT", first["url"], data[:PART_BYTES])[0] == 200
    # the connection drops here; completing now says what is missing and keeps what arrived
    early = client.post(f"/api/v1/blobs/{photo_id}/complete", headers=as_inspector)
    assert early.status_code == 422
    assert early.get_json()["incomplete"] is True and early.get_json()["missing_parts"] == [2, 3]

    resumed = client.post(f"/api/v1/blobs/{photo_id}/upload", headers=as_inspector).get_json()
    assert resumed["upload_id"] == target["upload_id"]
    assert resumed["parts_done"] == [1]
    assert [p["part_number"] for p in resumed["parts"]] == [2, 3]
    for part in resumed["parts"]:
        start = (part["part_number"] - 1) * PART_BYTES
        assert send(client, "PUT", part["url"], data[start:start + part["size_bytes"]])[0] == 200
    done = client.post(f"/api/v1/blobs/{photo_id}/complete", headers=as_inspector)
    assert done.status_code == 200, done.get_json()
    assert photo_row(photo_id).upload_state == "stored"
    assert analysis_calls == [uuid.UUID(photo_id)]
    assert stored_objects(app) == [k for k in stored_objects(app) if "photos/sha256/" in k]


def test_truncated_put_is_refused_then_a_retry_completes(app, client, as_inspector):
    data = png(body_bytes=50_000)
    photo_id = declare(data)
    target = client.post(f"/api/v1/blobs/{photo_id}/upload", headers=as_inspector).get_json()
    send(client, "PUT", target["url"], data[: len(data) // 2], target["headers"])  # the body was cut short
    r = client.post(f"/api/v1/blobs/{photo_id}/complete", headers=as_inspector)
    assert r.status_code == 422 and r.get_json()["incomplete"] is True
    assert photo_row(photo_id).upload_state == "declared"
    assert stored_objects(app) == []

    retry = upload(client, as_inspector, photo_id, data)  # a fresh target, the whole file again
    assert retry.status_code == 200, retry.get_json()
    assert photo_row(photo_id).upload_state == "stored"


def test_complete_before_any_upload_says_incomplete(app, client, as_inspector):
    photo_id = declare(png())
    r = client.post(f"/api/v1/blobs/{photo_id}/complete", headers=as_inspector)
    assert r.status_code == 422 and r.get_json()["incomplete"] is True


# -- refusals leave nothing behind ------------------------------------------------------------------

def test_wrong_hash_is_refused_and_discarded(app, client, as_inspector, analysis_calls):
    data = png()
    photo_id = declare(data, sha256=hashlib.sha256(b"something else").hexdigest())
    r = upload(client, as_inspector, photo_id, data)
    assert r.status_code == 422
    assert "sha256" in r.get_json()["errors"]
    assert stored_objects(app) == []
    assert photo_row(photo_id).upload_state == "declared"
    assert analysis_calls == []


def test_oversize_photo_is_refused_before_any_upload(app, client, as_inspector):
    app.config["PHOTO_MAX_BYTES"] = 10_000
    photo_id = declare(png(body_bytes=20_000))
    r = client.post(f"/api/v1/blobs/{photo_id}/upload", headers=as_inspector)
    assert r.status_code == 413 and r.get_json()["code"] == "payload_too_large"
    assert stored_objects(app) == []
    assert photo_row(photo_id).upload_state == "declared"


def test_declared_type_other_than_an_image_is_refused(app, client, as_inspector):
    photo_id = declare(b"%PDF-1.7\n" + os.urandom(500), content_type="application/pdf")
    r = client.post(f"/api/v1/blobs/{photo_id}/upload", headers=as_inspector)
    assert r.status_code == 415 and "content_type" in r.get_json()["errors"]
    assert stored_objects(app) == []


def test_bytes_of_another_format_than_declared_are_refused(app, client, as_inspector):
    data = b"GIF89a" + struct.pack("<HH", 10, 10) + os.urandom(500)
    photo_id = declare(data, content_type="image/png")
    r = upload(client, as_inspector, photo_id, data)
    assert r.status_code == 415
    assert stored_objects(app) == []
    assert photo_row(photo_id).upload_state == "declared"


def test_non_image_bytes_are_refused(app, client, as_inspector):
    data = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + os.urandom(600)  # JPEG magic, no readable frame header
    photo_id = declare(data, content_type="image/jpeg")
    r = upload(client, as_inspector, photo_id, data)
    assert r.status_code == 422 and "file" in r.get_json()["errors"]
    assert stored_objects(app) == []
    assert photo_row(photo_id).upload_state == "declared"


def test_png_claiming_fifty_thousand_pixels_square_is_refused_without_decoding(app, client, as_inspector):
    data = png(width=50_000, height=50_000)
    photo_id = declare(data)
    r = upload(client, as_inspector, photo_id, data)
    assert r.status_code == 413 and "file" in r.get_json()["errors"]
    assert stored_objects(app) == []
    assert photo_row(photo_id).upload_state == "declared"


# -- dedupe ------------------------------------------------------------------------------------------

def test_same_photo_declared_twice_is_stored_once(app, client, as_inspector, analysis_calls):
    data = png()
    first = declare(data)
    assert upload(client, as_inspector, first, data).status_code == 200
    second = declare(data, inspection="inspection:final:B")
    r = client.post(f"/api/v1/blobs/{second}/upload", headers=as_inspector)
    assert r.status_code == 200 and r.get_json()["already_stored"] is True
    assert photo_row(second).upload_state == "stored"
    assert photo_row(second).storage_key == photo_row(first).storage_key
    assert len(stored_objects(app)) == 1
    assert analysis_calls == [uuid.UUID(first), uuid.UUID(second)]


# -- downloads ---------------------------------------------------------------------------------------

def test_download_url_is_signed_and_expires(app, client, as_inspector, as_reviewer, monkeypatch, storage_kind):
    data = png()
    photo_id = declare(data)
    upload(client, as_inspector, photo_id, data)
    r = client.get(f"/api/v1/blobs/{photo_id}/download", headers=as_reviewer)
    assert r.status_code == 200
    body = r.get_json()
    assert body["expires_in_seconds"] == 120
    assert send(client, "GET", body["url"]) == (200, data)
    if storage_kind == "s3":  # moto does not enforce expiry: check what S3 will
        query = parse_qs(urlsplit(body["url"]).query)
        assert query["X-Amz-Expires"] == ["120"] and query["X-Amz-Signature"]
        return
    import server.storage.backends as storage_mod

    now = storage_mod._now()
    monkeypatch.setattr(storage_mod, "_now", lambda: now + 121)
    assert send(client, "GET", body["url"])[0] == 401
    token = urlsplit(body["url"]).path.rsplit("/", 1)[1]
    assert send(client, "GET", f"/api/v1/blobs/storage/{token[:-2]}xx")[0] == 401


def test_another_brand_gets_404(app, client, as_inspector, login):
    data = png()
    photo_id = declare(data)
    upload(client, as_inspector, photo_id, data)
    rival = other_brand_headers(login)
    for method, path in (("GET", "download"), ("POST", "upload"), ("POST", "complete")):
        r = client.open(f"/api/v1/blobs/{photo_id}/{path}", method=method, headers=rival)
        assert r.status_code == 404, path


def test_brand_reviewer_may_download_but_not_upload(app, client, as_reviewer):
    photo_id = declare(png())
    r = client.post(f"/api/v1/blobs/{photo_id}/upload", headers=as_reviewer)
    assert r.status_code == 403


def test_overlay_variant_downloads_the_overlay_image(app, client, as_inspector, as_reviewer):
    from server.extensions import db

    data = png()
    photo_id = declare(data)
    assert client.get(f"/api/v1/blobs/{photo_id}/download?variant=overlay", headers=as_reviewer).status_code == 404
    upload(client, as_inspector, photo_id, data)
    overlay = png(10, 10)
    get_storage(app).put(f"overlays/{photo_id}.png", overlay, content_type="image/png")
    photo_row(photo_id).overlay_key = f"overlays/{photo_id}.png"
    db.session.commit()
    r = client.get(f"/api/v1/blobs/{photo_id}/download?variant=overlay", headers=as_reviewer)
    assert r.status_code == 200 and r.get_json()["content_type"] == "image/png"
    assert send(client, "GET", r.get_json()["url"]) == (200, overlay)


def test_download_before_upload_is_a_conflict(app, client, as_reviewer):
    photo_id = declare(png())
    assert client.get(f"/api/v1/blobs/{photo_id}/download", headers=as_reviewer).status_code == 409


# -- the header probe (pure; no app) -------------------------------------------------------------------

def _encoded(ext: str, width: int, height: int, params: list | None = None) -> bytes:
    import cv2
    import numpy as np

    img = np.random.default_rng(1).integers(0, 255, (height, width, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(ext, img, params or [])
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("ext,params,fmt", [
    (".jpg", None, "jpeg"),
    (".jpg", [1 + 1, 1], "jpeg"),  # cv2.IMWRITE_JPEG_PROGRESSIVE = 2: a progressive frame (SOF2)
    (".png", None, "png"),
    (".webp", [64, 80], "webp"),  # cv2.IMWRITE_WEBP_QUALITY: lossy (VP8)
    (".webp", [64, 101], "webp"),  # quality above 100: lossless (VP8L)
])
def test_header_probe_reads_size_of_real_encoder_output(ext, params, fmt):
    from server.storage.uploads import probe_image_header

    info = probe_image_header(_encoded(ext, 37, 23, params)[:64 * 1024])
    assert (info.format, info.width_px, info.height_px) == (fmt, 37, 23)


def test_header_probe_reads_extended_webp_canvas():
    from server.storage.uploads import probe_image_header

    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x10\x00\x00\x00" + (4999).to_bytes(3, "little") + (2999).to_bytes(3, "little")
    data = b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x
    info = probe_image_header(data)
    assert (info.width_px, info.height_px) == (5000, 3000)


def test_header_probe_finds_a_jpeg_frame_behind_a_large_exif_block():
    from server.storage.uploads import HeaderTruncated, probe_image_header

    jpeg = _encoded(".jpg", 40, 30)
    app1 = b"\xff\xe1" + struct.pack(">H", 65_000) + b"Exif\x00\x00" + os.urandom(65_000 - 8)
    data = jpeg[:2] + app1 + app1 + jpeg[2:]
    with pytest.raises(HeaderTruncated):
        probe_image_header(data[:64 * 1024])
    info = probe_image_header(data[:512 * 1024])
    assert (info.width_px, info.height_px) == (40, 30)


@pytest.mark.parametrize("data", [b"", b"GIF89a" + b"\x00" * 40, b"\x89PNG\r\n\x1a\n" + b"\x00" * 30,
                                  b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 30])
def test_header_probe_refuses_other_or_corrupt_bytes(data):
    from server.storage.uploads import probe_image_header

    assert probe_image_header(data) is None


def test_jpeg_with_a_large_exif_block_is_accepted(app, client, as_inspector):
    jpeg = _encoded(".jpg", 40, 30)
    app1 = b"\xff\xe1" + struct.pack(">H", 65_000) + b"Exif\x00\x00" + os.urandom(65_000 - 8)
    data = jpeg[:2] + app1 + app1 + jpeg[2:]
    photo_id = declare(data, content_type="image/jpeg")
    r = upload(client, as_inspector, photo_id, data)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["stored"] is True and r.get_json()["content_type"] == "image/jpeg"
    row = photo_row(photo_id)
    assert row.upload_state == "stored" and row.storage_key.endswith(hashlib.sha256(data).hexdigest())
    assert b"".join(get_storage(app).iter_chunks(row.storage_key)) == data


def test_two_uploads_of_the_same_bytes_leave_one_object(app, client, as_inspector, login):
    data = png()
    first, second = declare(data), declare(data, inspection="inspection:final:B")
    targets = [client.post(f"/api/v1/blobs/{pid}/upload", headers=as_inspector).get_json() for pid in (first, second)]
    for target in targets:  # both phones upload before either completes
        assert send(client, "PUT", target["url"], data, target["headers"])[0] == 200
    manager = login("manager@demo.lineside.test", "demo-manager")  # the factory's manager may complete too
    for pid in (first, second):
        assert client.post(f"/api/v1/blobs/{pid}/complete", headers=manager).status_code == 200
    assert len(stored_objects(app)) == 1
    assert photo_row(first).storage_key == photo_row(second).storage_key


def test_a_complete_racing_a_finished_one_does_not_enqueue_again(app, client, as_inspector, analysis_calls):
    from server.storage import uploads as blobs

    data = png()
    photo_id = declare(data)
    upload(client, as_inspector, photo_id, data)
    from sqlalchemy.orm.attributes import set_committed_value

    row = photo_row(photo_id)
    set_committed_value(row, "upload_state", "declared")  # what a concurrent complete read earlier
    blobs._mark_stored(row, row.storage_key)
    assert analysis_calls == [uuid.UUID(photo_id)]
    assert photo_row(photo_id).upload_state == "stored"


# -- what the signed URLs pin -------------------------------------------------------------------------

def test_upload_url_is_signed_for_the_declared_type_and_length(app, client, as_inspector, storage_kind):
    data = png()
    photo_id = declare(data)
    target = client.post(f"/api/v1/blobs/{photo_id}/upload", headers=as_inspector).get_json()
    assert target["headers"] == {"Content-Type": "image/png"}
    if storage_kind == "s3":  # moto does not check signatures: check what S3 will
        signed = parse_qs(urlsplit(target["url"]).query)["X-Amz-SignedHeaders"][0].split(";")
        assert {"content-type", "content-length", "host"} <= set(signed)
        return
    html = b"<html><script>alert(1)</script></html>".ljust(len(data), b" ")
    assert send(client, "PUT", target["url"], html, {"Content-Type": "text/html"})[0] == 415
    assert send(client, "PUT", target["url"], data + b"x" * 40, target["headers"])[0] == 400
    assert send(client, "PUT", target["url"], data[:100], target["headers"])[0] == 400
    assert stored_objects(app) == []
    assert send(client, "PUT", target["url"], data, target["headers"])[0] == 200


def test_multipart_part_urls_are_signed_for_their_length(app, client, as_inspector, storage_kind):
    data = png(body_bytes=2 * PART_BYTES + 300_000)
    photo_id = declare(data)
    target = client.post(f"/api/v1/blobs/{photo_id}/upload", headers=as_inspector).get_json()
    part = target["parts"][0]
    if storage_kind == "s3":
        signed = parse_qs(urlsplit(part["url"]).query)["X-Amz-SignedHeaders"][0].split(";")
        assert "content-length" in signed
        return
    assert send(client, "PUT", part["url"], data[:PART_BYTES + 10])[0] == 400
    assert send(client, "PUT", part["url"], data[:PART_BYTES])[0] == 200


def test_download_url_forces_an_image_type_whatever_was_stored(app, client, as_inspector, as_reviewer, storage_kind):
    from server.extensions import db

    data = png()
    photo_id = declare(data)
    assert upload(client, as_inspector, photo_id, data).status_code == 200
    # bytes stored under another type by other means (an old upload, a tool): the link still says image/png
    row = photo_row(photo_id)
    get_storage(app).put(row.storage_key, data, content_type="text/html")
    db.session.commit()
    body = client.get(f"/api/v1/blobs/{photo_id}/download", headers=as_reviewer).get_json()
    assert body["content_type"] == "image/png"
    parts = urlsplit(body["url"])
    if parts.hostname in (None, "localhost"):
        r = client.get(parts.path)
        got_type, got_disposition = r.mimetype, r.headers["Content-Disposition"]
    else:
        r = requests.get(body["url"], timeout=30)
        query = parse_qs(parts.query)
        assert query["response-content-type"] == ["image/png"]
        got_type, got_disposition = r.headers["Content-Type"], r.headers["Content-Disposition"]
    assert r.status_code == 200 and got_type == "image/png"
    assert got_disposition.startswith("inline; filename=") and got_disposition.endswith('.png"')
