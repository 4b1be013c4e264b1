"""Photos on the phone: never confirmed before they are stored, and fitted to what the server takes."""
from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
from sqlalchemy import select

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def _signed_in(page, base, inspection_key="inspection:final:B"):
    from server.demo import demo_id

    page.goto(base + "/")
    page.get_by_label("Email").fill("inspector@demo.lineside.test")
    page.get_by_label("Password").fill("demo-inspector")
    page.locator("#signin button[type=submit]").click()
    inspection = str(demo_id(inspection_key))
    page.wait_for_selector(f"[data-testid='inspection-{inspection}']")
    page.wait_for_function("() => { const s = window.lineside.syncState; return !s.running && s.lastSync && !s.error"
                           " && s.pending === 0; }", timeout=20_000)
    page.goto(base + f"/#/inspection/{inspection}")
    page.wait_for_selector("photo-capture[data-item='unit_photo']")
    return inspection


def _textured_jpeg(w=1600, h=1200, seed=3, quality=92) -> bytes:
    import cv2

    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 170, np.uint8)
    img[::40, :, :] = 20
    img[:, ::40, :] = 20
    img = cv2.add(img, rng.integers(0, 60, img.shape, dtype=np.uint8))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buf.tobytes()


def test_a_photo_that_does_not_fit_in_storage_is_never_confirmed(live_server, phone):
    page = phone.new_page()
    inspection = _signed_in(page, live_server.url)
    # The phone is almost full: 64 KB left (what navigator.storage.estimate() reports), and
    # IndexedDB refuses the photo's bytes the way a full disk does (QuotaExceededError).
    page.evaluate("""() => {
        const usage = 50 * 1024 * 1024;
        navigator.storage.estimate = async () => (window.__full ? { usage, quota: usage + 64 * 1024 } : { usage, quota: 8 * usage * 1024 });
        const put = IDBObjectStore.prototype.put;
        IDBObjectStore.prototype.put = function (...args) {
          if (this.name === 'photos' && window.__full) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
          return put.apply(this, args);
        };
        window.__full = true;
    }""")
    outbox_before = page.evaluate("async () => (await window.lineside.getAll('outbox')).length")
    capture = page.locator("photo-capture[data-item='unit_photo']")
    capture.locator("input[type=file]").set_input_files(
        files=[{"name": "unit.jpg", "mimeType": "image/jpeg", "buffer": _textured_jpeg()}])
    problem = capture.get_by_test_id("photo-not-saved")
    expect(problem).to_have_text("Photo NOT saved: this phone's storage is full. Sync to upload waiting photos"
                                 " or free space on the phone, then take it again.")
    assert capture.locator(".hint").inner_text() != "Photo looks usable."
    assert capture.locator(".preview").is_hidden()
    # Nothing half-written: no photo bytes, no photo row, no queued mutation.
    assert page.evaluate("async () => (await window.lineside.getAll('photos')).length") == 0
    assert page.evaluate("async (i) => (await window.lineside.getAll('records')).filter((r) => r.entity === 'photo'"
                         " && r.inspection_id === i).length", inspection) == 0
    assert page.evaluate("async () => (await window.lineside.getAll('outbox')).length") == outbox_before
    expect(page.get_by_test_id("storage-low")).to_contain_text("Storage is running low")
    page.wait_for_timeout(3000)  # it stays: a persistent, specific error, not a toast
    expect(problem).to_be_visible()
    assert page.locator("[data-testid=photo-list] li").count() == 0

    # Space again: the next photo is stored, and only then called usable.
    page.evaluate("() => { window.__full = false; }")
    capture.locator("input[type=file]").set_input_files(
        files=[{"name": "unit.jpg", "mimeType": "image/jpeg", "buffer": _textured_jpeg(seed=4)}])
    expect(capture.locator(".hint")).to_have_text("Photo looks usable.")
    expect(problem).to_be_hidden()
    assert page.evaluate("async () => (await window.lineside.getAll('photos')).length") == 1


