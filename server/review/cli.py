"""Operator commands of the review domain: ``flask --app server drift-demo`` and ``webhooks-retry``."""
from __future__ import annotations

import uuid
from datetime import timedelta

import click
from flask.cli import with_appcontext
from sqlalchemy import delete, select

DEMO_ITEM_KEY = "drift_demo"


@click.command("drift-demo")
@click.option("--baseline", default=30, show_default=True, help="in-control photos before the drift")
@click.option("--drift", "drifting", default=30, show_default=True, help="photos that get darker and yellower")
@click.option("--step", default=0.12, show_default=True, help="L* lost per drifting photo (b* gains 2/3 of it)")
@click.option("--seed", default=4, show_default=True)
@with_appcontext
def drift_demo_cmd(baseline: int, drifting: int, step: float, seed: int) -> None:
    """Drive demo batch LOT-A through a colour drift: synthetic analysed photos slowly getting darker.

    Each photo goes through the same hook as a real analysis, so alerts open, reach the
    brand's webhooks and e-mail, and show in the reviewer's feed. Run ``seed-demo`` first;
    running again replaces the earlier drift-demo photos and alerts of LOT-A.
    """
    import numpy as np

    from ..demo import DEMO_LAB, demo_id
    from ..extensions import db
    from ..inspect.color import delta_e_cie2000
    from ..inspect.models import Inspection, Photo
    from ..models import utcnow
    from .models import DriftAlert
    from .service import on_photo_analysed

    inspection = db.session.get(Inspection, demo_id("inspection:inline:A"))
    if inspection is None:
        raise click.ClickException("no demo data: run `flask --app server seed-demo` first")
    # Earlier runs: tombstone their photos (phones may have pulled them) and drop their alerts.
    for old in db.session.scalars(select(Photo).where(Photo.inspection_id == inspection.id,
                                                      Photo.item_key == DEMO_ITEM_KEY,
                                                      Photo.deleted.is_(False))).all():
        old.deleted = True
    db.session.execute(delete(DriftAlert).where(DriftAlert.batch_id == inspection.batch_id))
    db.session.commit()
    rng = np.random.default_rng(seed)
    start = utcnow() - timedelta(minutes=baseline + drifting)
    ref = np.array(DEMO_LAB, dtype=float)
    for i in range(baseline + drifting):
        k = max(0, i - baseline + 1)
        lab = ref + np.array([-step, 0.0, step * 2 / 3]) * k + rng.normal(0, 0.15, 3)
        de = float(delta_e_cie2000(lab[None, :], ref[None, :])[0])
        status = "pass" if de <= 2.0 else "fail"
        photo = Photo(id=uuid.uuid4(), inspection_id=inspection.id, item_key=DEMO_ITEM_KEY, unit_index=i,
                      sha256="0" * 64, size_bytes=0, content_type="image/jpeg", upload_state="analysed",
                      taken_at=start + timedelta(minutes=i), sequence=i + 1, analysis_status=status,
                      analysis={"status": status, "calibrated": True, "lab": [round(float(v), 3) for v in lab],
                                "delta_e_cie2000": round(de, 3), "confidence": 0.95, "reasons": [],
                                "quality": {}, "synthetic": True},
                      flagged=status == "fail", flag_reasons=["out_of_tolerance"] if status == "fail" else [],
                      review_state="open" if status == "fail" else "none")
        db.session.add(photo)
        db.session.flush()
        for alert in on_photo_analysed(photo):
            click.echo(f"photo {i + 1:3d}: {alert.status} {alert.level} ({alert.rule}) {alert.message}")
    open_alerts = db.session.scalars(select(DriftAlert).where(DriftAlert.batch_id == inspection.batch_id,
                                                              DriftAlert.open_slot.is_not(None))).all()
    click.echo(f"{baseline + drifting} photos analysed; {len(open_alerts)} open alert(s) on LOT-A. "
               "Sign in as reviewer@demo.lineside.test to see and acknowledge them.")


@click.command("webhooks-retry")
@with_appcontext
def webhooks_retry_cmd() -> None:
    """Send the webhook deliveries whose retry is due (run from cron when Celery runs eagerly)."""
    from .jobs import retry_due_webhooks

    click.echo(f"{retry_due_webhooks()} delivery attempt(s) made")


COMMANDS = [drift_demo_cmd, webhooks_retry_cmd]
