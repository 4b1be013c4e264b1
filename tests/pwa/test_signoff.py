"""Signing off on the phone: a summary of what is missing, a drawn signature, then read-only."""
from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect


def _open(page, base, inspection):
    page.goto(base + "/")
    page.get_by_label("Email").fill("inspector@demo.lineside.test")
    page.get_by_label("Password").fill("demo-inspector")
    page.locator("#signin button[type=submit]").click()
    page.wait_for_selector(f"[data-testid='inspection-{inspection}']")
    page.wait_for_function("() => { const s = window.lineside.syncState; return !s.running && s.lastSync && !s.error"
                           " && s.pending === 0; }", timeout=20_000)
    page.goto(base + f"/#/inspection/{inspection}")
    page.wait_for_selector("main h1")


def _draw(page, canvas):
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x0, y0 = box["x"] + 20, box["y"] + box["height"] / 2
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, 12):
        page.mouse.move(x0 + i * 15, y0 + (20 if i % 2 else -20))
    page.mouse.up()


def test_sign_off_shows_what_is_missing_takes_a_signature_and_locks_the_inspection(live_server, phone):
    from server.demo import demo_id
    from server.extensions import db
    from server.inspect.models import Inspection

    inspection = str(demo_id("inspection:final:B"))
    page = phone.new_page()
    _open(page, live_server.url, inspection)
    page.locator("fieldset.item.yn").first.locator("label.choice-yes").click()
    expect(page.get_by_test_id("saved")).to_contain_text("Saved on this phone")

    page.get_by_role("button", name="Review and sign off").click()
    panel = page.get_by_test_id("signoff")
    expect(panel.get_by_test_id("signoff-missing")).to_contain_text("required items are not answered")
    sign = panel.get_by_role("button", name="Sign off", exact=True)
    expect(sign).to_be_disabled()
    _draw(page, panel.get_by_test_id("signature-pad"))
    expect(sign).to_be_disabled()  # items are missing: the inspector must say so explicitly
    panel.get_by_label("required items unanswered").check()
    expect(panel.get_by_label("Your name")).to_have_value("Ivan Inspector")
    expect(sign).to_be_enabled()
    sign.click()

    expect(page.get_by_test_id("signed-off")).to_contain_text("Signed off: this inspection is read-only.")
    expect(page.get_by_test_id("signed-off").get_by_test_id("signature")).to_contain_text("Signed by Ivan Inspector")
    expect(page.get_by_test_id("insp-status")).to_have_text("Signed off")
    expect(page.get_by_test_id("lot-size")).to_be_disabled()
    expect(page.locator("input[type=radio]").first).to_be_disabled()
    expect(page.locator("photo-capture").first).to_be_hidden()
    expect(page.get_by_role("button", name="Review and sign off")).to_have_count(0)

    page.evaluate("() => window.lineside.syncNow({ force: true })")
    page.wait_for_function("() => { const s = window.lineside.syncState; return !s.running && !s.error && s.pending === 0; }",
                           timeout=20_000)
    with live_server.app.app_context():
        row = db.session.get(Inspection, uuid.UUID(inspection))
        status, signature = row.status, row.signature
        db.session.remove()
    assert status == "signed_off"
    assert signature["name"] == "Ivan Inspector" and len(signature["strokes"]) == 1
    assert len(signature["strokes"][0]) >= 10

    client = live_server.app.test_client()
    token = client.post("/api/v1/auth/login", json={"email": "reviewer@demo.lineside.test",
                                                   "password": "demo-reviewer"}).get_json()["token"]
    report = client.get(f"/api/v1/inspections/{inspection}/report", headers={"Authorization": f"Bearer {token}"})
    assert 'data-testid="signature"' in report.get_data(as_text=True)

    page.reload()  # still read-only after a restart, the signature from the phone's store
    expect(page.get_by_test_id("signed-off").get_by_test_id("signature")).to_be_visible()
    expect(page.get_by_test_id("lot-size")).to_be_disabled()
