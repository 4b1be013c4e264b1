"""The review queue: flagged photos of the reviewer's own brand, filtered, most severe first."""
from __future__ import annotations

from server.demo import DEMO_LAB
from server.extensions import db
from tests.review.conftest import add_photo

QUEUE = "/api/v1/review/queue"


def _seed_queue(demo):
    insp = demo("inspection:inline:A")
    low_old = add_photo(insp, lab=DEMO_LAB, flagged=True, reasons=["low_confidence"], confidence=0.3, age_minutes=90)
    fail_new = add_photo(insp, lab=[55, -18, 20], status="fail", flagged=True, reasons=["out_of_tolerance"],
                         age_minutes=5, delta_e=7.1)
    fail_old = add_photo(insp, lab=[56, -18, 19], status="fail", flagged=True, reasons=["out_of_tolerance"],
                         age_minutes=60, delta_e=6.0)
    unusable = add_photo(insp, status="unusable", flagged=True, reasons=["unusable"], age_minutes=30)
    by_inspector = add_photo(insp, lab=DEMO_LAB, by_inspector=True, age_minutes=10)
    add_photo(insp, lab=DEMO_LAB)  # passed, not flagged: not in the queue
    db.session.commit()
    return low_old, fail_new, fail_old, unusable, by_inspector


def test_queue_lists_flagged_photos_most_severe_first_then_oldest(client, as_reviewer, demo):
    low_old, fail_new, fail_old, unusable, by_inspector = _seed_queue(demo)
    items = client.get(QUEUE, headers=as_reviewer).get_json()
    assert [i["photo_id"] for i in items] == [str(p.id) for p in (fail_old, fail_new, unusable, low_old,
                                                                   by_inspector)]
    assert items[0]["severity"] == "high" and items[0]["batch"]["code"] == "LOT-A"
    assert items[-1]["flag_reasons"] == ["inspector"]


def test_queue_filters_by_reason(client, as_reviewer, demo):
    _, fail_new, fail_old, _, by_inspector = _seed_queue(demo)
    out = client.get(f"{QUEUE}?reason=out_of_tolerance", headers=as_reviewer).get_json()
    assert {i["photo_id"] for i in out} == {str(fail_new.id), str(fail_old.id)}
    mine = client.get(f"{QUEUE}?reason=inspector", headers=as_reviewer).get_json()
    assert [i["photo_id"] for i in mine] == [str(by_inspector.id)]


def test_queue_filters_by_po_batch_product_and_factory(client, as_reviewer, demo):
    _seed_queue(demo)
    base = len(client.get(QUEUE, headers=as_reviewer).get_json())
    for key, value in (("purchase_order_id", demo("po:42")), ("batch_id", demo("batch:A")),
                       ("product_id", demo("product:tray")), ("factory_id", demo("org:factory"))):
        assert len(client.get(f"{QUEUE}?{key}={value}", headers=as_reviewer).get_json()) == base, key
    assert client.get(f"{QUEUE}?batch_id={demo('batch:B')}", headers=as_reviewer).get_json() == []


def test_decided_photos_leave_the_pending_queue_and_show_under_their_state(client, as_reviewer, demo):
    _, fail_new, *_ = _seed_queue(demo)
    r = client.post(f"/api/v1/review/photos/{fail_new.id}/decisions", headers=as_reviewer,
                    json={"decision": "reject", "comment": "Too dark"})
    assert r.status_code == 201
    pending = {i["photo_id"] for i in client.get(QUEUE, headers=as_reviewer).get_json()}
    assert str(fail_new.id) not in pending
    rejected = client.get(f"{QUEUE}?state=rejected", headers=as_reviewer).get_json()
    assert [i["photo_id"] for i in rejected] == [str(fail_new.id)]


def test_bad_filter_is_a_422_with_the_field(client, as_reviewer, demo):
    r = client.get(f"{QUEUE}?state=maybe&batch_id=nope", headers=as_reviewer)
    assert r.status_code == 422
    errors = r.get_json()["errors"]["query"]
    assert set(errors) == {"state", "batch_id"}


