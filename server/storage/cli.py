"""Storage operator commands: ``flask --app server purge-blobs``, ``storage-setup``."""
from __future__ import annotations

import contextlib
from datetime import timedelta

import click


@click.command("purge-blobs")
@click.option("--dry-run", is_flag=True, help="list what would be deleted, delete nothing")
@click.option("--older-than-hours", type=click.IntRange(min=1), default=None,
              help="grace period: never delete anything younger (default: STORAGE_GC_GRACE_HOURS, 48)")
def purge_blobs_cmd(dry_run, older_than_hours):
    """Delete photo bytes and overlays no photo row refers to, and abandoned uploads (run daily)."""
    from flask import current_app

    from .gc import KINDS, LIST_PAGE, purge_blobs

    hours = current_app.config["STORAGE_GC_GRACE_HOURS"] if older_than_hours is None else older_than_hours
    if hours < 1:
        raise click.ClickException(f"STORAGE_GC_GRACE_HOURS must be at least 1, not {hours}")
    shown = 0

    def on_delete(kind: str, key: str, size: int) -> None:
        if dry_run:
            click.echo(f"would delete {kind:<9} {key} ({_human_bytes(size)})")

    def progress(report) -> None:  # a line per LIST_PAGE objects: quiet on small runs, alive on big ones
        nonlocal shown
        if report.total_checked - shown >= LIST_PAGE:
            shown = report.total_checked
            click.echo(f"... checked {report.total_checked}, "
                       f"{'would delete' if dry_run else 'deleted'} {report.total_deleted}", err=True)

    with _storage_failures("purge-blobs stopped (running it again is safe)"):
        from .backends import get_storage

        from .restore import restore_keep_before

        keep_before = restore_keep_before()
        if keep_before is not None:
            click.echo(f"the database was restored at {keep_before:%Y-%m-%d %H:%M} UTC: everything stored before then "
                       "is kept (STORAGE_RESTORE_GRACE_HOURS)", err=True)
        report = purge_blobs(get_storage(), grace=timedelta(hours=hours), dry_run=dry_run,
                             on_delete=on_delete, progress=progress, keep_before=keep_before)
    kinds = ", ".join(f"{kind} {report.deleted[kind]}" for kind in KINDS if report.deleted[kind])
    objects = report.total_checked - report.checked["multipart"]
    click.echo(f"{'dry run: ' if dry_run else ''}checked {objects} object(s) and "
               f"{report.checked['multipart']} unfinished multipart upload(s); "
               f"{'would delete' if dry_run else 'deleted'} {report.total_deleted}"
               f"{f' ({kinds})' if kinds else ''}, "
               f"{'would free' if dry_run else 'freed'} {_human_bytes(report.bytes_freed)}; "
               f"kept {report.kept_referenced} still referenced, {report.kept_recent} younger than {hours} h"
               + (f"; kept {report.kept_restore} stored before the restore" if report.kept_restore else "")
               + (f"; left {report.skipped} unrecognised key(s) alone" if report.skipped else ""))


@click.command("storage-setup")
@click.option("--origin", "origins", multiple=True, metavar="URL",
              help="the PWA's origin allowed to PUT/GET photos, e.g. https://app.example.com (repeatable)")
def storage_setup_cmd(origins):
    """Set the S3 bucket's CORS rule and abandoned-upload lifecycle rule (idempotent)."""
    from flask import current_app

    from .gc import check_origins

    with _storage_failures("storage-setup failed"):
        from .backends import get_storage

        storage = get_storage()
    if storage.kind != "s3":
        click.echo(f"The {storage.kind} storage backend needs no setup: phones upload and download "
                   "through this server.")
        return
    if not origins:
        raise click.UsageError("give the PWA's origin: --origin https://app.example.com (repeatable)")
    try:
        origins = check_origins(origins)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--origin") from None
    days = current_app.config["STORAGE_ABANDONED_UPLOAD_DAYS"]
    if days < 1:
        raise click.ClickException(f"STORAGE_ABANDONED_UPLOAD_DAYS must be at least 1, not {days}")
    with _storage_failures(f"storage-setup failed on bucket {storage.bucket!r}"):
        cors = storage.put_cors(origins)
        rule = storage.put_upload_lifecycle(days)
    click.echo(f"bucket {storage.bucket}: CORS rule {cors['ID']!r} allows {', '.join(cors['AllowedMethods'])} "
               f"from {', '.join(origins)} and exposes ETag")
    click.echo(f"bucket {storage.bucket}: lifecycle rule {rule['ID']!r} aborts unfinished multipart uploads and "
               f"expires staging objects under {rule['Filter']['Prefix']} after {days} day(s)")


@contextlib.contextmanager
def _storage_failures(what: str):
    """Turn an unreachable or refusing storage backend into one clear line (exit 1), not a stack trace."""
    from botocore.exceptions import BotoCoreError, ClientError

    from .backends import StorageError

    try:
        yield
    except (StorageError, OSError, ValueError, BotoCoreError, ClientError) as exc:
        if isinstance(exc, ClientError):
            err = exc.response.get("Error", {})
            detail = f"{err.get('Code', 'error')}: {err.get('Message', '')}".rstrip(": ")
            if err.get("Code") == "NoSuchBucket":
                detail += " (create the bucket first; Lineside never creates it)"
        else:
            detail = f"{type(exc).__name__}: {exc}"
        raise click.ClickException(f"{what}: {detail}") from None


def _human_bytes(n: float) -> str:
    if n < 1024:
        return f"{int(n)} bytes"
    for unit in ("KB", "MB", "GB"):  # noqa: B007 - the unit reached is printed below
        n /= 1024
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable: the loop returns at GB")


COMMANDS = [purge_blobs_cmd, storage_setup_cmd]
