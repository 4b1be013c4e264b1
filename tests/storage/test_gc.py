"""Storage housekeeping on both backends: ``purge-blobs`` and ``storage-setup``.

Photos are declared by a sync push from a phone, uploaded through the blob API, deleted by a
push and their tombstones purged with ``purge-tombstones``, as in production. Objects are made
"old" by moving their last-modified time back (the file's mtime; moto's in-process record).
"""
from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import pytest

from server.storage.uploads import content_key, staging_key
from server.storage.backends import get_storage
from tests.support.s3 import s3_app_config, s3_bucket, s3_client, s3_server  # noqa: F401
from tests.sync.support import new_id
from tests.storage.test_uploads import PART_BYTES, analysis_calls, app_config, png, send, storage_kind, upload  # noqa: F401

OLD = 49  # hours: past the default grace period of 48 h


# -- helpers -----------------------------------------------------------------------------------------

def declare(phone, insp: str, data: bytes) -> str:
    """Declare a photo the way the PWA does: a sync push of entity "photo"."""
    pid = new_id()
    phone.edit("photo", pid, inspection_id=insp, sha256=hashlib.sha256(data).hexdigest(),
               size_bytes=len(data), content_type="image/png")
    result = phone.push_outbox()[0]
    assert result["status"] == "applied", result
    return pid


def stored_photo(client, headers, phone, insp: str, data: bytes) -> str:
    pid = declare(phone, insp, data)
    r = client.post(f"/api/v1/blobs/{pid}/upload", headers=headers)
    if not r.get_json().get("already_stored"):
        r = upload(client, headers, pid, data)
    assert r.status_code == 200, r.get_json()
    return pid


def delete_photo(phone, pid: str) -> None:
    phone.delete("photo", pid)
    result = phone.push_outbox()[0]
    assert result["status"] == "applied", result


def purge_tombstones(runner) -> None:
    result = runner.invoke(args=["purge-tombstones", "--older-than-seconds", "0"])
    assert result.exit_code == 0, result.output


def purge_blobs(runner, *args: str):
    result = runner.invoke(args=["purge-blobs", *args])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result


def present(app, key: str) -> bool:
    return get_storage(app).head(key) is not None


def age(app, key: str, hours: float) -> None:
    """Move an object's last-modified time ``hours`` back."""
    storage = get_storage(app)
    if storage.kind == "local":
        _age_file(storage.root / key, hours)
    else:
        _moto_bucket(storage).keys[f"{storage.prefix}/{key}"].last_modified -= timedelta(hours=hours)


def age_upload(app, key: str, upload_id: str, hours: float) -> None:
    """Move a multipart upload's start and its parts' last-modified times ``hours`` back."""
    storage = get_storage(app)
    if storage.kind == "local":
        for path in (storage.root / ".multipart" / upload_id).iterdir():
            _age_file(path, hours)
    else:  # moto lists every upload as initiated in 2010; only the parts carry real times
        for part in _moto_bucket(storage).multiparts[upload_id].parts.values():
            part.last_modified -= timedelta(hours=hours)


def _age_file(path, hours: float) -> None:
    st = path.stat()
    os.utime(path, (st.st_atime - hours * 3600, st.st_mtime - hours * 3600))


def _moto_bucket(storage):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    return s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets[storage.bucket]


def start_multipart(client, headers, phone, insp: str) -> tuple[str, str, bytes]:
    """Declare a photo above the multipart threshold and send only its first part, like a phone cut off."""
    data = png(body_bytes=PART_BYTES + 1_500_000)
    pid = declare(phone, insp, data)
    target = client.post(f"/api/v1/blobs/{pid}/upload", headers=headers).get_json()
    assert target["method"] == "multipart"
    assert send(client, "PUT", target["parts"][0]["url"], data[:PART_BYTES])[0] == 200
    return pid, target["upload_id"], data


def set_overlay(app, pid: str, overlay: bytes) -> str:
    """Store an overlay the way the analysis does and record it on the photo row."""
    import uuid

    from server.extensions import db
    from server.inspect.analysis import store_overlay
    from server.inspect.models import Photo

    key = store_overlay(overlay)
    db.session.get(Photo, uuid.UUID(pid)).overlay_key = key
    db.session.commit()
    return key


# -- photo bytes ---------------------------------------------------------------------------------------