def test_photo_detail_sets_measured_values_against_tolerances_beside_the_golden_sample(
        client, as_reviewer, demo):
    from server.catalog.models import GoldenSample
    from server.storage.backends import get_storage

    # The reference is a photo the brand's own inspections stored (a key of anything else is never signed).
    get_storage().put("photos/ref.jpg", b"ref-bytes", content_type="image/jpeg")
    add_photo(demo("inspection:inline:A"), lab=[55, -18, 20], storage_key="photos/ref.jpg")
    db.session.get(GoldenSample, demo("golden:tray:1")).reference_photos = ["photos/ref.jpg"]
    photo = add_photo(demo("inspection:inline:A"), lab=[55, -18, 20], status="fail", flagged=True,
                      reasons=["out_of_tolerance"], delta_e=7.1, length_mm=121.5, width_mm=80.2,
                      storage_key="photos/p1.jpg")
    photo.overlay_key = "overlays/p1.png"
    db.session.commit()
    d = client.get(f"/api/v1/review/photos/{photo.id}", headers=as_reviewer).get_json()
    assert d["photo_url"] and d["overlay_url"] and len(d["golden_sample"]["reference_urls"]) == 1
    ref = client.get(d["golden_sample"]["reference_urls"][0])
    assert ref.status_code == 200 and ref.data == b"ref-bytes"
    m = {x["name"]: x for x in d["measurements"]}
    assert m["colour (Sage green)"]["within"] is False and m["colour (Sage green)"]["tolerance"] == 2.0
    assert m["length"]["within"] is False and m["length"]["nominal"] == 120.0
    assert m["width"]["within"] is True
    assert d["context"]["inspector_name"] == "Ivan Inspector" and d["context"]["inspection_kind"] == "inline"


def test_another_brands_reviewer_sees_only_their_own_queue_and_404s(client, demo, login):
    from tests.support.tenants import PASSWORD, make_other_tenant

    photo = _seed_queue(demo)[1]
    other_ids = make_other_tenant()
    other = login("reviewer@other.test", PASSWORD)
    # The other brand has one flagged photo of its own; none of the demo brand's shows.
    assert [p["photo_id"] for p in client.get(QUEUE, headers=other).get_json()] == [str(other_ids["photo"])]
    assert client.get(f"/api/v1/review/photos/{photo.id}", headers=other).status_code == 404


def test_inspectors_and_factory_managers_may_not_open_the_queue(client, as_inspector, login, demo):
    assert client.get(QUEUE, headers=as_inspector).status_code == 403
    manager = login("manager@demo.lineside.test", "demo-manager")
    assert client.get(QUEUE, headers=manager).status_code == 403


def test_reference_photos_sign_only_keys_of_the_brands_own_photos(client, as_reviewer, demo):
    from server.catalog.models import GoldenSample
    from server.inspect.models import Photo
    from server.storage.backends import get_storage
    from tests.support.tenants import make_other_tenant

    other = make_other_tenant()
    theirs = db.session.get(Photo, other["photo"])
    theirs.storage_key, theirs.upload_state = "photos/theirs.jpg", "stored"
    get_storage().put("photos/theirs.jpg", b"another tenant's bytes", content_type="image/jpeg")
    get_storage().put("photos/mine.jpg", b"my bytes", content_type="image/jpeg")
    add_photo(demo("inspection:inline:A"), lab=DEMO_LAB, storage_key="photos/mine.jpg")
    db.session.get(GoldenSample, demo("golden:tray:1")).reference_photos = [
        "photos/theirs.jpg", "secrets/any-key", "photos/mine.jpg"]
    photo = add_photo(demo("inspection:inline:A"), lab=DEMO_LAB, flagged=True, reasons=["low_confidence"],
                      storage_key="photos/p2.jpg")
    db.session.commit()
    d = client.get(f"/api/v1/review/photos/{photo.id}", headers=as_reviewer).get_json()
    urls = d["golden_sample"]["reference_urls"]
    assert len(urls) == 1
    ref = client.get(urls[0])
    assert ref.status_code == 200 and ref.data == b"my bytes"
    assert ref.mimetype == "image/jpeg" and ref.headers["Content-Disposition"].startswith("inline")
