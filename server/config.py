"""All configuration, read from the environment in one place.

Keys carry their unit in their name (``TOKEN_TTL_SECONDS``, ``PHOTO_MAX_BYTES``).
Every key has an embedded default that runs Lineside on one machine with no
services: SQLite under the instance folder, photos in a local folder, background
work in-process.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    # database; "" means an SQLite file in the instance folder
    "DATABASE_URL": "",
    # storage: "" means a folder in the instance folder; "s3://bucket/prefix" for S3
    "STORAGE_URL": "",
    "S3_ENDPOINT_URL": "",
    "S3_REGION": "us-east-1",
    "S3_PATH_STYLE": False,
    # the origin(s) phones reach photo storage at, for the PWA's Content-Security-Policy; "" = derived
    # from STORAGE_URL and S3_ENDPOINT_URL (space-separated list, e.g. a CDN in front of the bucket)
    "STORAGE_PUBLIC_ORIGIN": "",
    "STORAGE_PRESIGN_TTL_SECONDS": 900,
    "STORAGE_MULTIPART_THRESHOLD_BYTES": 16 * 1024 * 1024,
    "STORAGE_MULTIPART_PART_BYTES": 8 * 1024 * 1024,
    # housekeeping (flask --app server purge-blobs / storage-setup): staging objects, multipart uploads
    # and unreferenced objects younger than this are never deleted (an upload may still be in progress)
    "STORAGE_GC_GRACE_HOURS": 48,
    # after flask restore: purge-blobs keeps everything stored before the restore this long (phones
    # that were offline bring lost rows back), and offered photos adopt bytes found in storage
    "STORAGE_RESTORE_GRACE_HOURS": 30 * 24,
    # S3 lifecycle rule set by storage-setup: abort multipart uploads and expire uploads/ after this
    "STORAGE_ABANDONED_UPLOAD_DAYS": 7,
    # auth
    "SECRET_KEY": "",
    # GET /metrics answers only "Authorization: Bearer <METRICS_TOKEN>" (and 404 while it is empty)
    "METRICS_TOKEN": "",
    "TOKEN_TTL_SECONDS": 30 * 24 * 3600,
    # sign-in throttling (growing delays, no lock-out): failures counted over LOGIN_WINDOW_SECONDS; past the
    # free ones, each further failure doubles the wait after the latest (1 s, 2 s, 4 s ... LOGIN_MAX_DELAY_SECONDS)
    "LOGIN_FREE_FAILURES_PER_PAIR": 5,  # per (account, client address)
    "LOGIN_MAX_FAILURES_PER_ACCOUNT": 10,  # per account, from every address; its wait stays short:
    "LOGIN_ACCOUNT_MAX_DELAY_SECONDS": 30,
    "LOGIN_MAX_FAILURES_PER_ADDRESS": 50,  # per client address, over every account
    "LOGIN_MAX_DELAY_SECONDS": 15 * 60,
    "LOGIN_WINDOW_SECONDS": 15 * 60,
    # reverse proxies in front of the app that append to X-Forwarded-For (0: trust no forwarded header)
    "TRUSTED_PROXY_COUNT": 0,
    # uploads and request limits
    "PHOTO_MAX_BYTES": 25 * 1024 * 1024,
    "PHOTO_MAX_PIXELS": 50_000_000,
    "PHOTO_CONTENT_TYPES": "image/jpeg,image/png,image/webp",
    "MAX_CONTENT_LENGTH_BYTES": 30 * 1024 * 1024,
    # longer URLs (path and query) are refused with 414 problem+json (gunicorn's own limit is above it)
    "URL_MAX_CHARS": 4096,
    # JSON bodies nested deeper than this (arrays and objects) are refused with 422 before parsing
    "JSON_MAX_DEPTH": 64,
    # ... except a sync push, refused whole only past what the parser reads; a deeper value than its
    # field allows rejects that one mutation (server/fields.py MAX_JSON_DEPTH)
    "SYNC_PUSH_JSON_MAX_DEPTH": 1024,
    # sync
    "SYNC_PUSH_MAX_MUTATIONS": 500,
    "SYNC_PUSH_MAX_BYTES": 5 * 1024 * 1024,
    "SYNC_PAGE_LIMIT": 500,
    "SYNC_PAGE_MAX_LIMIT": 2000,
    "SYNC_TOMBSTONE_RETENTION_SECONDS": 90 * 24 * 3600,
    # background work; "" means eager, in-process
    "CELERY_BROKER_URL": "",
    "CELERY_RESULT_BACKEND": "",
    # Redis: a task taken by a worker that died unacknowledged goes back to the queue after this
    # (an analysis takes seconds; Redis' own default is one hour)
    "CELERY_VISIBILITY_TIMEOUT_SECONDS": 300,
    # the analysis sweep queues again photos stored this long ago and still not analysed ...
    "ANALYSIS_SWEEP_AFTER_SECONDS": 300,
    # ... every this many seconds under Celery beat (or run flask sweep-analyses from cron) ...
    "ANALYSIS_SWEEP_INTERVAL_SECONDS": 300,
    # ... but not those waiting longer than this (0: no limit): reanalyse --pending takes them
    "ANALYSIS_SWEEP_MAX_AGE_HOURS": 24,
    # tests only: sleep this long at the start of each analysis task (to kill a worker mid-task)
    "ANALYSIS_TEST_DELAY_SECONDS": 0.0,
    # /readyz answers 503 when the broker does not answer (default: reported, still 200)
    "HEALTH_REQUIRE_BROKER": False,
    # photo analysis: below this confidence (0..1) a photo is flagged for review
    "ANALYSIS_MIN_CONFIDENCE": 0.6,
    # ColorChecker edition the inspectors' charts belong to: post2014 | pre2014 | babelcolor2006.
    "COLOR_CHART_EDITION": "post2014",
    # drift
    "DRIFT_EWMA_LAMBDA": 0.2,
    "DRIFT_EWMA_L": 3.0,
    "DRIFT_BASELINE_POINTS": 30,  # photos per batch that set the centre and sigma
    "DRIFT_SIGMA_LAB": "",  # "" = estimate; else one value or "L,a,b" (CIELAB units)
    "DRIFT_SIGMA_MM": "",  # "" = estimate; else sigma of photo-measured sizes in mm
    "DRIFT_CHART_URL_TTL_SECONDS": 600,  # signed drift.svg links for <img>
    # webhooks: private, loopback and link-local targets are refused unless allowed (SSRF)
    "WEBHOOK_TIMEOUT_SECONDS": 5,
    "WEBHOOK_MAX_ATTEMPTS": 8,
    "WEBHOOK_ALLOW_PRIVATE": False,
    # email; "" means no email is sent
    "SMTP_HOST": "",
    "SMTP_PORT": 25,
    "SMTP_FROM": "alerts@lineside.invalid",
    "SMTP_USERNAME": "",
    "SMTP_PASSWORD": "",
    "SMTP_STARTTLS": False,
    "SMTP_TIMEOUT_SECONDS": 10,
    # web
    "PUBLIC_BASE_URL": "",
    "LOG_LEVEL": "INFO",
    # "text" for people, "json" for one JSON object per line (log shippers)
    "LOG_FORMAT": "text",
}


def _coerce(default: Any, raw: str) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def load_config(instance_path: str | os.PathLike[str], overrides: dict[str, Any] | None = None,
                environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Return the configuration: defaults, then ``LINESIDE_``-less environment keys, then overrides.

    Raises ``ValueError`` when an environment value cannot be parsed for its key's type.
    """
    env = os.environ if environ is None else environ
    cfg: dict[str, Any] = {}
    for key, default in DEFAULTS.items():
        if key in env and env[key] != "":
            try:
                cfg[key] = _coerce(default, env[key])
            except ValueError as exc:
                raise ValueError(f"environment variable {key}={env[key]!r} is not valid: {exc}") from None
        else:
            cfg[key] = default
    cfg.update(overrides or {})

    instance = Path(instance_path)
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    _owner_only(instance)
    if not cfg["DATABASE_URL"]:
        cfg["DATABASE_URL"] = f"sqlite:///{instance / 'lineside.sqlite3'}"
    if not cfg["STORAGE_URL"]:
        cfg["STORAGE_URL"] = f"file://{instance / 'photos'}"
    if not cfg["SECRET_KEY"]:
        cfg["SECRET_KEY"] = _instance_secret(instance)
        cfg["SECRET_KEY_GENERATED"] = True
    else:
        cfg.setdefault("SECRET_KEY_GENERATED", False)

    cfg["SQLALCHEMY_DATABASE_URI"] = _sqlalchemy_url(cfg["DATABASE_URL"])
    from .db_setup import ENGINE_OPTIONS

    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = dict(ENGINE_OPTIONS)
    cfg["MAX_CONTENT_LENGTH"] = cfg["MAX_CONTENT_LENGTH_BYTES"]
    cfg["CELERY_EAGER"] = not cfg["CELERY_BROKER_URL"]
    cfg.setdefault("TESTING", False)
    # flask-smorest / OpenAPI
    cfg["API_TITLE"] = "Lineside API"
    cfg["API_VERSION"] = "v1"
    cfg["OPENAPI_VERSION"] = "3.0.3"
    cfg["OPENAPI_URL_PREFIX"] = "/api"
    cfg["OPENAPI_JSON_PATH"] = "openapi.json"
    cfg["JSON_SORT_KEYS"] = False
    return cfg


def _owner_only(folder: Path) -> None:
    """The instance folder holds the database, the secret key and the photos: its owner's only (0700)."""
    try:
        if folder.stat().st_mode & 0o077:
            folder.chmod(0o700)
    except OSError:  # not ours to change (a read-only mount): leave it, the files inside are 0600
        pass


def _sqlalchemy_url(url: str) -> str:
    """Map ``postgres://`` and ``postgresql://`` to the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _instance_secret(instance: Path) -> str:
    """Generate the secret key once and keep it in the instance folder (mode 0600)."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
