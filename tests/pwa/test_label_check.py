"""Carton label check: a stubbed BarcodeDetector reads the label; without one the code is typed in."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

STUB = """window.BarcodeDetector = class { async detect() { return [{ rawValue: window.__label ?? '' }]; } };"""


def _open(page, base, inspection):
    page.goto(base + "/")
    page.get_by_label("Email").fill("inspector@demo.lineside.test")
    page.get_by_label("Password").fill("demo-inspector")
    page.locator("#signin button[type=submit]").click()
    page.wait_for_selector(f"[data-testid='inspection-{inspection}']")
    page.goto(base + f"/#/inspection/{inspection}")
    page.wait_for_selector("#label h2")


def _label_photo():
    import cv2
    import numpy as np

    return cv2.imencode(".png", np.full((200, 300, 3), 255, np.uint8))[1].tobytes()


def test_a_scanned_label_is_checked_against_the_po_and_recorded(live_server, phone):
    from server.demo import demo_id

    inspection = str(demo_id("inspection:final:B"))
    page = phone.new_page()
    page.add_init_script(STUB)
    _open(page, live_server.url, inspection)
    label = page.locator("#label")
    expect(label).to_contain_text("TRAY-120-SAGE")
    page.evaluate("() => { window.__label = 'TRAY-120-SAGE'; }")
    label.locator("input[type=file]").set_input_files(files=[{"name": "l.png", "mimeType": "image/png", "buffer": _label_photo()}])
    expect(label.get_by_test_id("label-result")).to_have_text("TRAY-120-SAGE matches PO line 1 (TRAY-120-SAGE).")
    expect(page.locator("fieldset[data-item='carton_marks'] input[value=yes]")).to_be_checked()

    page.evaluate("() => { window.__label = 'TRAY-999-RED'; }")
    label.locator("input[type=file]").set_input_files(files=[{"name": "l.png", "mimeType": "image/png", "buffer": _label_photo()}])
    expect(label.get_by_test_id("label-result")).to_have_text("TRAY-999-RED is not on this PO.")
    expect(page.locator("fieldset[data-item='carton_marks'] input[value=no]")).to_be_checked()
    note = page.evaluate("async (i) => (await window.lineside.getAll('records')).find((r) => r.entity === 'response'"
                         " && r.inspection_id === i && r.fields.item_key === 'carton_marks').fields.note", inspection)
    assert note == "TRAY-999-RED is not on this PO."


def test_without_a_detector_the_code_is_typed(live_server, phone):
    from server.demo import demo_id

    inspection = str(demo_id("inspection:final:B"))
    page = phone.new_page()
    page.add_init_script("delete window.BarcodeDetector;")
    _open(page, live_server.url, inspection)
    label = page.locator("#label")
    assert label.locator("input[type=file]").count() == 0
    label.get_by_label("Code on the label").fill("po-2026-0042")
    label.get_by_role("button", name="Check").click()
    expect(label.get_by_test_id("label-result")).to_have_text("po-2026-0042 matches the PO number.")