def test_referenced_bytes_survive_and_unreferenced_old_ones_go(app, client, runner, as_inspector, phone, insp):
    kept_data, gone_data = png(), png()
    stored_photo(client, as_inspector, phone, insp, kept_data)
    gone = stored_photo(client, as_inspector, phone, insp, gone_data)
    delete_photo(phone, gone)
    purge_tombstones(runner)
    kept_key, gone_key = content_key(hashlib.sha256(kept_data).hexdigest()), content_key(hashlib.sha256(gone_data).hexdigest())
    age(app, kept_key, OLD)
    age(app, gone_key, OLD)

    result = purge_blobs(runner)
    assert present(app, kept_key) and not present(app, gone_key)
    assert "deleted 1 (photo 1)" in result.output and "kept 1 still referenced" in result.output
    assert f"freed {len(gone_data) / 1024:.1f} KB" in result.output


def test_unreferenced_bytes_younger_than_the_grace_period_survive(app, client, runner, as_inspector, phone, insp):
    data = png()
    pid = stored_photo(client, as_inspector, phone, insp, data)
    delete_photo(phone, pid)
    purge_tombstones(runner)
    key = content_key(hashlib.sha256(data).hexdigest())

    assert "1 younger than 48 h" in purge_blobs(runner).output
    assert present(app, key)
    age(app, key, 2)
    assert present(app, key) and "younger" in purge_blobs(runner).output  # 2 h old: still within 48 h
    purge_blobs(runner, "--older-than-hours", "1")
    assert not present(app, key)


def test_a_deleted_photo_keeps_its_bytes_until_its_tombstone_is_purged(app, client, runner, as_inspector, phone,
                                                                      insp):
    data = png()
    pid = stored_photo(client, as_inspector, phone, insp, data)
    delete_photo(phone, pid)
    key = content_key(hashlib.sha256(data).hexdigest())
    age(app, key, OLD)

    purge_blobs(runner)
    assert present(app, key)  # a tombstone still names the bytes
    purge_tombstones(runner)
    purge_blobs(runner)
    assert not present(app, key)


def test_bytes_shared_by_two_photos_survive_while_one_still_refers_to_them(app, client, runner, as_inspector,
                                                                         phone, insp, demo):
    data = png()
    first = stored_photo(client, as_inspector, phone, insp, data)
    second = stored_photo(client, as_inspector, phone, str(demo("inspection:final:B")), data)  # deduplicated
    key = content_key(hashlib.sha256(data).hexdigest())
    age(app, key, OLD)
    delete_photo(phone, first)
    purge_tombstones(runner)

    purge_blobs(runner)
    assert present(app, key)
    assert client.get(f"/api/v1/blobs/{second}/download", headers=as_inspector).status_code == 200
    delete_photo(phone, second)
    purge_tombstones(runner)
    purge_blobs(runner)
    assert not present(app, key)


def test_keys_that_are_not_lineside_objects_are_left_alone(app, runner):
    storage = get_storage(app)
    odd = ["photos/sha256/zz/yy/not-a-hash", "documents/" + "a" * 64, "attachments/" + "b" * 64]
    for key in odd:
        storage.put(key, b"someone else's bytes")
        age(app, key, OLD)
    result = purge_blobs(runner)
    assert all(present(app, key) for key in odd)
    assert "left 1 unrecognised key(s) alone" in result.output


# -- overlays ------------------------------------------------------------------------------------------

def test_overlays_of_a_gone_photo_go(app, client, runner, as_inspector, phone, insp):
    kept = stored_photo(client, as_inspector, phone, insp, png())
    gone = stored_photo(client, as_inspector, phone, insp, png())
    kept_overlay, gone_overlay = set_overlay(app, kept, os.urandom(300)), set_overlay(app, gone, os.urandom(300))
    assert gone_overlay.startswith("overlays/sha256/")
    delete_photo(phone, gone)
    purge_tombstones(runner)
    for key in (kept_overlay, gone_overlay):
        age(app, key, OLD)

    result = purge_blobs(runner)
    assert present(app, kept_overlay) and not present(app, gone_overlay)
    assert "deleted 1 (overlay 1)" in result.output  # the photo bytes themselves are still young


def test_an_overlay_replaced_by_a_new_analysis_goes(app, client, runner, as_inspector, phone, insp):
    pid = stored_photo(client, as_inspector, phone, insp, png())
    old_overlay = set_overlay(app, pid, os.urandom(300))
    new_overlay = set_overlay(app, pid, os.urandom(300))
    age(app, old_overlay, OLD)
    age(app, new_overlay, OLD)
    purge_blobs(runner)
    assert present(app, new_overlay) and not present(app, old_overlay)
    assert client.get(f"/api/v1/blobs/{pid}/download?variant=overlay", headers=as_inspector).status_code == 200


# -- abandoned uploads --------------------------------------------------------------------------------

