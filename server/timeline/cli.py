"""Timeline commands: ``flask --app server refresh-alerts``."""
from __future__ import annotations

import click
from sqlalchemy import func, select


@click.command("refresh-alerts")
def refresh_alerts_cmd():
    """Recompute delay-risk, freight and overdue-issue alerts of every open PO (run daily)."""
    from ..extensions import db
    from .service import refresh_all, refreshable_purchase_orders

    total = db.session.scalar(select(func.count()).select_from(refreshable_purchase_orders().subquery()))
    with click.progressbar(length=total, label="Refreshing alerts", file=click.get_text_stream("stderr")) as bar:
        counts = refresh_all(progress=bar.update)
    click.echo(f"{counts['purchase_orders']} purchase orders: {counts['opened']} alert(s) opened, "
               f"{counts['updated']} updated, {counts['resolved']} resolved")


COMMANDS = [refresh_alerts_cmd]
