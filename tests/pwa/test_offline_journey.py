"""An inspector's day in real Chromium: sign in, download, work offline, sync once.

One journey, because each step depends on the state the previous one left on the phone.
Screenshots of the main screens land in the test artifacts folder.
"""
from __future__ import annotations

import hashlib
import time
import uuid

import numpy as np
import pytest
from sqlalchemy import func, select

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.browser

INSPECTOR = ("inspector@demo.lineside.test", "demo-inspector")
REVIEWER = ("reviewer@demo.lineside.test", "demo-reviewer")


def _jpeg(seed: int = 7) -> bytes:
    """A 1600 × 1200 textured JPEG: big, bright and sharp enough to pass the quality hints."""
    import cv2

    rng = np.random.default_rng(seed)
    img = np.full((1200, 1600, 3), 170, np.uint8)
    img[::40, :, :] = 20
    img[:, ::40, :] = 20
    img = cv2.add(img, rng.integers(0, 30, img.shape, dtype=np.uint8))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return buf.tobytes()


def _sign_in(page, url, email, password):
    page.goto(url + "/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _wait_synced(page, timeout=30_000):
    """Until the outbox and the photo queue are empty and a sync has finished."""
    try:
        page.wait_for_function(
            "() => { const s = window.lineside?.syncState; return s && !s.running && s.pending === 0"
            " && s.photosPending === 0 && s.lastSync && !s.error; }", timeout=timeout)
    except Exception:
        state = page.evaluate("() => JSON.stringify(window.lineside?.syncState)")
        pytest.fail(f"sync did not finish: {state}")


def _open_inspection(page, inspection_id):
    page.locator(f"[data-testid='inspection-{inspection_id}']").click()
    page.wait_for_selector("[data-testid=aql-plan]")


def _saved(page):
    page.wait_for_function("() => document.querySelector('[data-testid=saved]')?.dataset.level === 'ok'")


def test_inspection_done_offline_reaches_the_server_once(live_server, phone, artifacts_dir):
    from server.demo import demo_id
    from server.extensions import db
    from server.inspect.models import ChecklistResponse, Defect, Inspection, Measurement, Photo

    url = live_server.url
    inspection_id = str(demo_id("inspection:final:B"))
    shots = artifacts_dir / "pwa"
    shots.mkdir(exist_ok=True)
    page = phone.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # Online: sign in and download. The service worker installs and takes control.
    page.goto(url + "/")
    page.wait_for_selector("html[data-ready]")
    page.screenshot(path=shots / "01-sign-in.png")
    _sign_in(page, url, *INSPECTOR)
    page.wait_for_selector(f"[data-testid='inspection-{inspection_id}']")
    _wait_synced(page)
    page.wait_for_function("async () => !!(await navigator.serviceWorker.ready).active"
                           " && !!navigator.serviceWorker.controller")
    page.wait_for_selector(f"[data-testid='inspection-{inspection_id}'] >> text=Ready offline")
    page.screenshot(path=shots / "02-inspection-list.png")

    # Offline: the app still opens, from the service worker, with its data.
    phone.set_offline(True)
    page.reload()
    page.wait_for_selector("html[data-ready]")
    _open_inspection(page, inspection_id)
    assert page.get_by_test_id("sample-major").inner_text() == "125"  # lot 2500, level II: code K

    # Checklist, measurements, a defect and a photo, all offline.
    for item in ("surface", "colour_match", "stacks_flat", "carton_marks", "inner_bag", "barcode", "origin"):
        page.locator(f"fieldset[data-item='{item}'] label.choice-yes").click()
        _saved(page)
    page.locator("fieldset[data-item='finish'] label", has_text="satin").click()
    _saved(page)
    page.get_by_label("Damaged cartons").fill("1")
    page.get_by_label("Damaged cartons").press("Tab")
    page.get_by_test_id("measure-length-1").fill("120.4")
    page.get_by_test_id("measure-length-1").press("Tab")
    _saved(page)
    page.get_by_test_id("measure-width-1").fill("8.3")
    page.locator("select[data-unit-for='m-width-1']").select_option("cm")  # 83 mm: out of tolerance
    _saved(page)
    row = page.locator(".measure-row", has=page.get_by_test_id("measure-width-1"))
    assert "out" in row.get_attribute("class")
    page.get_by_label("Defect", exact=True).fill("scratch")
    page.get_by_label("Count").fill("2")
    page.get_by_label("Note").fill("Scratch near the rim <b>not bold</b>")
    page.get_by_role("button", name="Log defect").click()
    page.wait_for_selector("[data-testid=defect-list] >> text=Scratch near the rim <b>not bold</b>")
    jpeg = _jpeg()
    page.locator("photo-capture[data-item='unit_photo'] input[type=file]").set_input_files(
        files=[{"name": "unit.jpg", "mimeType": "image/jpeg", "buffer": jpeg}])
    page.wait_for_selector("[data-testid=photo-list] >> text=Waiting to upload")
    page.wait_for_function("() => window.lineside.syncState.photosPending === 1")
    assert page.locator("photo-capture[data-item='unit_photo'] .hint").inner_text() == "Photo looks usable."
    page.screenshot(path=shots / "03-inspection-offline.png", full_page=True)
    pending = page.evaluate("() => window.lineside.syncState.pending")
    assert pending >= 10

    # Signing out would lose work: refused, saying how much.
    page.goto(url + "/#/settings")
    page.wait_for_selector("[data-action=signout]")
    page.locator("[data-action=signout]").click()
    expect(page.get_by_test_id("settings-message")).to_contain_text(f"{pending} changes and 1 photo are not synced")
    page.screenshot(path=shots / "04-settings.png", full_page=True)

    # Close and reopen, still offline: nothing is lost.
    page.close()
    page = phone.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + f"/#/inspection/{inspection_id}")
    page.wait_for_selector("[data-testid=aql-plan]")
    assert page.locator("fieldset[data-item='surface'] input[value=yes]").is_checked()
    assert page.get_by_test_id("measure-length-1").input_value() == "120.4"
    assert page.locator("[data-testid=defect-list] li").count() == 1
    assert page.locator("[data-testid=photo-list] li").count() == 1
    assert page.evaluate("() => window.lineside.syncState.pending") == pending

    # Back online: everything reaches the server exactly once, the photo's hash verified.
    phone.set_offline(False)
    page.get_by_role("button", name="Sync now").click()
    _wait_synced(page, timeout=60_000)
    page.get_by_role("button", name="Sync now").click()  # a second sync sends nothing twice
    _wait_synced(page)
    page.wait_for_selector("[data-testid=photo-list] >> text=Uploaded")
    with live_server.app.app_context():
        iid = uuid.UUID(inspection_id)
        responses = db.session.execute(select(ChecklistResponse.item_key, func.count()).where(
            ChecklistResponse.inspection_id == iid).group_by(ChecklistResponse.item_key)).all()
        assert dict(responses) == {k: 1 for k in ("surface", "colour_match", "stacks_flat", "carton_marks",
                                                   "inner_bag", "barcode", "origin", "finish", "carton_damage")}
        measurements = db.session.scalars(select(Measurement).where(Measurement.inspection_id == iid)).all()
        assert sorted((m.unit_index, round(m.value_si, 3), m.in_tolerance) for m in measurements) == [
            (1, 83.0, False), (1, 120.4, True)]
        defects = db.session.scalars(select(Defect).where(Defect.inspection_id == iid)).all()
        assert [(d.code, d.defect_class, d.count) for d in defects] == [("scratch", "minor", 2)] or \
            [(d.code, d.count) for d in defects] == [("scratch", 2)]
        photos = db.session.scalars(select(Photo).where(Photo.inspection_id == iid)).all()
        assert len(photos) == 1
        photo = photos[0]
        assert photo.sha256 == hashlib.sha256(jpeg).hexdigest() and photo.size_bytes == len(jpeg)
        assert photo.upload_state in {"stored", "analysed"}
        inspection = db.session.get(Inspection, iid)
        assert inspection.status == "in_progress"
        assert inspection.verdict == "pending"  # the height is not measured yet: same as the phone said
        assert "Not finished" in page.get_by_test_id("verdict").inner_text()
        photo_id = str(photo.id)
        db.session.remove()
    # The full-size bytes left the phone only after the server confirmed them.
    assert page.evaluate("async () => (await window.lineside.getAll('photos')).map((p) => [p.state, p.blob])") == [
        ["done", None]]

    # A reviewer asks for a retake; the decision reaches the phone as a task.
    client = live_server.app.test_client()
    token = client.post("/api/v1/auth/login", json=dict(zip(("email", "password"), REVIEWER, strict=True))).get_json()["token"]
    r = client.post("/api/v1/sync/push", headers={"Authorization": f"Bearer {token}"}, json={
        "client_id": str(uuid.uuid4()), "protocol": 1, "mutations": [{
            "mutation_id": str(uuid.uuid4()), "entity": "decision", "id": str(uuid.uuid4()), "op": "upsert",
            "base_rev": None, "fields": {"inspection_id": inspection_id, "photo_id": photo_id, "decision": "retake",
                                         "comment": "The card is cut off"}}]})
    assert r.status_code == 200 and r.get_json()["results"][0]["status"] == "applied", r.get_json()
    page.get_by_role("button", name="Sync now").click()
    _wait_synced(page)
    task = page.get_by_test_id("retake-task")
    task.wait_for()
    assert "The card is cut off" in task.inner_text()
    page.screenshot(path=shots / "05-retake-task.png", full_page=True)

    # The inspector retakes the photo from the task; it reaches the server like the first.
    task.locator("input[type=file]").set_input_files(
        files=[{"name": "retake.jpg", "mimeType": "image/jpeg", "buffer": _jpeg(seed=8)}])
    page.wait_for_function("() => window.lineside.syncState.photosPending === 1")
    page.get_by_role("button", name="Sync now").click()
    _wait_synced(page)
    with live_server.app.app_context():
        photos = db.session.scalars(select(Photo).where(Photo.inspection_id == uuid.UUID(inspection_id))).all()
        assert sorted((p.item_key, p.upload_state in {"stored", "analysed"}) for p in photos) == [
            ("unit_photo", True), ("unit_photo", True)]
        db.session.remove()
    assert errors == []