def test_abandoned_multipart_upload_is_aborted_and_a_fresh_one_kept(app, client, runner, as_inspector, phone, insp):
    abandoned, abandoned_upload, _ = start_multipart(client, as_inspector, phone, insp)
    fresh, fresh_upload, fresh_data = start_multipart(client, as_inspector, phone, insp)
    age_upload(app, staging_key(abandoned), abandoned_upload, OLD)

    result = purge_blobs(runner)
    assert "(multipart 1)" in result.output and "2 unfinished multipart upload(s)" in result.output
    storage = get_storage(app)
    assert storage.find_multipart(staging_key(abandoned)) is None
    assert storage.find_multipart(staging_key(fresh)) == fresh_upload

    # the inspector on bad Wi-Fi resumes the fresh one where it stopped and completes it
    resumed = client.post(f"/api/v1/blobs/{fresh}/upload", headers=as_inspector).get_json()
    assert resumed["upload_id"] == fresh_upload and resumed["parts_done"] == [1]
    for part in resumed["parts"]:
        start = (part["part_number"] - 1) * PART_BYTES
        assert send(client, "PUT", part["url"], fresh_data[start:start + part["size_bytes"]])[0] == 200
    assert client.post(f"/api/v1/blobs/{fresh}/complete", headers=as_inspector).status_code == 200
    # the abandoned one starts again from scratch when its phone comes back
    again = client.post(f"/api/v1/blobs/{abandoned}/upload", headers=as_inspector).get_json()
    assert again["upload_id"] != abandoned_upload and again["parts_done"] == []


def test_an_old_multipart_upload_still_receiving_parts_is_kept(app, client, runner, as_inspector, phone, insp):
    pid, upload_id, data = start_multipart(client, as_inspector, phone, insp)
    age_upload(app, staging_key(pid), upload_id, OLD)
    target = client.post(f"/api/v1/blobs/{pid}/upload", headers=as_inspector).get_json()
    part = target["parts"][0]  # a part arrives now, after days of no signal
    assert send(client, "PUT", part["url"], data[PART_BYTES:PART_BYTES + part["size_bytes"]])[0] == 200

    purge_blobs(runner)
    assert get_storage(app).find_multipart(staging_key(pid)) == upload_id


def test_stale_staging_objects_go_and_fresh_ones_stay(app, client, runner, as_inspector, phone, insp):
    stale_data, fresh_data = png(), png()
    stale, fresh = declare(phone, insp, stale_data), declare(phone, insp, fresh_data)
    for pid, data in ((stale, stale_data), (fresh, fresh_data)):  # uploaded, never completed
        target = client.post(f"/api/v1/blobs/{pid}/upload", headers=as_inspector).get_json()
        assert send(client, "PUT", target["url"], data, target["headers"])[0] == 200
    age(app, staging_key(stale), OLD)

    purge_blobs(runner)
    assert not present(app, staging_key(stale)) and present(app, staging_key(fresh))
    r = client.post(f"/api/v1/blobs/{stale}/complete", headers=as_inspector)
    assert r.status_code == 422 and r.get_json()["incomplete"] is True  # the phone uploads again
    assert upload(client, as_inspector, stale, stale_data).status_code == 200


# -- dry run --------------------------------------------------------------------------------------------

def test_dry_run_deletes_nothing_and_says_what_it_would_delete(app, client, runner, as_inspector, phone, insp):
    data = png()
    pid = stored_photo(client, as_inspector, phone, insp, data)
    overlay = set_overlay(app, pid, os.urandom(300))
    delete_photo(phone, pid)
    purge_tombstones(runner)
    key = content_key(hashlib.sha256(data).hexdigest())
    mp, mp_upload, _ = start_multipart(client, as_inspector, phone, insp)
    for k in (key, overlay):
        age(app, k, OLD)
    age_upload(app, staging_key(mp), mp_upload, OLD)

    result = purge_blobs(runner, "--dry-run")
    assert f"would delete photo     {key}" in result.output
    assert f"would delete overlay   {overlay}" in result.output
    assert f"would delete multipart {staging_key(mp)}" in result.output
    assert "dry run: " in result.output and "would delete 3 (photo 1, overlay 1, multipart 1)" in result.output
    assert present(app, key) and present(app, overlay)
    assert get_storage(app).find_multipart(staging_key(mp)) == mp_upload

    assert "deleted 3" in purge_blobs(runner).output
    assert not present(app, key) and not present(app, overlay)


