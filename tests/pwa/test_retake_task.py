"""A retake request reaches the inspector with its reason: why the photo was flagged, and the comment."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def test_the_retake_task_shows_the_reason(live_server, phone):
    from server.demo import demo_id
    from server.extensions import db
    from server.inspect.models import Photo

    inspection_id, photo_id = demo_id("inspection:inline:A"), demo_id("photo:A:unit")
    with live_server.app.app_context():
        photo = db.session.get(Photo, photo_id)
        photo.flagged, photo.flag_reasons = True, ["out_of_tolerance", "low_confidence"]
        db.session.commit()
        db.session.remove()
    client = live_server.app.test_client()
    token = client.post("/api/v1/auth/login", json={"email": "reviewer@demo.lineside.test",
                                                   "password": "demo-reviewer"}).get_json()["token"]
    r = client.post(f"/api/v1/review/photos/{photo_id}/decisions", headers={"Authorization": f"Bearer {token}"},
                    json={"decision": "retake", "comment": "Too dark: turn on the bench light"})
    assert r.status_code in (200, 201), r.get_json()

    page = phone.new_page()
    page.goto(live_server.url + "/")
    page.get_by_label("Email").fill("inspector@demo.lineside.test")
    page.get_by_label("Password").fill("demo-inspector")
    page.locator("#signin button[type=submit]").click()
    page.wait_for_selector(f"[data-testid='inspection-{inspection_id}']")
    page.wait_for_function("() => { const s = window.lineside.syncState; return !s.running && s.lastSync && !s.error; }",
                           timeout=20_000)
    page.goto(live_server.url + f"/#/inspection/{inspection_id}")
    task = page.get_by_test_id("retake-task")
    expect(task.get_by_test_id("retake-comment")).to_have_text("Reviewer: Too dark: turn on the bench light")
    expect(task.get_by_test_id("retake-reason")).to_have_text(
        "Why the photo was flagged: Out of tolerance, Analysis unsure")
