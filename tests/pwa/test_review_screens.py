"""The brand reviewer's screens in real Chromium: queue, side-by-side photo, decision."""
from __future__ import annotations

import pytest
from sqlalchemy import select

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def test_reviewer_requests_a_retake_from_the_queue(live_server, phone, artifacts_dir):
    from server.demo import demo_id
    from server.extensions import db
    from server.inspect.models import Photo, ReviewDecision

    photo_id = demo_id("photo:A:unit")
    with live_server.app.app_context():
        photo = db.session.get(Photo, photo_id)
        photo.flagged, photo.flag_reasons = True, ["colour_out_of_tolerance"]
        db.session.commit()
        db.session.remove()

    shots = artifacts_dir / "pwa"
    shots.mkdir(exist_ok=True)
    page = phone.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_server.url + "/")
    page.get_by_label("Email").fill("reviewer@demo.lineside.test")
    page.get_by_label("Password").fill("demo-reviewer")
    page.get_by_role("button", name="Sign in").click()
    card = page.locator(f"a[href='#/review/{photo_id}']")
    card.wait_for()
    expect(card).to_contain_text("PO-2026-0042")
    page.screenshot(path=shots / "06-review-queue.png", full_page=True)

    card.click()
    page.get_by_role("button", name="Request retake").click()
    expect(page.get_by_test_id("decision-status")).to_contain_text("a comment is required")
    page.get_by_label("Comment").fill("Put the unit fully on the card <please>")
    page.get_by_role("button", name="Request retake").click()
    expect(page.get_by_test_id("decision-status")).to_contain_text("Decision saved")
    page.screenshot(path=shots / "07-review-photo.png", full_page=True)

    with live_server.app.app_context():
        decisions = db.session.scalars(select(ReviewDecision).where(ReviewDecision.photo_id == photo_id)).all()
        assert [(d.decision, d.comment, d.resolved) for d in decisions] == [
            ("retake", "Put the unit fully on the card <please>", False)]
        db.session.remove()
    assert errors == []