def test_long_runs_show_progress(app, runner, monkeypatch):
    from server.storage import gc

    monkeypatch.setattr(gc, "LIST_PAGE", 2)
    for i in range(5):
        get_storage(app).put(f"uploads/{i}", b"x")
    result = purge_blobs(runner)
    assert "... checked 2, deleted 0" in result.output and "... checked 4, deleted 0" in result.output
    assert "checked 5 object(s)" in result.output and "5 younger than 48 h" in result.output


# -- listing, the storage side -----------------------------------------------------------------------------

def test_listing_finds_objects_by_prefix_with_size_and_time(app):
    storage = get_storage(app)
    for key in ("uploads/a", "uploads/b/c", "uploads-x", "photos/p"):
        storage.put(key, b"12345")
    assert sorted(storage.list_keys("uploads/")) == ["uploads/a", "uploads/b/c"]
    assert sorted(storage.list_keys("uploads")) == ["uploads-x", "uploads/a", "uploads/b/c"]
    assert sorted(storage.list_keys()) == ["photos/p", "uploads-x", "uploads/a", "uploads/b/c"]
    (obj,) = storage.list_objects("photos/")
    assert obj.size_bytes == 5 and obj.last_modified.tzinfo is not None
    upload_id = storage.create_multipart("uploads/m")
    assert [(u.key, u.upload_id) for u in storage.list_multipart("uploads/")] == [("uploads/m", upload_id)]
    assert list(storage.list_multipart("photos/")) == []
    with pytest.raises(ValueError):
        list(storage.list_keys("../"))


# -- storage-setup -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("storage_kind", ["s3"])
def test_storage_setup_sets_cors_and_lifecycle_on_the_bucket(app, runner, storage_kind):  # noqa: F811 (the parameter, not the imported fixture)
    storage = get_storage(app)
    s3 = s3_client(app.config["S3_ENDPOINT_URL"])
    s3.put_bucket_lifecycle_configuration(Bucket=storage.bucket, LifecycleConfiguration={"Rules": [
        {"ID": "ops-logs", "Status": "Enabled", "Filter": {"Prefix": "logs/"}, "Expiration": {"Days": 30}}]})
    app.config["STORAGE_ABANDONED_UPLOAD_DAYS"] = 3
    for _ in range(2):  # idempotent
        result = runner.invoke(args=["storage-setup", "--origin", "https://app.example.com/",
                                     "--origin", "https://qc.factory.example:8443"])
        assert result.exit_code == 0, result.output

    (cors,) = s3.get_bucket_cors(Bucket=storage.bucket)["CORSRules"]
    assert cors["AllowedOrigins"] == ["https://app.example.com", "https://qc.factory.example:8443"]
    assert sorted(cors["AllowedMethods"]) == ["GET", "HEAD", "PUT"]
    assert cors["ExposeHeaders"] == ["ETag"] and cors["AllowedHeaders"] == ["*"]
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=storage.bucket)["Rules"]}
    assert set(rules) == {"ops-logs", "lineside-abandoned-uploads"}  # the operator's own rule stays
    ours = rules["lineside-abandoned-uploads"]
    assert ours["Status"] == "Enabled" and ours["Filter"] == {"Prefix": "photos-test/uploads/"}
    assert ours["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 3}


@pytest.mark.parametrize("storage_kind", ["s3"])
@pytest.mark.parametrize("args,message", [
    ([], "--origin https://app.example.com"),
    (["--origin", "*"], "is not an origin"),
    (["--origin", "app.example.com"], "is not an origin"),
    (["--origin", "https://app.example.com/pwa"], "is not an origin"),
])
def test_storage_setup_refuses_missing_or_bad_origins(app, runner, storage_kind, args, message):  # noqa: F811 (the parameter, not the imported fixture)
    result = runner.invoke(args=["storage-setup", *args])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("storage_kind", ["local"])
def test_storage_setup_on_the_local_folder_needs_nothing(app, runner, storage_kind):  # noqa: F811 (the parameter, not the imported fixture)
    result = runner.invoke(args=["storage-setup", "--origin", "https://app.example.com"])
    assert result.exit_code == 0 and "needs no setup" in result.output


@pytest.mark.parametrize("storage_kind", ["s3"])
def test_a_missing_bucket_is_a_clear_error(app, runner, storage_kind):  # noqa: F811 (the parameter, not the imported fixture)
    app.config["STORAGE_URL"] = "s3://lineside-no-such-bucket/x"
    app.extensions.pop("lineside.storage", None)
    for args in (["purge-blobs"], ["storage-setup", "--origin", "https://app.example.com"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 1 and "NoSuchBucket" in result.output, result.output
        assert "Traceback" not in result.output
