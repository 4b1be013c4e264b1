"""Blob storage: one interface, two backends (a local folder and any S3 API).

The app talks to :class:`Storage` only. ``STORAGE_URL`` picks the backend:

* ``file:///path/to/folder`` (the embedded default, a folder under ``instance/``):
  :class:`LocalStorage`. Presigned URLs point back at this server
  (``/api/v1/blobs/storage/<token>``, see :mod:`server.storage.routes`) with a
  short-lived token signed with ``SECRET_KEY``, so phones upload and download the
  same way as with S3.
* ``s3://bucket/prefix``: :class:`S3Storage` through boto3 (``S3_ENDPOINT_URL``,
  ``S3_REGION``, ``S3_PATH_STYLE``; credentials from boto3's usual sources). The app
  never creates the bucket and never makes it public: downloads are presigned GETs.

Keys are ``/``-separated relative names made of ``[a-z0-9._-]`` segments; the local
backend refuses anything else, so a key can never leave its folder.

Listing (``list_objects``, ``list_keys``, ``list_multipart``) exists for housekeeping
(:mod:`server.storage.gc`); the request paths never list.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, BinaryIO, Iterator, Protocol, runtime_checkable
from urllib.parse import urlsplit

from flask import Flask, current_app, has_request_context, url_for
from itsdangerous import BadSignature, URLSafeSerializer

CHUNK_BYTES = 1024 * 1024
_KEY_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)*$")
_TOKEN_SALT = "lineside.storage.local"


class StorageError(Exception):
    """The storage backend failed or refused a request."""


class InvalidKey(StorageError, ValueError):
    """A key that is not a plain relative name (path traversal, odd characters)."""


class InvalidToken(StorageError):
    """A local upload/download token that is forged, expired or for another operation."""


class SizeMismatch(StorageError):
    """An upload whose length is not the length it was signed for (cut off, or too long): nothing stored."""


@dataclass(frozen=True)
class Part:
    """One uploaded part of a multipart upload."""

    number: int
    size_bytes: int
    etag: str
    last_modified: datetime | None = field(default=None, compare=False)


@dataclass(frozen=True)
class StoredObject:
    """One listed object: its key, size and last-modified time (UTC)."""

    key: str
    size_bytes: int
    last_modified: datetime


@dataclass(frozen=True)
class MultipartUpload:
    """One unfinished multipart upload: its key, id and when it was started (UTC)."""

    key: str
    upload_id: str
    initiated: datetime


STORAGE_RETRY_AFTER_SECONDS = 30
"""What a 503 for unreachable storage tells phones to wait before trying again."""


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` says the storage server is unreachable or failing (not a missing object or bad input).

    Connection and timeout errors, S3 5xx answers (``InternalError``, ``ServiceUnavailable``,
    ``SlowDown``), and a local folder that cannot be written.
    """
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, (BotoConnectionError, HTTPClientError, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or exc.response.get("Error", {}).get("Code") in {"SlowDown", "ServiceUnavailable",
                                                                                "InternalError", "RequestTimeout"}
    return isinstance(exc, PermissionError)


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative storage key. Raises ``InvalidKey`` otherwise."""
    if not isinstance(key, str) or len(key) > 512 or not _KEY_RE.match(key) or ".." in key.split("/"):
        raise InvalidKey(f"invalid storage key: {key!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is ``""`` or the start of a safe key (``photos/``, ``uploads/ab``).

    Raises ``InvalidKey`` otherwise.
    """
    if prefix:
        validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def _utc_from_timestamp(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _now() -> float:
    """The clock used for local token expiry (tests replace it)."""
    return time.time()


@runtime_checkable
class Storage(Protocol):
    """What the app needs from blob storage. Keys are validated relative names."""

    kind: str

    def put(self, key: str, data: bytes | IO[bytes], *, content_type: str | None = None) -> int:
        """Store ``data`` under ``key`` atomically; return the size in bytes."""

    def open(self, key: str, *, length: int | None = None) -> BinaryIO:
        """A readable stream of the object (its first ``length`` bytes when given). Raises ``FileNotFoundError``."""

    def iter_chunks(self, key: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The object's bytes in chunks, never all in memory. Raises ``FileNotFoundError``."""

    def head(self, key: str) -> int | None:
        """The object's size in bytes, or ``None`` when there is no such object."""

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    def delete(self, key: str) -> None:
        """Remove the object; no error when it is already gone."""

    def copy(self, src: str, dst: str, *, content_type: str | None = None) -> None:
        """Copy an object inside the storage (server-side for S3), atomically: ``dst`` holds one version of ``src``.

        Raises ``FileNotFoundError`` when ``src`` does not exist.
        """

    def presign_put(self, key: str, *, expires_in: int, content_type: str | None = None,
                    content_length: int | None = None) -> str:
        """A URL that accepts a ``PUT`` of the object's bytes until it expires.

        ``content_type`` and ``content_length``, when given, are part of the signature: a ``PUT``
        with another type or length is refused.
        """

    def presign_get(self, key: str, *, expires_in: int, content_type: str | None = None,
                    disposition: str = "attachment") -> str:
        """A URL that answers ``GET`` with the object's bytes until it expires.

        The answer's ``Content-Type`` is ``content_type`` (``application/octet-stream`` when not
        given) and its ``Content-Disposition`` is ``disposition``, whatever the object was stored with.
        """

    def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        """Start a multipart upload to ``key``; return its upload id."""

    def find_multipart(self, key: str) -> str | None:
        """The id of an unfinished multipart upload to ``key``, or ``None`` (to resume after a restart)."""

    def presign_part(self, key: str, upload_id: str, part_number: int, *, expires_in: int,
                     content_length: int | None = None) -> str:
        """A URL that accepts one ``PUT`` of part ``part_number`` (1-based), of ``content_length`` bytes when given."""

    def list_parts(self, key: str, upload_id: str) -> list[Part]:
        """Parts uploaded so far, by part number. Raises ``FileNotFoundError`` for an unknown upload."""

    def complete_multipart(self, key: str, upload_id: str, parts: list[Part]) -> None:
        """Join ``parts`` (in order) into the object ``key`` and end the upload."""

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop the upload and its parts; no error when it is already gone."""

    def ping(self) -> bool:
        """Whether the storage is reachable and usable."""

    def list_objects(self, prefix: str = "") -> Iterator[StoredObject]:
        """Every object whose key starts with ``prefix``, with size and last-modified. Raises ``InvalidKey``."""

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        """The keys of :meth:`list_objects`."""

    def list_multipart(self, prefix: str = "") -> Iterator[MultipartUpload]:
        """Unfinished multipart uploads to keys starting with ``prefix``, with their start time."""


# -- local folder ------------------------------------------------------------------------------

class LocalStorage:
    """Objects as files under ``root``; writes go to a temporary file and are renamed into place.

    Multipart uploads live in ``root/.multipart/<upload_id>/`` (``key`` file plus one file per part).
    """

    kind = "local"

    def __init__(self, root: str | os.PathLike[str], secret_key: str, public_base_url: str = "") -> None:
        self.root = Path(root).resolve()
        self._tokens = URLSafeSerializer(secret_key, salt=_TOKEN_SALT)
        self._public_base_url = public_base_url.rstrip("/")

    # paths
    def _path(self, key: str) -> Path:
        validate_key(key)
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise InvalidKey(f"invalid storage key: {key!r}")
        return path

    def _mp_dir(self, upload_id: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", upload_id or ""):
            raise FileNotFoundError(upload_id)
        return self.root / ".multipart" / upload_id

    def _write_atomic(self, path: Path, data: bytes | IO[bytes], expected_size: int | None = None) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, (bytes, bytearray, memoryview)):
                    out.write(data)
                    size = len(data)
                else:
                    while chunk := data.read(CHUNK_BYTES):
                        out.write(chunk)
                        size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            if expected_size is not None and size != expected_size:
                raise SizeMismatch(f"received {size} bytes, expected {expected_size}")
            os.replace(tmp, path)
        except BaseException:
            with _suppress():
                os.unlink(tmp)
            raise
        return size

    # objects
    def put(self, key: str, data: bytes | IO[bytes], *, content_type: str | None = None,
            expected_size: int | None = None) -> int:
        """Store ``data``; with ``expected_size``, a body of any other length raises ``SizeMismatch`` and stores nothing."""
        return self._write_atomic(self._path(key), data, expected_size)

    def open(self, key: str, *, length: int | None = None) -> BinaryIO:
        fh = open(self._path(key), "rb")  # noqa: SIM115 - the caller closes it
        if length is None:
            return fh
        try:
            return _BytesReader(fh.read(length))
        finally:
            fh.close()

    def iter_chunks(self, key: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        with open(self._path(key), "rb") as fh:
            while chunk := fh.read(chunk_bytes):
                yield chunk

    def head(self, key: str) -> int | None:
        path = self._path(key)
        try:
            return path.stat().st_size if path.is_file() else None
        except FileNotFoundError:
            return None

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def delete(self, key: str) -> None:
        with _suppress():
            self._path(key).unlink()

    def copy(self, src: str, dst: str, *, content_type: str | None = None) -> None:
        # One open file is one version: a later put() renames a new file into place, never rewrites this one.
        with open(self._path(src), "rb") as fh:
            self._write_atomic(self._path(dst), fh)

    # signed URLs back to this server
    def _url(self, claims: dict, expires_in: int) -> str:
        token = self._tokens.dumps({**claims, "exp": int(_now()) + int(expires_in)})
        path = f"/api/v1/blobs/storage/{token}"
        if self._public_base_url:
            return self._public_base_url + path
        if has_request_context():
            return url_for("blobs.StorageObject", token=token, _external=True)
        return path

    def read_token(self, token: str, op: str) -> dict:
        """The claims of a token made by this backend for ``op``. Raises ``InvalidToken``."""
        try:
            claims = self._tokens.loads(token)
        except BadSignature:
            raise InvalidToken("This link is not valid.") from None
        if not isinstance(claims, dict) or claims.get("op") != op:
            raise InvalidToken("This link is not valid for this request.")
        if int(claims.get("exp", 0)) < _now():
            raise InvalidToken("This link has expired; ask for a new one.")
        validate_key(claims["key"])
        return claims

    def presign_put(self, key: str, *, expires_in: int, content_type: str | None = None,
                    content_length: int | None = None) -> str:
        return self._url({"op": "put", "key": validate_key(key), "ct": content_type, "n": content_length},
                         expires_in)

    def presign_get(self, key: str, *, expires_in: int, content_type: str | None = None,
                    disposition: str = "attachment") -> str:
        return self._url({"op": "get", "key": validate_key(key), "ct": content_type or "application/octet-stream",
                          "cd": disposition}, expires_in)

    # multipart
    def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        validate_key(key)
        upload_id = secrets.token_urlsafe(24)
        folder = self._mp_dir(upload_id)
        folder.mkdir(parents=True)
        (folder / "key").write_text(key)
        return upload_id

    def find_multipart(self, key: str) -> str | None:
        validate_key(key)
        base = self.root / ".multipart"
        if not base.is_dir():
            return None
        found = [(p.stat().st_mtime, p.parent.name) for p in base.glob("*/key") if _read(p) == key]
        return max(found)[1] if found else None

    def _mp_key_check(self, key: str, upload_id: str) -> Path:
        folder = self._mp_dir(upload_id)
        if _read(folder / "key") != validate_key(key):
            raise FileNotFoundError(upload_id)
        return folder

    def presign_part(self, key: str, upload_id: str, part_number: int, *, expires_in: int,
                     content_length: int | None = None) -> str:
        self._mp_key_check(key, upload_id)
        return self._url({"op": "part", "key": key, "upload_id": upload_id, "part": int(part_number),
                          "n": content_length}, expires_in)

    def put_part(self, key: str, upload_id: str, part_number: int, data: IO[bytes],
                 expected_size: int | None = None) -> int:
        """Store one part (atomically). Raises ``FileNotFoundError`` for an unknown upload, ``SizeMismatch``."""
        folder = self._mp_key_check(key, upload_id)
        if not 1 <= part_number <= 10000:
            raise StorageError("part numbers run from 1 to 10000")
        return self._write_atomic(folder / f"part-{part_number:05d}", data, expected_size)

    def list_parts(self, key: str, upload_id: str) -> list[Part]:
        folder = self._mp_key_check(key, upload_id)
        parts = []
        for p in sorted(folder.glob("part-*")):
            st = p.stat()
            parts.append(Part(int(p.name[5:]), st.st_size, f"{st.st_size}-{st.st_mtime_ns}",
                              _utc_from_timestamp(st.st_mtime)))
        return parts

    def complete_multipart(self, key: str, upload_id: str, parts: list[Part]) -> None:
        folder = self._mp_key_check(key, upload_id)
        with _Concat([folder / f"part-{p.number:05d}" for p in parts]) as stream:
            self._write_atomic(self._path(key), stream)
        shutil.rmtree(folder, ignore_errors=True)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            folder = self._mp_key_check(key, upload_id)
        except FileNotFoundError:
            return
        shutil.rmtree(folder, ignore_errors=True)

    def ping(self) -> bool:
        self.root.mkdir(parents=True, exist_ok=True)
        return os.access(self.root, os.W_OK)

    # listing (housekeeping); names starting with "." (temporary files, .multipart) are never keys
    def list_objects(self, prefix: str = "") -> Iterator[StoredObject]:
        validate_prefix(prefix)
        return self._walk(prefix)

    def _walk(self, prefix: str) -> Iterator[StoredObject]:
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if name.startswith(".") or not key.startswith(prefix):
                    continue
                try:
                    st = path.stat()
                except FileNotFoundError:  # deleted while listing
                    continue
                yield StoredObject(key, st.st_size, _utc_from_timestamp(st.st_mtime))

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        return (o.key for o in self.list_objects(prefix))

    def list_multipart(self, prefix: str = "") -> Iterator[MultipartUpload]:
        validate_prefix(prefix)
        found = []
        for keyfile in sorted((self.root / ".multipart").glob("*/key")):
            key = _read(keyfile)
            try:
                started = keyfile.stat().st_mtime
            except FileNotFoundError:  # finished or aborted while listing
                continue
            if key is not None and key.startswith(prefix):
                found.append(MultipartUpload(key, keyfile.parent.name, _utc_from_timestamp(started)))
        return iter(found)


class _BytesReader:
    """A minimal read-only stream over bytes (for ``open(..., length=n)``)."""

    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n is None or n < 0 else self._pos + n
        out = self._data[self._pos:end]
        self._pos += len(out)
        return out

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Concat:
    """Read several files one after the other, as one stream."""

    def __init__(self, paths: list[Path]) -> None:
        self._paths = list(paths)
        self._fh: IO[bytes] | None = None

    def read(self, n: int = -1) -> bytes:
        while True:
            if self._fh is None:
                if not self._paths:
                    return b""
                self._fh = open(self._paths.pop(0), "rb")  # noqa: SIM115
            chunk = self._fh.read(n)
            if chunk:
                return chunk
            self._fh.close()
            self._fh = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if self._fh is not None:
            self._fh.close()


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        return exc_type is not None and issubclass(exc_type, (FileNotFoundError, NotADirectoryError))


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, NotADirectoryError):
        return None


# -- S3 ----------------------------------------------------------------------------------------

CORS_RULE_ID = "lineside-pwa"
LIFECYCLE_RULE_ID = "lineside-abandoned-uploads"


class S3Storage:
    """Objects in an S3 bucket under ``prefix``, through boto3 (AWS, MinIO, Ceph RGW, R2, moto)."""

    kind = "s3"

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str = "", region: str = "us-east-1",
                 path_style: bool = False) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        # A storage server that does not answer fails in seconds (503 to phones), not after minutes.
        cfg = Config(signature_version="s3v4", retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                     s3={"addressing_style": "path" if path_style else "auto"})
        self.client = boto3.session.Session().client("s3", endpoint_url=endpoint_url or None,
                                                     region_name=region or None, config=cfg)

    def _k(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    @staticmethod
    def _missing(exc: Exception) -> bool:
        from botocore.exceptions import ClientError

        if not isinstance(exc, ClientError):
            return False
        err = exc.response.get("Error", {})
        return (err.get("Code") in {"404", "NoSuchKey", "NotFound", "NoSuchUpload"}
                or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404)

    def put(self, key: str, data: bytes | IO[bytes], *, content_type: str | None = None) -> int:
        extra = {"ContentType": content_type} if content_type else {}
        if isinstance(data, (bytes, bytearray, memoryview)):
            self.client.put_object(Bucket=self.bucket, Key=self._k(key), Body=bytes(data), **extra)
        else:
            self.client.upload_fileobj(data, self.bucket, self._k(key), ExtraArgs=extra or None)
        return self.head(key) or 0

    def open(self, key: str, *, length: int | None = None) -> BinaryIO:
        kwargs = {"Range": f"bytes=0-{length - 1}"} if length else {}
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._k(key), **kwargs)["Body"]
        except Exception as exc:
            if self._missing(exc):
                raise FileNotFoundError(key) from None
            raise

    def iter_chunks(self, key: str, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        body = self.open(key)
        try:
            yield from body.iter_chunks(chunk_bytes)
        finally:
            body.close()

    def head(self, key: str) -> int | None:
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self._k(key))["ContentLength"])
        except Exception as exc:
            if self._missing(exc):
                return None
            raise

    def exists(self, key: str) -> bool:
        return self.head(key) is not None

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._k(key))

    def copy(self, src: str, dst: str, *, content_type: str | None = None) -> None:
        # One CopyObject call (fine up to 5 GB, far above PHOTO_MAX_BYTES) copies one version of src.
        extra = {"ContentType": content_type, "MetadataDirective": "REPLACE"} if content_type else {}
        try:
            self.client.copy_object(Bucket=self.bucket, Key=self._k(dst),
                                    CopySource={"Bucket": self.bucket, "Key": self._k(src)}, **extra)
        except Exception as exc:
            if self._missing(exc):
                raise FileNotFoundError(src) from None
            raise

    def presign_put(self, key: str, *, expires_in: int, content_type: str | None = None,
                    content_length: int | None = None) -> str:
        # Content-Type and Content-Length become signed headers: S3 refuses a PUT with another type or length.
        params: dict = {"Bucket": self.bucket, "Key": self._k(key)}
        if content_type:
            params["ContentType"] = content_type
        if content_length is not None:
            params["ContentLength"] = int(content_length)
        return self.client.generate_presigned_url("put_object", Params=params, ExpiresIn=int(expires_in),
                                                  HttpMethod="PUT")

    def presign_get(self, key: str, *, expires_in: int, content_type: str | None = None,
                    disposition: str = "attachment") -> str:
        params = {"Bucket": self.bucket, "Key": self._k(key),
                  "ResponseContentType": content_type or "application/octet-stream",
                  "ResponseContentDisposition": disposition}
        return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=int(expires_in))

    def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        extra = {"ContentType": content_type} if content_type else {}
        return self.client.create_multipart_upload(Bucket=self.bucket, Key=self._k(key), **extra)["UploadId"]

    def find_multipart(self, key: str) -> str | None:
        full = self._k(key)
        resp = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=full)
        uploads = [u for u in resp.get("Uploads", []) if u["Key"] == full]
        if not uploads:
            return None
        return max(uploads, key=lambda u: u["Initiated"])["UploadId"]

    def presign_part(self, key: str, upload_id: str, part_number: int, *, expires_in: int,
                     content_length: int | None = None) -> str:
        params: dict = {"Bucket": self.bucket, "Key": self._k(key), "UploadId": upload_id,
                        "PartNumber": int(part_number)}
        if content_length is not None:
            params["ContentLength"] = int(content_length)
        return self.client.generate_presigned_url("upload_part", Params=params, ExpiresIn=int(expires_in),
                                                  HttpMethod="PUT")

    def list_parts(self, key: str, upload_id: str) -> list[Part]:
        parts: list[Part] = []
        marker = 0
        while True:
            try:
                resp = self.client.list_parts(Bucket=self.bucket, Key=self._k(key), UploadId=upload_id,
                                              PartNumberMarker=marker)
            except Exception as exc:
                if self._missing(exc):
                    raise FileNotFoundError(upload_id) from None
                raise
            parts += [Part(p["PartNumber"], int(p["Size"]), p["ETag"], p.get("LastModified"))
                      for p in resp.get("Parts", [])]
            if not resp.get("IsTruncated"):
                return parts
            marker = int(resp["NextPartNumberMarker"])

    def complete_multipart(self, key: str, upload_id: str, parts: list[Part]) -> None:
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self._k(key), UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": p.number, "ETag": p.etag} for p in parts]})

    def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._k(key), UploadId=upload_id)
        except Exception as exc:
            if not self._missing(exc):
                raise

    def ping(self) -> bool:
        self.client.head_bucket(Bucket=self.bucket)
        return True

    # listing (housekeeping), through boto3's paginators
    def _full_prefix(self, prefix: str) -> str:
        validate_prefix(prefix)
        return f"{self.prefix}/{prefix}" if self.prefix else prefix

    def _relative(self, full_key: str) -> str:
        return full_key[len(self.prefix) + 1:] if self.prefix else full_key

    def list_objects(self, prefix: str = "") -> Iterator[StoredObject]:
        full = self._full_prefix(prefix)
        return (StoredObject(self._relative(o["Key"]), int(o["Size"]), o["LastModified"])
                for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full)
                for o in page.get("Contents", []))

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        return (o.key for o in self.list_objects(prefix))

    def list_multipart(self, prefix: str = "") -> Iterator[MultipartUpload]:
        full = self._full_prefix(prefix)
        pages = self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=full)
        return (MultipartUpload(self._relative(u["Key"]), u["UploadId"], u["Initiated"])
                for page in pages for u in page.get("Uploads", []))

    # bucket set-up (flask --app server storage-setup); each call replaces only Lineside's own rule
    def put_cors(self, origins: list[str], *, max_age_seconds: int = 3600) -> dict:
        """Allow ``GET``/``HEAD``/``PUT`` from ``origins`` (exposing ``ETag``); other CORS rules stay. Answers the rule."""
        rule = {"ID": CORS_RULE_ID, "AllowedOrigins": list(origins), "AllowedMethods": ["GET", "HEAD", "PUT"],
                "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": int(max_age_seconds)}
        try:
            rules = self.client.get_bucket_cors(Bucket=self.bucket).get("CORSRules", [])
        except Exception as exc:
            if not self._error_code(exc, "NoSuchCORSConfiguration"):
                raise
            rules = []
        rules = [r for r in rules if r.get("ID") != CORS_RULE_ID] + [rule]
        self.client.put_bucket_cors(Bucket=self.bucket, CORSConfiguration={"CORSRules": rules})
        return rule

    def put_upload_lifecycle(self, days: int) -> dict:
        """Abort multipart uploads and expire staging objects under ``uploads/`` after ``days``; other rules stay.

        Answers the rule.
        """
        rule = {"ID": LIFECYCLE_RULE_ID, "Status": "Enabled", "Filter": {"Prefix": self._full_prefix("uploads/")},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": int(days)},
                "Expiration": {"Days": int(days)}}
        try:
            rules = self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket).get("Rules", [])
        except Exception as exc:
            if not self._error_code(exc, "NoSuchLifecycleConfiguration"):
                raise
            rules = []
        rules = [r for r in rules if r.get("ID") != LIFECYCLE_RULE_ID] + [rule]
        self.client.put_bucket_lifecycle_configuration(Bucket=self.bucket, LifecycleConfiguration={"Rules": rules})
        return rule

    @staticmethod
    def _error_code(exc: Exception, code: str) -> bool:
        from botocore.exceptions import ClientError

        return isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == code


# -- factory -----------------------------------------------------------------------------------

def storage_from_config(config: dict) -> Storage:
    """Build the backend named by ``STORAGE_URL``. Raises ``ValueError`` for an unknown scheme."""
    url = config["STORAGE_URL"]
    parts = urlsplit(url)
    if parts.scheme == "file":
        return LocalStorage(parts.path if not parts.netloc else f"/{parts.netloc}{parts.path}",
                            config["SECRET_KEY"], config.get("PUBLIC_BASE_URL", ""))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError("STORAGE_URL s3://bucket/prefix needs a bucket")
        return S3Storage(parts.netloc, parts.path, endpoint_url=config.get("S3_ENDPOINT_URL", ""),
                         region=config.get("S3_REGION", ""), path_style=bool(config.get("S3_PATH_STYLE")))
    raise ValueError(f"STORAGE_URL must start with file:// or s3://, not {url!r}")


def get_storage(app: Flask | None = None) -> Storage:
    """The storage backend of ``app`` (default: the current app), made once and kept on ``app.extensions``."""
    app = app or current_app._get_current_object()
    storage = app.extensions.get("lineside.storage")
    if storage is None:
        storage = app.extensions["lineside.storage"] = storage_from_config(app.config)
    return storage


def sha256_of(storage: Storage, key: str) -> tuple[str, int]:
    """The hex sha256 and size of a stored object, read in chunks. Raises ``FileNotFoundError``."""
    digest, size = hashlib.sha256(), 0
    for chunk in storage.iter_chunks(key):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


__all__ = ["CHUNK_BYTES", "InvalidKey", "InvalidToken", "LocalStorage", "MultipartUpload", "Part", "S3Storage",
           "SizeMismatch", "Storage", "StorageError", "StoredObject", "get_storage", "sha256_of", "storage_from_config",
           "validate_key", "validate_prefix"]