def test_marking_a_retake_done_reaches_the_server(live_server, phone):
    from server.demo import demo_id
    from server.extensions import db
    from server.inspect.models import ReviewDecision

    inspection_id, photo_id = demo_id("inspection:inline:A"), demo_id("photo:A:unit")
    client = live_server.app.test_client()
    token = client.post("/api/v1/auth/login", json=dict(zip(("email", "password"), REVIEWER, strict=True))).get_json()["token"]
    r = client.post("/api/v1/review/photos/%s/decisions" % photo_id, headers={"Authorization": f"Bearer {token}"},
                    json={"decision": "retake", "comment": "Too dark"})
    assert r.status_code in (200, 201), r.get_json()
    page = phone.new_page()
    _sign_in(page, live_server.url, *INSPECTOR)
    _wait_synced(page)
    page.goto(live_server.url + f"/#/inspection/{inspection_id}")
    task = page.get_by_test_id("retake-task")
    task.get_by_role("button", name="Mark done").click()
    expect(task).to_have_count(0)
    page.get_by_role("button", name="Sync now").click()
    _wait_synced(page)

    def resolved_on_server():
        with live_server.app.app_context():
            decisions = db.session.scalars(select(ReviewDecision).where(ReviewDecision.photo_id == photo_id)).all()
            flags = [d.resolved for d in decisions if d.decision == "retake"]
            db.session.remove()
        return flags

    # The sync started by the tap may still be in flight when the counters read zero: poll, bounded.
    deadline = time.monotonic() + 15
    while resolved_on_server() != [True] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert resolved_on_server() == [True]
