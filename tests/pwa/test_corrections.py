"""Correcting work before sign-off: edit and delete answers, measurements, defects and photos, with undo."""
from __future__ import annotations

import uuid

import numpy as np
import pytest
from sqlalchemy import select

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def _synced(page):
    page.evaluate("() => window.lineside.syncNow({ force: true })")
    page.wait_for_function("() => { const s = window.lineside.syncState; return !s.running && !s.error"
                           " && s.pending === 0 && s.photosPending === 0; }", timeout=20_000)


def _rows(live_server, model, inspection, **match):
    from server.extensions import db

    with live_server.app.app_context():
        q = select(model).where(model.inspection_id == uuid.UUID(inspection))
        for k, v in match.items():
            q = q.where(getattr(model, k) == v)
        rows = [(r.deleted, {c: getattr(r, c) for c in ("count", "defect_class")} if hasattr(r, "count") else None)
                for r in db.session.scalars(q).all()]
        db.session.remove()
    return rows


def test_everything_can_be_corrected_and_deleted_with_undo_until_sign_off(live_server, phone):
    import cv2

    from server.demo import demo_id
    from server.inspect.models import ChecklistResponse, Defect, Measurement

    inspection = str(demo_id("inspection:final:B"))
    page = phone.new_page()
    page.goto(live_server.url + "/")
    page.get_by_label("Email").fill("inspector@demo.lineside.test")
    page.get_by_label("Password").fill("demo-inspector")
    page.locator("#signin button[type=submit]").click()
    page.wait_for_selector(f"[data-testid='inspection-{inspection}']")
    _synced(page)
    page.goto(live_server.url + f"/#/inspection/{inspection}")
    saved = page.get_by_test_id("saved")

    # A measurement, synced, then cleared: deleted on the server too.
    field = page.get_by_test_id("measure-length-1")
    field.fill("120.2")
    field.blur()
    expect(saved).to_contain_text("Saved on this phone")
    _synced(page)
    spec = uuid.UUID(str(demo_id("spec:length")))
    assert _rows(live_server, Measurement, inspection, dimension_spec_id=spec) == [(False, None)]
    field.fill("")
    field.blur()
    expect(page.get_by_test_id("undo")).to_contain_text("Deleted: Unit 1")
    _synced(page)
    assert _rows(live_server, Measurement, inspection, dimension_spec_id=spec) == [(True, None)]

    # An answer, then cleared.
    item = page.locator("fieldset.item.yn").first
    item.locator("label.choice-yes").click()
    expect(saved).to_contain_text("Saved on this phone")
    key = item.get_attribute("data-item")
    item.get_by_role("button", name="Clear answer").click()
    expect(item.locator("input:checked")).to_have_count(0)
    _synced(page)
    assert [d for d, _ in _rows(live_server, ChecklistResponse, inspection, item_key=key)] in ([], [True])

    # A defect: logged, corrected, deleted, and the delete undone.
    page.get_by_label("Defect", exact=True).fill("dent")
    page.get_by_role("button", name="Log defect").click()
    defects = page.get_by_test_id("defect-list")
    expect(defects).to_contain_text("× 1")
    defects.get_by_role("button", name="Edit").click()
    page.get_by_label("Count").fill("3")
    page.get_by_role("button", name="Save changes").click()
    expect(defects).to_contain_text("× 3")
    _synced(page)
    assert _rows(live_server, Defect, inspection, code="dent") == [(False, {"count": 3, "defect_class": "major"})]
    defects.get_by_role("button", name="Delete").click()
    expect(page.get_by_test_id("defect-list")).to_have_count(0)
    page.get_by_test_id("undo").get_by_role("button", name="Undo").click()
    expect(page.get_by_test_id("defect-list")).to_contain_text("× 3")
    _synced(page)
    assert _rows(live_server, Defect, inspection, code="dent") == [(False, {"count": 3, "defect_class": "major"})]
    # Deleted again and synced: undo then makes it again (the server keeps its tombstone).
    page.get_by_test_id("defect-list").get_by_role("button", name="Delete").click()
    _synced(page)
    page.get_by_test_id("undo").get_by_role("button", name="Undo").click()
    expect(page.get_by_test_id("defect-list")).to_contain_text("× 3")
    _synced(page)
    assert sorted(_rows(live_server, Defect, inspection, code="dent"), key=lambda r: r[0]) == [
        (False, {"count": 3, "defect_class": "major"}), (True, {"count": 3, "defect_class": "major"})]

    # A photo, deleted before it uploaded: nothing waits to upload.
    page.route("**/api/v1/sync/push", lambda route: route.abort("connectionreset"))
    img = np.full((1200, 1600, 3), 170, np.uint8)
    img[::40, :, :] = 20
    jpeg = cv2.imencode(".jpg", img)[1].tobytes()
    page.locator("photo-capture[data-item='unit_photo'] input[type=file]").set_input_files(
        files=[{"name": "u.jpg", "mimeType": "image/jpeg", "buffer": jpeg}])
    expect(page.locator("[data-testid=photo-list] li")).to_have_count(1)
    page.get_by_role("button", name="Delete photo").click()
    expect(page.locator("[data-testid=photo-list] li")).to_have_count(0)
    page.unroute("**/api/v1/sync/push")
    _synced(page)
    assert page.evaluate("async () => (await window.lineside.getAll('photos')).filter((p) => p.state !== 'done').length") == 0
