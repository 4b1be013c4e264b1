"""Operator commands of the inspect package (registered by :mod:`server.cli` through ``COMMANDS``).

* ``flask --app server print-card --paper A4 --format pdf --dpi 300 --output card.pdf``
  writes the printable inspection card (print it at 100 %, never "fit to page").
* ``flask --app server reanalyse --photo <id>`` / ``--batch <id>`` / ``--pending`` analyses
  photos again, in this process, with a progress bar.
"""
from __future__ import annotations

import uuid
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

PAPERS = {"a4": "A4", "letter": "Letter"}


@click.command("print-card")
@click.option("--paper", type=click.Choice(["A4", "letter"], case_sensitive=False), default="A4", show_default=True,
              help="Paper size; the card is centred on a landscape page.")
@click.option("--format", "fmt", type=click.Choice(["pdf", "png"], case_sensitive=False), default=None,
              help="File format (default: from the output's suffix, else pdf).")
@click.option("--dpi", type=click.IntRange(72, 1200), default=300, show_default=True, help="Raster resolution.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True, path_type=Path), default=None,
              help="Where to write the card (default: inspection-card-<paper>.<format>).")
def print_card(paper: str, fmt: str | None, dpi: int, output: Path | None) -> None:
    """Write the printable inspection card (markers, rulers, checker outline) as PDF or PNG."""
    from .card import write_card

    paper_name = PAPERS[paper.lower()]
    if fmt is None:
        suffix = output.suffix.lower().lstrip(".") if output is not None else ""
        fmt = suffix if suffix in ("pdf", "png") else "pdf"
    fmt = fmt.lower()
    if output is None:
        output = Path(f"inspection-card-{paper_name.lower()}.{fmt}")
    try:
        path = write_card(output, paper=paper_name, fmt=fmt, dpi=dpi)
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {path} ({paper_name}, {fmt.upper()}, {dpi} dpi). Print at 100 % (actual size), "
               "never 'fit to page'; check the 100 mm ruler with a real ruler.")


@click.command("reanalyse")
@click.option("--photo", "photo_id", type=click.UUID, help="Analyse this photo again.")
@click.option("--batch", "batch_id", type=click.UUID, help="Analyse every stored photo of this batch again.")
@click.option("--pending", is_flag=True, help="Analyse every photo stored but not analysed yet.")
@with_appcontext
def reanalyse(photo_id: uuid.UUID | None, batch_id: uuid.UUID | None, pending: bool) -> None:
    """Analyse photos again (after a pipeline or golden-sample change), with a progress bar."""
    from ..extensions import db
    from .analysis import ANALYSABLE_STATES, AnalysisUnavailable, analyse_photo
    from .models import Inspection, Photo

    if sum(bool(x) for x in (photo_id, batch_id, pending)) != 1:
        raise click.UsageError("Give exactly one of --photo, --batch or --pending.")
    query = select(Photo.id).where(Photo.deleted.is_(False))
    if photo_id is not None:
        query = query.where(Photo.id == photo_id)
    elif batch_id is not None:
        query = (query.join(Inspection, Photo.inspection_id == Inspection.id)
                 .where(Inspection.batch_id == batch_id, Inspection.deleted.is_(False),
                        Photo.upload_state.in_(ANALYSABLE_STATES)))
    else:
        query = query.where(Photo.upload_state == "stored")
    ids = list(db.session.scalars(query.order_by(Photo.created_at, Photo.id)))
    db.session.rollback()
    if photo_id is not None and not ids:
        raise click.ClickException(f"no photo {photo_id}")
    if not ids:
        click.echo("no photos to analyse")
        return
    counts: dict[str, int] = {}
    with click.progressbar(ids, label=f"analysing {len(ids)} photo(s)", show_pos=True,
                           item_show_func=lambda i: str(i)[:8] if i else None) as bar:
        for pid in bar:
            try:
                status = analyse_photo(pid, force=True)
            except AnalysisUnavailable as exc:
                db.session.rollback()
                status = "error"
                click.echo(f"\nphoto {pid}: {exc}", err=True)
            counts[status or "skipped"] = counts.get(status or "skipped", 0) + 1
    click.echo("done: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    if counts.get("error"):
        raise SystemExit(1)


@click.command("sweep-analyses")
@click.option("--older-than-seconds", type=click.IntRange(min=0), default=None,
              help="queue photos stored longer ago than this (default: ANALYSIS_SWEEP_AFTER_SECONDS, 300)")
@with_appcontext
def sweep_analyses(older_than_seconds: int | None) -> None:
    """Queue again the photo analyses pending too long (a lost task, a broker that was down); run every few minutes."""
    from .jobs import sweep_pending

    queued, failed = sweep_pending(older_than_seconds)
    click.echo(f"queued {queued} pending analysis(es)" + (f"; {failed} not queued: the broker is unreachable"
                                                          if failed else ""))
    if failed:
        raise SystemExit(1)


COMMANDS = [print_card, reanalyse, sweep_analyses]
