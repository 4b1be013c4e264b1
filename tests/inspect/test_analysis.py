"""Photo analysis end to end on the demo: upload -> task (eager) -> stored results, flags, measurements.

The demo golden sample is TRAY-120-SAGE, 120 × 80 mm, sage green Lab [62, -18, 12], ΔE00 2.0,
length and width ±1.0 mm. The photos are synthetic (known truth), see ``photo_flow``.
"""
from __future__ import annotations

import sys
import types
import uuid

import pytest

from tests.inspect.photo_flow import (demo_photo, declare_photo, photo_measurements, photo_row, pulled, pulled_photo,
                                      push_photo, store_photo, upload_photo)


def _analyse(photo_id, **kw):
    from server.inspect.analysis import analyse_photo

    return analyse_photo(photo_id, **kw)


# -- end to end: push, upload, task, pull ---------------------------------------------------------

@pytest.fixture
def phone(client, as_inspector):
    """The demo inspector's phone."""
    from tests.sync.support import SyncClient

    return SyncClient(client, as_inspector)


def test_photo_in_tolerance_passes_unflagged_and_the_result_reaches_the_phone(app, client, as_inspector, phone):
    from server.storage.backends import get_storage

    data = demo_photo("in_tolerance")
    photo_id = push_photo(phone, data)
    declared_rev = pulled_photo(phone, photo_id)["rev"]
    r = upload_photo(client, as_inspector, photo_id, data)
    assert r.status_code == 200, r.get_json()

    photo = photo_row(photo_id)
    assert (photo.upload_state, photo.analysis_status) == ("analysed", "pass")
    assert get_storage().head(photo.overlay_key) > 0
    overlay = client.get(f"/api/v1/blobs/{photo_id}/download?variant=overlay", headers=as_inspector)
    assert overlay.status_code == 200, overlay.get_json()

    mine = pulled_photo(phone, photo_id)
    fields = mine["fields"]
    assert mine["rev"] > declared_rev
    assert (fields["upload_state"], fields["analysis_status"]) == ("analysed", "pass")
    assert (fields["flagged"], fields["flag_reasons"], fields["review_state"]) == (False, [], "none")
    analysis = fields["analysis"]
    assert abs(analysis["length_mm"] - 120.0) < 1.0 and abs(analysis["width_mm"] - 80.0) < 1.0
    assert analysis["delta_e_cie2000"] < 2.0 and analysis["reference"]["lab"] == [62.0, -18.0, 12.0]
    assert "overlay_jpeg" not in analysis

    measurements = pulled(phone, "measurement", photo_id=str(photo_id))
    assert len(measurements) == 2
    assert all(m["fields"]["source"] == "photo" and m["fields"]["in_tolerance"] for m in measurements)
    assert sorted(m["fields"]["dimension_spec_id"] for m in measurements) == sorted(
        str(app_demo_id(n)) for n in ("spec:length", "spec:width"))


def app_demo_id(name):
    from server.demo import demo_id

    return demo_id(name)


def test_photo_out_of_tolerance_reaches_the_phone_flagged_for_review(app, client, as_inspector, phone):
    data = demo_photo("out_of_tolerance")
    photo_id = push_photo(phone, data)
    assert upload_photo(client, as_inspector, photo_id, data).status_code == 200

    mine = pulled_photo(phone, photo_id)
    fields = mine["fields"]
    assert fields["analysis_status"] == "fail"
    assert fields["flagged"] and "out_of_tolerance" in fields["flag_reasons"]
    assert fields["review_state"] == "open"
    assert any("ΔE00" in reason for reason in fields["analysis"]["reasons"])
    found = photo_measurements(photo_id)
    assert found["length"].in_tolerance is False
    assert found["width"].in_tolerance is True


def test_photo_without_the_card_reaches_the_phone_unusable_without_measurements(app, client, as_inspector, phone):
    data = demo_photo("no_card")
    photo_id = push_photo(phone, data)
    assert upload_photo(client, as_inspector, photo_id, data).status_code == 200

    mine = pulled_photo(phone, photo_id)
    fields = mine["fields"]
    assert (fields["analysis_status"], fields["flag_reasons"], fields["review_state"]) == (
        "unusable", ["unusable"], "open")
    assert any("card not found" in reason for reason in fields["analysis"]["reasons"])
    assert pulled(phone, "measurement", photo_id=str(photo_id)) == []


