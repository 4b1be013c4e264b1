"""Photo analysis and the inspection it belongs to: the verdict follows, a signed-off one stays put."""
from __future__ import annotations

import uuid

from server.extensions import db
from server.inspect.models import Inspection, Measurement
from tests.inspect.photo_flow import demo_photo, photo_measurements, photo_row, store_photo


def _analyse(photo_id, **kw):
    from server.inspect.analysis import analyse_photo

    return analyse_photo(photo_id, **kw)


def _inspection(demo) -> Inspection:
    db.session.rollback()
    insp = db.session.get(Inspection, demo("inspection:inline:A"), populate_existing=True)
    db.session.expunge(insp)
    db.session.rollback()
    return insp


def _fresh_verdict(demo) -> tuple[str, list]:
    """What the verdict would be if recomputed from the stored rows now (not saved)."""
    from server.inspect.service import recompute_verdict

    insp = db.session.get(Inspection, demo("inspection:inline:A"))
    outcome = recompute_verdict(insp)
    db.session.rollback()
    return outcome["verdict"], outcome["reasons"]


def test_analysing_a_photo_stores_the_recomputed_verdict(app, demo):
    insp = db.session.get(Inspection, demo("inspection:inline:A"))
    insp.verdict, insp.verdict_reasons = "pending", ["stale: computed before the photo"]
    db.session.commit()
    photo_id = store_photo(demo_photo("out_of_tolerance"))
    assert _analyse(photo_id) == "fail"
    assert photo_measurements(photo_id)["length"].in_tolerance is False
    after = _inspection(demo)
    # the stored verdict is what the rows (the new measurements included) say, saved with the analysis
    assert after.verdict_reasons != ["stale: computed before the photo"]
    assert (after.verdict, after.verdict_reasons) == _fresh_verdict(demo)


def test_a_late_photo_of_a_signed_off_inspection_keeps_its_measurements_and_verdict(app, demo):
    photo_id = store_photo(demo_photo("out_of_tolerance"))
    insp = db.session.get(Inspection, demo("inspection:inline:A"))
    insp.status = "signed_off"
    db.session.commit()
    before = _inspection(demo)
    assert _analyse(photo_id) == "fail"
    photo = photo_row(photo_id)
    assert photo.upload_state == "analysed" and photo.analysis["status"] == "fail"
    assert "signed off" in photo.analysis["measurements_skipped"]
    assert photo_measurements(photo_id) == {}
    db.session.rollback()
    assert db.session.query(Measurement).filter(Measurement.photo_id == uuid.UUID(str(photo_id))).count() == 0
    after = _inspection(demo)
    assert (after.verdict, after.verdict_reasons, after.rev) == (before.verdict, before.verdict_reasons, before.rev)