def test_an_answer_that_cannot_be_stored_shows_the_error_next_to_it(live_server, phone):
    page = phone.new_page()
    _signed_in(page, live_server.url)
    # Simulate a full disk for the records store (QuotaExceededError from IndexedDB).
    page.evaluate("""() => {
        const put = IDBObjectStore.prototype.put;
        IDBObjectStore.prototype.put = function (...args) {
          if (this.name === 'records' && window.__full) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
          return put.apply(this, args);
        };
        window.__full = true;
    }""")
    row = page.locator("[data-testid='measure-length-1']")
    row.fill("120.2")
    row.blur()
    item = page.locator(".measure-row", has=row)
    expect(item.get_by_test_id("save-problem")).to_contain_text("NOT saved: this phone's storage is full")
    expect(page.get_by_test_id("saved")).to_contain_text("NOT saved")
    page.evaluate("() => { window.__full = false; }")
    row.fill("120.3")
    row.blur()
    expect(item.get_by_test_id("save-problem")).to_have_count(0)
    expect(page.get_by_test_id("saved")).to_contain_text("Saved on this phone")


def _until(page, predicate, seconds):
    """Poll an async predicate in the page (wait_for_function takes a promise for true)."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(predicate):
        assert time.monotonic() < deadline, predicate
        page.wait_for_timeout(250)


def _thirty_mb_card_photo() -> bytes:
    """The demo unit on the inspection card at 7200 × 5400 with sensor noise, stored rotated with
    EXIF orientation 6 (as phones do), about 30 MB: over the server's 25 MB limit."""
    import cv2

    from tests.inspect import synth
    from tests.inspect.photo_flow import demo_photo

    img = cv2.imdecode(np.frombuffer(demo_photo("in_tolerance"), np.uint8), cv2.IMREAD_COLOR)
    big = cv2.resize(img, (7200, 5400), interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(1).normal(0, 8, big.shape).astype(np.int16)
    big = np.clip(big.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    stored = cv2.rotate(big, cv2.ROTATE_90_COUNTERCLOCKWISE)  # orientation 6 turns it back upright
    ok, buf = cv2.imencode(".jpg", stored, [cv2.IMWRITE_JPEG_QUALITY, 99])
    assert ok
    return synth.add_exif_orientation(buf.tobytes(), 6)


def test_a_30_mb_photo_is_resized_uploaded_and_analysed(live_server, phone):
    from server.extensions import db
    from server.inspect.models import Photo

    big = _thirty_mb_card_photo()
    assert len(big) > 28 * 1024 * 1024
    page = phone.new_page()
    inspection = _signed_in(page, live_server.url, "inspection:inline:A")
    capture = page.locator("photo-capture[data-item='unit_photo']")
    capture.locator("input[type=file]").set_input_files(
        files=[{"name": "big.jpg", "mimeType": "image/jpeg", "buffer": big}])
    expect(capture.get_by_test_id("photo-not-saved")).to_be_hidden()
    _until(page, "async () => (await window.lineside.getAll('photos')).length === 1", 60)
    stored = page.evaluate("""async () => { const [p] = await window.lineside.getAll('photos');
        return { w: p.width, h: p.height, size: p.size, type: p.type, original: p.original ? p.original.size : null }; }""")
    assert (stored["w"], stored["h"]) == (4032, 3024)  # upright (EXIF applied), long side 4032
    assert stored["size"] < 20 * 1024 * 1024 and stored["type"] == "image/jpeg"
    assert stored["original"] == len(big)  # the original stays until the upload is verified
    page.evaluate("() => window.lineside.syncNow({ force: true })")
    _until(page, "async () => { const [p] = await window.lineside.getAll('photos');"
                 " return p.state === 'done' && !p.blob && !p.original; }", 60)
    deadline = time.monotonic() + 90
    while True:
        with live_server.app.app_context():
            photo = db.session.scalars(select(Photo).where(Photo.inspection_id == uuid.UUID(inspection),
                                                           Photo.item_key == "unit_photo", Photo.size_bytes == stored["size"])
                                       ).first()
            found = (photo.upload_state, photo.analysis_status, photo.analysis) if photo else None
            db.session.remove()
        if (found and found[0] == "analysed") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert found is not None and found[0] == "analysed", found
    # The analysis found the card and measured the unit on the resized photo.
    assert found[1] == "pass", found
