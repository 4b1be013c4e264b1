"""Sync operator commands: ``flask --app server purge-tombstones`` and ``restore``."""
from __future__ import annotations

import click


@click.command("purge-tombstones")
@click.option("--older-than-seconds", type=int, default=None,
              help="keep tombstones younger than this (default: SYNC_TOMBSTONE_RETENTION_SECONDS)")
def purge_tombstones_cmd(older_than_seconds):
    """Delete old tombstones; phones whose cursor predates them must resync (410)."""
    from flask.cli import with_appcontext  # noqa: F401  (app context comes from FlaskGroup)

    from .service import purge_tombstones

    deleted, through = purge_tombstones(older_than_seconds)
    click.echo(f"purged {deleted} tombstone(s); purged_through = {through}")


@click.command("restore")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def restore_cmd(yes):
    """Run once after restoring the database from a backup, before starting the web servers.

    Starts a new sync history (every phone's cursor answers 410 history_diverged, and phones
    offer again what they hold), brings photo rows in step with the bytes in storage, and
    keeps everything stored before now from purge-blobs for STORAGE_RESTORE_GRACE_HOURS.
    Safe to run again.
    """
    from flask import current_app

    from ..extensions import db
    from ..storage.backends import get_storage
    from ..storage.cli import _storage_failures
    from ..storage.restore import reconcile_photos, record_unreferenced
    from . import history
    from .models import SyncCounter

    if not yes:
        click.confirm("Restored the database from a backup and the web servers are still stopped?", abort=True)
    old = db.session.get(SyncCounter, 1)
    old_id = old.history_id
    db.session.rollback()
    new_id, fork, at = history.rotate(db.session)
    click.echo(f"1/3 sync history: {old_id} -> {new_id} at revision {fork}; every earlier cursor now answers "
               "410 history_diverged and phones offer their records again")
    storage = get_storage()
    with _storage_failures("restore stopped at the photos (running it again is safe)"):
        rec = reconcile_photos(storage, progress=lambda n: click.echo(f"    ... {n} photo rows checked", err=True))
        click.echo(f"2/3 photos: checked {rec.checked} row(s); {rec.marked_stored} found stored in storage, "
                   f"{rec.bytes_missing} without their bytes (back to declared: phones upload them again)")
        found, overlays = record_unreferenced(
            storage, progress=lambda n: click.echo(f"    ... {n} stored objects checked", err=True))
    hours = current_app.config["STORAGE_RESTORE_GRACE_HOURS"]
    click.echo(f"3/3 storage: {found} photo object(s) and {overlays} overlay(s) no row names (their rows were "
               f"lost); photos offered again adopt them, and purge-blobs keeps everything stored before "
               f"{at:%Y-%m-%d %H:%M} UTC for {hours} h")
    queued = 0
    if rec.to_analyse:
        from ..storage.uploads import enqueue_analysis

        for pid in rec.to_analyse:
            enqueue_analysis(pid)
            queued += 1
    click.echo(f"done: {queued} photo(s) queued for analysis; start the web servers and workers now")


COMMANDS = [purge_tombstones_cmd, restore_cmd]
