"""Sync operator commands: ``flask --app server purge-tombstones``."""
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


COMMANDS = [purge_tombstones_cmd]
