"""The storage backends behave alike: the local folder and S3 (moto's server over real HTTP)."""
from __future__ import annotations

import hashlib
import io
import os

import pytest
import requests
from botocore.exceptions import ClientError

from server.storage.backends import InvalidKey, LocalStorage, S3Storage, sha256_of, storage_from_config
from tests.support.s3 import s3_bucket, s3_server  # noqa: F401

BACKENDS = ["local", "s3"]


@pytest.fixture(params=BACKENDS)
def storage(request, tmp_path):
    if request.param == "local":
        return LocalStorage(tmp_path / "blobs", "test-secret")
    endpoint = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    return S3Storage(bucket, "pfx", endpoint_url=endpoint, region="us-east-1", path_style=True)


def test_put_then_head_read_and_delete(storage):
    assert storage.put("a/b/photo-1", b"hello world") == 11
    assert storage.head("a/b/photo-1") == 11
    assert storage.exists("a/b/photo-1")
    with storage.open("a/b/photo-1", length=5) as fh:
        assert fh.read() == b"hello"
    assert b"".join(storage.iter_chunks("a/b/photo-1", 4)) == b"hello world"
    storage.delete("a/b/photo-1")
    assert storage.head("a/b/photo-1") is None
    storage.delete("a/b/photo-1")  # deleting twice is fine


def test_put_streams_a_file_object_and_hash_is_computed_in_chunks(storage):
    data = os.urandom(3 * 1024 * 1024 + 17)
    storage.put("big", io.BytesIO(data))
    assert sha256_of(storage, "big") == (hashlib.sha256(data).hexdigest(), len(data))


def test_copy_duplicates_an_object(storage):
    storage.put("src", b"abc")
    storage.copy("src", "dst/x")
    assert b"".join(storage.iter_chunks("dst/x")) == b"abc"


def test_missing_object_reads_raise_file_not_found(storage):
    with pytest.raises(FileNotFoundError):
        list(storage.iter_chunks("nope"))


@pytest.mark.parametrize("key", ["../escape", "a/../../etc/passwd", "/abs", "a//b", "A/Upper", "a/./b", ""])
def test_keys_that_could_escape_are_refused(storage, key):
    with pytest.raises(InvalidKey):
        storage.put(key, b"x")


def test_local_writes_leave_no_temporary_file_when_the_stream_breaks(tmp_path):
    storage = LocalStorage(tmp_path / "blobs", "test-secret")

    class Broken(io.RawIOBase):
        def readinto(self, b):
            raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        storage.put("uploads/x", Broken())
    assert storage.head("uploads/x") is None
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []


def test_multipart_parts_are_listed_found_again_and_joined(storage, request):
    part = 5 * 1024 * 1024  # S3's minimum for every part but the last
    data = os.urandom(part + 1000)
    upload_id = storage.create_multipart("uploads/mp", content_type="image/png")
    assert storage.find_multipart("uploads/mp") == upload_id
    _put_part(storage, upload_id, 2, data[part:])
    _put_part(storage, upload_id, 1, data[:part])
    parts = storage.list_parts("uploads/mp", upload_id)
    assert [(p.number, p.size_bytes) for p in parts] == [(1, part), (2, 1000)]
    storage.complete_multipart("uploads/mp", upload_id, parts)
    assert sha256_of(storage, "uploads/mp") == (hashlib.sha256(data).hexdigest(), len(data))
    assert storage.find_multipart("uploads/mp") is None


def test_aborted_multipart_upload_is_gone(storage):
    upload_id = storage.create_multipart("uploads/ab")
    _put_part(storage, upload_id, 1, b"x" * 10)
    storage.abort_multipart("uploads/ab", upload_id)
    assert storage.find_multipart("uploads/ab") is None
    assert storage.head("uploads/ab") is None
    storage.abort_multipart("uploads/ab", upload_id)  # twice is fine


def test_ping_answers_true_when_usable(storage):
    assert storage.ping() is True


def test_s3_presigned_put_and_get_work_over_http(s3_server, s3_bucket):  # noqa: F811
    storage = S3Storage(s3_bucket, "", endpoint_url=s3_server, path_style=True)
    url = storage.presign_put("uploads/p", expires_in=60)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    assert requests.put(url, data=b"bytes from a phone", timeout=10).status_code == 200
    got = requests.get(storage.presign_get("uploads/p", expires_in=60, content_type="image/png"), timeout=10)
    assert got.content == b"bytes from a phone"
    assert got.headers["Content-Type"] == "image/png"


def test_s3_ping_fails_for_a_missing_bucket(s3_server):  # noqa: F811
    storage = S3Storage("no-such-bucket-here", endpoint_url=s3_server, path_style=True)
    with pytest.raises(ClientError, match="404|NoSuchBucket|Not Found"):
        storage.ping()


def test_storage_url_picks_the_backend(tmp_path):
    local = storage_from_config({"STORAGE_URL": f"file://{tmp_path}/x", "SECRET_KEY": "k"})
    assert isinstance(local, LocalStorage) and local.root == (tmp_path / "x").resolve()
    s3 = storage_from_config({"STORAGE_URL": "s3://bucket/some/prefix", "SECRET_KEY": "k",
                              "S3_ENDPOINT_URL": "http://127.0.0.1:9", "S3_REGION": "eu-west-1"})
    assert isinstance(s3, S3Storage) and (s3.bucket, s3.prefix) == ("bucket", "some/prefix")
    with pytest.raises(ValueError):
        storage_from_config({"STORAGE_URL": "ftp://x", "SECRET_KEY": "k"})


def _put_part(storage, upload_id, n, data):
    """Send one part the way a phone does: to the presigned URL (local: straight to the backend)."""
    if isinstance(storage, LocalStorage):
        storage.put_part("uploads/" + _key_of(storage, upload_id), upload_id, n, io.BytesIO(data))
        return
    url = storage.presign_part(_s3_key(storage, upload_id), upload_id, n, expires_in=60)
    r = requests.put(url, data=data, timeout=30)
    assert r.status_code == 200, r.text


def _key_of(storage, upload_id):
    return (storage.root / ".multipart" / upload_id / "key").read_text().split("/", 1)[1]


def _s3_key(storage, upload_id):
    resp = storage.client.list_multipart_uploads(Bucket=storage.bucket)
    full = next(u["Key"] for u in resp["Uploads"] if u["UploadId"] == upload_id)
    return full[len(storage.prefix) + 1:] if storage.prefix else full