def test_the_reviewer_finds_the_flagged_photo_in_the_review_queue(app, client, as_inspector, as_reviewer, phone):
    data = demo_photo("out_of_tolerance")
    photo_id = push_photo(phone, data)
    assert upload_photo(client, as_inspector, photo_id, data).status_code == 200

    queue = client.get("/api/v1/review/queue", headers=as_reviewer)
    assert queue.status_code == 200, queue.get_json()
    assert str(photo_id) in [item["photo_id"] for item in queue.get_json()]


def test_a_photo_too_close_to_call_goes_to_the_review_queue_and_the_phone_gets_the_uncertainty(
        app, client, as_inspector, as_reviewer, phone):
    from server.catalog.models import ColourStandard
    from server.extensions import db

    # A tolerance far inside the measurement's uncertainty: neither pass nor fail can be claimed.
    db.session.get(ColourStandard, app_demo_id("colour:sage")).delta_e_tolerance = 0.01
    db.session.commit()
    data = demo_photo("in_tolerance")
    photo_id = push_photo(phone, data)
    assert upload_photo(client, as_inspector, photo_id, data).status_code == 200

    fields = pulled_photo(phone, photo_id)["fields"]
    assert (fields["analysis_status"], fields["flag_reasons"], fields["review_state"]) == (
        "review", ["needs_review"], "open")
    analysis = fields["analysis"]
    assert analysis["delta_e_u"] > 0.01 and analysis["length_u_mm"] > 0 and analysis["width_u_mm"] > 0
    assert analysis["reason_codes"][0] == "colour_uncertain"
    assert len(analysis["reason_codes"]) == len(analysis["reasons"])
    assert 2000 < analysis["light_cct_k"] < 12000 and analysis["chart_edition"] == "post2014"
    queue = client.get("/api/v1/review/queue", headers=as_reviewer)
    assert str(photo_id) in [item["photo_id"] for item in queue.get_json()]


# -- the service -----------------------------------------------------------------------------------

def test_reference_comes_from_the_golden_sample_colour_standard_and_specs(app, demo):
    from server.extensions import db
    from server.inspect.analysis import build_reference
    from server.inspect.models import Inspection

    reference = build_reference(db.session.get(Inspection, demo("inspection:inline:A")))
    assert reference == {"lab": [62.0, -18.0, 12.0], "length_mm": 120.0, "width_mm": 80.0, "delta_e_max": 2.0,
                         "size_tolerance_mm": 1.0, "colour_standard_id": str(demo("colour:sage")),
                         "golden_sample_id": str(demo("golden:tray:1")),
                         "golden_sample_version": 1}


def test_reanalysis_updates_the_same_measurement_rows(app, demo):
    photo_id = store_photo(demo_photo("in_tolerance"))
    assert _analyse(photo_id) == "pass"
    first = {name: (m.id, m.rev) for name, m in photo_measurements(photo_id).items()}
    assert _analyse(photo_id, force=True) == "pass"
    again = {name: (m.id, m.rev) for name, m in photo_measurements(photo_id).items()}
    assert {n: i for n, (i, _) in again.items()} == {n: i for n, (i, _) in first.items()}


def test_a_redelivered_analysis_of_an_analysed_photo_changes_nothing(app, demo):
    photo_id = store_photo(demo_photo("in_tolerance"))
    _analyse(photo_id)
    rev = photo_row(photo_id).rev
    assert _analyse(photo_id) == "pass"
    assert photo_row(photo_id).rev == rev


def test_reanalysis_that_turns_unusable_tombstones_the_photo_measurements(app, demo, monkeypatch):
    photo_id = store_photo(demo_photo("in_tolerance"))
    _analyse(photo_id)
    monkeypatch.setattr("server.inspect.vision.analyze_photo", _raising)
    assert _analyse(photo_id, force=True) == "unusable"
    assert all(m.deleted for m in photo_measurements(photo_id).values())


def test_a_crash_mid_analysis_leaves_the_photo_stored_and_analysable(app, demo, monkeypatch):
    class WorkerKilled(BaseException):
        pass

    def killed(*a, **kw):
        raise WorkerKilled

    photo_id = store_photo(demo_photo("in_tolerance"))
    monkeypatch.setattr("server.inspect.analysis.store_overlay", killed)
    with pytest.raises(WorkerKilled):
        _analyse(photo_id)
    assert photo_row(photo_id).upload_state == "stored"
    assert photo_measurements(photo_id) == {}
    monkeypatch.undo()
    assert _analyse(photo_id) == "pass"


def _raising(*a, **kw):
    raise RuntimeError("boom")


def test_an_exception_inside_the_pipeline_ends_unusable_with_a_reason(app, demo, monkeypatch):
    monkeypatch.setattr("server.inspect.vision.analyze_photo", _raising)
    photo_id = store_photo(demo_photo("in_tolerance"))
    assert _analyse(photo_id) == "unusable"
    photo = photo_row(photo_id)
    assert photo.upload_state == "analysed" and photo.flag_reasons == ["unusable"]
    assert photo.analysis["reasons"] == ["analysis failed unexpectedly (RuntimeError)"]


def test_a_photo_missing_from_storage_ends_unusable(app, demo):
    from server.storage.backends import get_storage

    photo_id = store_photo(b"\xff\xd8\xff\xe0 whatever")
    get_storage().delete(photo_row(photo_id).storage_key)
    assert _analyse(photo_id) == "unusable"
    assert "missing from storage" in photo_row(photo_id).analysis["reasons"][0]


def test_declared_photos_are_not_analysed(app, demo):
    photo_id = declare_photo(demo_photo("in_tolerance"))
    assert _analyse(photo_id) is None
    assert photo_row(photo_id).upload_state == "declared"


def test_inspector_flags_are_kept_when_the_analysis_passes(app, demo):
    from server.extensions import db
    from server.inspect.models import Photo

    photo_id = store_photo(demo_photo("in_tolerance"))
    photo = db.session.get(Photo, photo_id)
    photo.flagged_by_inspector, photo.flag_reasons = True, ["inspector"]
    db.session.commit()
    _analyse(photo_id)
    photo = photo_row(photo_id)
    assert (photo.flagged, photo.flag_reasons, photo.review_state) == (True, ["inspector"], "open")


def test_the_review_hook_gets_the_analysed_photo(app, demo, monkeypatch):
    seen = []
    fake = types.ModuleType("server.review.service")
    fake.on_photo_analysed = lambda photo: seen.append((photo.id, photo.analysis_status))
    monkeypatch.setitem(sys.modules, "server.review.service", fake)
    photo_id = store_photo(demo_photo("out_of_tolerance"))
    _analyse(photo_id)
    assert seen == [(photo_id, "fail")]


def test_a_failing_review_hook_does_not_undo_the_analysis(app, demo, monkeypatch):
    fake = types.ModuleType("server.review.service")
    fake.on_photo_analysed = _raising
    monkeypatch.setitem(sys.modules, "server.review.service", fake)
    photo_id = store_photo(demo_photo("in_tolerance"))
    assert _analyse(photo_id) == "pass"
    assert photo_row(photo_id).upload_state == "analysed"


# -- flags (pure) ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "confidence", "flags"), [
    ("pass", 0.9, []),
    ("pass", 0.59, ["low_confidence"]),
    ("fail", 0.9, ["out_of_tolerance"]),
    ("fail", 0.3, ["out_of_tolerance", "low_confidence"]),
    ("unusable", 0.0, ["unusable"]),
    ("review", 0.9, ["needs_review"]),
    ("review", 0.3, ["needs_review", "low_confidence"]),
    ("retake", 0.2, ["retake"]),
])
def test_flags_follow_status_and_confidence_threshold(status, confidence, flags):
    from server.inspect.analysis import flags_for

    assert flags_for({"status": status, "confidence": confidence}, 0.6) == flags


def test_measurement_ids_are_fixed_per_photo_and_spec():
    from server.inspect.analysis import measurement_id

    photo, spec = uuid.uuid4(), uuid.uuid4()
    assert measurement_id(photo, spec) == measurement_id(photo, spec) != measurement_id(photo, uuid.uuid4())


def test_the_confidence_threshold_comes_from_the_configuration(app, demo, monkeypatch):
    monkeypatch.setitem(app.config, "ANALYSIS_MIN_CONFIDENCE", 1.01)
    photo_id = store_photo(demo_photo("in_tolerance"))
    assert _analyse(photo_id) == "pass"
    photo = photo_row(photo_id)
    assert (photo.flagged, photo.flag_reasons, photo.review_state) == (True, ["low_confidence"], "open")
    assert photo.analysis["min_confidence"] == 1.01
